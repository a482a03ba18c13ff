"""Mutation fuzzing of the validator: every damaged spec must end in located diagnostics, never an exception.

Takes the documents of examples/*.yaml, applies 1-4 random mutations (retype or delete a value, misspell or add a
key, out-of-range values, raw byte damage), and runs the whole pipeline up to target checks (no CDK).

Usage: python fuzz/mutate_specs.py [--cases 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import copy
import pathlib
import random
import sys
import tempfile
import traceback

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compiler.driver import compile_files  # noqa: E402
from compiler.errors import CompileError  # noqa: E402

VALUES = [None, 0, -1, 1, 2**40, 1.5, -0.0, True, "", "x", "10m", "1h30m", "0.0.0.0/0", [], {}, [1], {"a": 1},
          "nvidia-l4", "none", "https", 443, 65536, "200-299", "∞", "a" * 300, "\n", "${x}", "*"]
KEYS = ["zzz", "spot", "count", "min", "port", "redirect_to", "certificate"]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, path + (i,))


def _value(rng: random.Random):
    return copy.deepcopy(rng.choice(VALUES))  # fresh: a shared list or dict could make the document cyclic


def mutate(doc: dict, rng: random.Random) -> dict:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 4)):
        path = rng.choice([p for p in _paths(doc) if p])
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        roll = rng.random()
        if roll < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
        elif roll < 0.3 and isinstance(parent, dict):
            parent[f"{path[-1]}{rng.choice(['s', '_', 'x'])}"] = parent.pop(path[-1])
        elif roll < 0.4 and isinstance(parent, dict):
            parent[rng.choice(KEYS)] = _value(rng)
        else:
            parent[path[-1]] = _value(rng)
    return doc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    docs = [d for f in sorted((ROOT / "examples").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    crashes = 0
    with tempfile.TemporaryDirectory() as tmp:
        spec = pathlib.Path(tmp) / "spec.yaml"
        for case in range(args.cases):
            text = yaml.safe_dump(mutate(rng.choice(docs), rng), sort_keys=False, allow_unicode=True).encode()
            if rng.random() < 0.1:  # raw byte damage: invalid UTF-8, NULs, broken syntax
                data = bytearray(text)
                for _ in range(3):
                    data[rng.randrange(len(data))] = rng.randrange(256)
                text = bytes(data)
            spec.write_bytes(text)
            try:
                compile_files([str(spec)])
            except CompileError as exc:
                unlocated = [d for d in exc.diagnostics if d.loc is None]
                if unlocated:
                    crashes += 1
                    print(f"case {case}: diagnostic without a location: {unlocated[0].message}")
            except Exception:  # the bug this script hunts
                crashes += 1
                print(f"case {case}: {traceback.format_exc(limit=4)}\n{text[:500]!r}")
    print(f"{args.cases} cases, seed {args.seed}: {crashes} failures")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())

"""Hypothesis-driven fuzzing of the command line: the properties of tests/test_properties.py, at scale.

valid:   generated specs inside every target's limits must validate with warnings only (exit 0);
damaged: the same specs mutated (keys deleted, misspelt or added, values retyped or out of range, bytes flipped,
         YAML punctuation inserted, text truncated) must exit 2 with only `FILE:LINE:COL: error|warning: ...`
         lines on stderr, or 0 when the damage left them valid; exit 3 or a traceback is a bug;
synth:   a few valid specs through `infc synth` for all six targets, output checked to be well-formed JSON.

Failures are collected, not raised, so one run reports them all.

Usage: python fuzz/fuzz_cli.py [--cases 10000] [--valid 2000] [--synth 0] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import pathlib
import sys
import tempfile
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from compiler.cli import main as cli_main  # noqa: E402
from fuzz.specgen import TARGETS, damaged, dump, specs  # noqa: E402
from tests.test_properties import _has_null, check_cli_result  # noqa: E402


def cli(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = cli_main(list(args))
    return code, err.getvalue()


def run(name: str, strategy, cases: int, seed_value: int, body) -> list[str]:
    failures: list[str] = []

    @seed(seed_value)
    @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def case(value):
        try:
            body(value)
        except Exception:  # collected: the run goes on and reports every failure
            failures.append(f"{traceback.format_exc(limit=3)}input:\n{value if isinstance(value, bytes) else dump(value)!r}")

    start = time.perf_counter()
    case()
    print(f"{name}: {cases} cases in {time.perf_counter() - start:.0f}s, {len(failures)} failures", flush=True)
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="damaged specs (default 10000)")
    parser.add_argument("--valid", type=int, default=2_000, help="valid specs through validate (default 2000)")
    parser.add_argument("--synth", type=int, default=0, help="valid specs through synth of all six targets")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    codes: collections.Counter = collections.Counter()
    first_errors: collections.Counter = collections.Counter()

    with tempfile.TemporaryDirectory(prefix="infc-fuzz-") as tmp:
        path = pathlib.Path(tmp) / "spec.yaml"

        def valid(doc):
            path.write_bytes(dump(doc))
            code, err = cli("validate", str(path))
            assert code == 0 and ": error: " not in err, err

        def damaged_case(data):
            path.write_bytes(data)
            code, err = cli("validate", str(path))
            codes[code] += 1
            check_cli_result(str(path), code, err)
            for line in err.splitlines():
                if ": error: " in line:
                    first_errors[line.split(": error: ", 1)[1][:50]] += 1

        def synth(doc):
            path.write_bytes(dump(doc))
            out = pathlib.Path(tmp) / "out"
            code, err = cli("synth", str(path), "--out", str(out))
            assert code == 0, err
            for target in TARGETS:
                stack = json.loads((out / "stacks" / f"{doc['metadata']['name']}-{target}" / "cdk.tf.json").read_text())
                assert not _has_null(stack) and stack["terraform"] and stack.get("resource"), target

        failures = run("valid", specs(), args.valid, args.seed, valid) if args.valid else []
        failures += run("damaged", damaged(), args.cases, args.seed, damaged_case) if args.cases else []
        failures += run("synth", specs(targets=TARGETS), args.synth, args.seed, synth) if args.synth else []

    print(f"damaged exit codes: {dict(sorted(codes.items()))}")
    print("most frequent errors:", *(f"  {n:5} {m}" for m, n in first_errors.most_common(12)), sep="\n")
    for failure in failures[:20]:
        print("-" * 80, failure, sep="\n")
    print(f"seed {args.seed}: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

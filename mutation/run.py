"""Mutation check: apply each mutant of mutation/mutants.toml, one at a time, to a copy of the repository, run its
test files without the snapshot tests, and report which test caught it, or that it survived.

    .venv/bin/python mutation/run.py [--only ID ...] [--list]

Exit 0 when every mutant is caught (or survives with its stated reason), 1 when one survives unexplained or an
explained one is caught after all, 2 when a mutant's old text is no longer in its file, exactly once: the code has
moved and mutants.toml must follow it. The working tree is never modified.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutation" / "mutants.toml"


def load(path: pathlib.Path = MUTANTS) -> list[dict]:
    mutants = tomllib.loads(path.read_text(encoding="utf-8"))["mutant"]
    ids = [m["id"] for m in mutants]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        sys.exit(f"mutation: duplicate mutant ids {duplicated} in {path}")
    return mutants


def problems(mutants: list[dict], root: pathlib.Path = ROOT) -> list[str]:
    """Why mutants cannot be applied: a missing file or test, or old text found other than exactly once."""
    out = []
    for m in mutants:
        file = root / m["file"]
        if not file.is_file():
            out.append(f"{m['id']}: {m['file']} does not exist")
            continue
        count = file.read_text(encoding="utf-8").count(m["old"])
        if count != 1:
            out.append(f"{m['id']}: the old text occurs {count} times in {m['file']} (must be once):\n    {m['old']!r}")
        if m["old"] == m["new"]:
            out.append(f"{m['id']}: old and new text are the same")
        out += [f"{m['id']}: no test file {t}" for t in m["tests"] if not (root / t).is_file()]
    return out


def copy_repository(dest: pathlib.Path) -> None:
    """Tracked and untracked (not ignored) files, as the working tree has them."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def run_tests(tree: pathlib.Path, tests: list[str]) -> tuple[str | None, float, str]:
    """(first failing test id or None, seconds, output tail). Snapshot tests are deselected: a snapshot only pins
    what was generated, so here it would catch every mutant and hide what the other tests miss."""
    env = {k: v for k, v in os.environ.items() if k != "INFC_REQUIRE_TOOLS"}  # the copy has no .venv-checkov
    start = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-rfE", "-p", "no:cacheprovider",
                          "-k", "not snapshot", *tests], cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - start
    failed = re.findall(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", run.stdout, re.M)
    if run.returncode not in (0, 1) and not failed:
        raise SystemExit(f"mutation: pytest could not run {tests} (exit {run.returncode}):\n{run.stdout[-3000:]}"
                         f"{run.stderr[-3000:]}")
    return (failed[0] if failed else None), seconds, run.stdout[-2000:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="ID", help="run these mutants only")
    parser.add_argument("--list", action="store_true", help="check and list the mutants, run nothing")
    args = parser.parse_args(argv)
    mutants = load()
    if args.only:
        unknown = set(args.only) - {m["id"] for m in mutants}
        if unknown:
            sys.exit(f"mutation: no mutants {sorted(unknown)}")
        mutants = [m for m in mutants if m["id"] in args.only]
    found = problems(mutants)
    if found:
        print("mutation: STOP, these mutants no longer apply; update mutation/mutants.toml:", file=sys.stderr)
        for problem in found:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if args.list:
        for m in mutants:
            print(f"{m['id']:40} {m['file']}")
        return 0
    with tempfile.TemporaryDirectory(prefix="infc-mutation-") as tmp:
        tree = pathlib.Path(tmp)
        copy_repository(tree)
        baseline, seconds, tail = run_tests(tree, sorted({t for m in mutants for t in m["tests"]}))
        if baseline:
            print(f"mutation: the tests fail without any mutant ({baseline}); fix that first\n{tail}", file=sys.stderr)
            return 1
        print(f"baseline: every test file passes unmutated ({seconds:.0f}s)\n")
        print("| mutant | file | caught by | seconds |\n|---|---|---|---|")
        bad = []
        for m in mutants:
            file = tree / m["file"]
            original = file.read_text(encoding="utf-8")
            file.write_text(original.replace(m["old"], m["new"]), encoding="utf-8")
            try:
                caught, seconds, _ = run_tests(tree, m["tests"])
            finally:
                file.write_text(original, encoding="utf-8")
            expected = m.get("survives")
            verdict = caught or f"SURVIVED{f' (expected: {expected})' if expected else ''}"
            print(f"| {m['id']} | {m['file']} | {verdict} | {seconds:.0f} |", flush=True)
            if bool(caught) == bool(expected):
                bad.append(m["id"])
        if bad:
            print(f"\nmutation: unexpected results for {bad}: a survivor needs a test (or a `survives` reason), "
                  "a caught mutant with a reason needs the reason removed", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

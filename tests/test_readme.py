"""README.md and docs/ stay true: CI runs the two README commands, the spec reference matches the models, links
resolve, the README stays short, its spec is valid and its offline quickstart installs the provider from a mirror."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess

from compiler import reference
from compiler.cli import main
from compiler.driver import compile_files
from tests.conftest import ROOT, provider_mirror, terraform

README = (ROOT / "README.md").read_text(encoding="utf-8")


REQUIRE_TOOLS = "export INFC_REQUIRE_TOOLS=1"


def test_ci_runs_exactly_the_readme_commands():
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in script if line and not line.startswith(("#", "set ", "cd ", REQUIRE_TOOLS))]
    block = README.split("## Set up and test", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert commands == block


def test_ci_fails_rather_than_skips_without_its_tools():
    """CI turns a missing terraform, provider mirror, checkov or moto into failures (tests/conftest.py require),
    before it runs the tests; the README says so."""
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    assert REQUIRE_TOOLS in script
    assert script.index(REQUIRE_TOOLS) < script.index(".venv/bin/python -m pytest -n auto")
    assert "INFC_REQUIRE_TOOLS=1" in README.split("## Set up and test", 1)[1].split("\n## ", 1)[0]


def test_spec_reference_is_generated_from_the_models():
    spec = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    assert reference.BEGIN in spec and reference.update(spec) == spec, "stale: run `python -m compiler.reference`"


def test_every_relative_link_in_the_docs_resolves():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)}: link to {target} goes nowhere"


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _block(text: str, language: str, index: int = 0) -> str:
    return text.split(f"```{language}\n")[index + 1].split("```", 1)[0]


def test_the_readme_stays_short():
    assert len(README.encode("utf-8")) < 12 * 1024, "README.md over 12 KB: move detail to docs/"


def test_the_short_spec_is_valid_and_warns_about_nothing(tmp_path):
    path = tmp_path / "chat.yaml"
    path.write_text(_block(_section("A short spec"), "yaml"), encoding="utf-8")
    compiled, warnings = compile_files([str(path)])
    assert [c.service.name for c in compiled] == ["chat"] and warnings == []
    assert [t.name for t in compiled[0].service.targets] == ["aws", "gcp"]


def _terraform_init(stack: pathlib.Path, config: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1",
           "HOME": str(stack.parent)}  # no ~/.terraformrc or implied mirror of this machine takes part
    return subprocess.run([terraform(), "init", "-input=false", "-no-color", *args], cwd=stack, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_offline_quickstart_installs_the_provider_from_a_mirror(tmp_path):
    """The README's two ways to init without internet, run as written on the quickstart's stack, with the mirror
    the tests use in place of /opt/tf-plugins; neither may reach the registry (no network here either way)."""
    mirror = provider_mirror()
    quickstart = _section("Quickstart")
    [command] = [line for line in _block(quickstart, "sh", 1).splitlines() if line.strip()]
    assert command == "terraform init -plugin-dir=/opt/tf-plugins"
    assert main(["synth", "examples/llama-70b-a100.yaml", "--target", "aws", "--out", str(tmp_path / "out")]) == 0
    stack = tmp_path / "out" / "stacks" / "llama70b-aws"

    plugin_dir = tmp_path / "plugin-dir"
    shutil.copytree(stack, plugin_dir)
    flag = command.split()[-1].replace("/opt/tf-plugins", str(mirror))
    run = _terraform_init(plugin_dir, tmp_path / "missing.tfrc", flag)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "hashicorp/aws" in run.stdout and (plugin_dir / ".terraform.lock.hcl").is_file()

    configured = tmp_path / "configured"
    shutil.copytree(stack, configured)
    config = tmp_path / "mirror.tfrc"
    config.write_text(_block(quickstart, "hcl").replace('"/opt/tf-plugins"', json.dumps(str(mirror))))
    run = _terraform_init(configured, config)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "hashicorp/aws" in run.stdout and (configured / ".terraform.lock.hcl").is_file()

"""README.md and docs/ stay true: CI runs the two README commands, the spec reference matches the models, links
resolve."""

from __future__ import annotations

import re

from compiler import reference
from tests.conftest import ROOT

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
    assert script.index(REQUIRE_TOOLS) < script.index(".venv/bin/python -m pytest")
    assert "INFC_REQUIRE_TOOLS=1" in README.split("## Set up and test", 1)[1].split("\n## ", 1)[0]


def test_spec_reference_is_generated_from_the_models():
    spec = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    assert reference.BEGIN in spec and reference.update(spec) == spec, "stale: run `python -m compiler.reference`"


def test_every_relative_link_in_the_docs_resolves():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)}: link to {target} goes nowhere"

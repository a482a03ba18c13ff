"""checkov on every example x target: each failing check is accepted, with its reason, in tests/checkov_findings.py;
no accepted row is stale; the generated baseline and docs/security.md are current and the baseline works."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest

import targets as backends
from tests import checkov_findings as findings
from tests.conftest import checkov


def scan(directory: pathlib.Path, *extra: str) -> list[dict]:
    """checkov's JSON reports for a directory. --framework terraform_json: the other frameworks read CDK for
    Terraform JSON as nothing and pass. Without checkov the calling test skips (fails under INFC_REQUIRE_TOOLS)."""
    run = subprocess.run(
        [checkov(), "-d", str(directory), "--framework", "terraform_json", "--skip-download", "--quiet", "--compact",
         "-o", "json", *extra],
        capture_output=True, text=True, timeout=600, env={**os.environ, "LOG_LEVEL": "ERROR"})
    assert run.returncode in (0, 1), run.stderr[-3000:]
    reports = json.loads(run.stdout)
    return reports if isinstance(reports, list) else [reports]


@pytest.fixture(scope="module")
def failures(synth_for) -> dict[str, dict[tuple[str, str], set[str]]]:
    """target -> {(check id, resource): stacks it fails on}, from one checkov run over the target's stacks."""
    out = {}
    for target in backends.available():
        stacks = synth_for(target) / "stacks"
        found: dict[tuple[str, str], set[str]] = {}
        for report in scan(stacks):
            if report.get("check_type") != "terraform_json":
                continue
            assert report["summary"]["parsing_errors"] == 0, report["results"]["parsing_errors"]
            assert report["summary"]["passed"] > 0, f"checkov checked nothing in {stacks}"
            for failed in report["results"]["failed_checks"]:
                stack = pathlib.PurePosixPath(failed["file_path"]).parent.name
                found.setdefault((failed["check_id"], failed["resource"]), set()).add(stack)
        out[target] = found
    return out


@pytest.mark.parametrize("target", backends.available())
def test_every_failing_check_is_accepted_with_a_reason(failures, target):
    accepted = {(f.check, f.resource) for f in findings.ACCEPTED if f.target == target}
    unexpected = {key: sorted(stacks) for key, stacks in failures[target].items() if key not in accepted}
    assert not unexpected, "fix these, or accept them in tests/checkov_findings.py with the reason"


@pytest.mark.parametrize("target", backends.available())
def test_no_accepted_finding_is_stale(failures, target):
    stale = [(f.check, f.resource) for f in findings.ACCEPTED
             if f.target == target and (f.check, f.resource) not in failures[target]]
    assert not stale, "these pass on every example now: remove them from tests/checkov_findings.py"


def test_accepted_findings_are_well_formed():
    keys = [(f.target, f.check, f.resource) for f in findings.ACCEPTED]
    assert len(keys) == len(set(keys))
    for f in findings.ACCEPTED:
        assert f.target in backends.available() and f.check.startswith(("CKV_", "CKV2_")) and f.reason.strip()


def test_generated_baseline_and_security_doc_are_current():
    stale = "stale: run `python -m tests.checkov_findings`"
    assert findings.BASELINE.read_text(encoding="utf-8") == findings.render_baseline(), stale
    doc = findings.SECURITY_DOC.read_text(encoding="utf-8")
    assert findings.update(doc) == doc, stale


def test_baseline_suppresses_exactly_the_accepted_findings(synth_for):
    stack = synth_for("aws") / "stacks" / "llama70b-aws"
    # With nothing left to report, checkov prints only a summary, without check_type.
    (report,) = [r for r in scan(stack, "--baseline", str(findings.BASELINE))
                 if r.get("check_type", "terraform_json") == "terraform_json"]
    summary = report.get("summary", report)
    assert summary["failed"] == 0, [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert summary["parsing_errors"] == 0

"""mutation/run.py refuses mutants it cannot apply exactly (the code moved), before it runs anything."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("mutation_run", ROOT / "mutation" / "run.py")
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)


def mutant(**fields) -> dict:
    return {"id": "m", "file": "code.py", "old": "x = 1", "new": "x = 2", "tests": ["test_code.py"], **fields}


def test_a_mutant_applies_when_its_old_text_occurs_once(tmp_path):
    (tmp_path / "code.py").write_text("x = 1\ny = 2\n")
    (tmp_path / "test_code.py").write_text("")
    assert run.problems([mutant()], tmp_path) == []


def test_moved_code_stops_the_run(tmp_path):
    (tmp_path / "code.py").write_text("x = 10\nx = 2\n")  # "x = 1" occurs once, inside "x = 10": text as written
    (tmp_path / "test_code.py").write_text("")
    assert run.problems([mutant()], tmp_path) == []
    (tmp_path / "code.py").write_text("x = 1\nx = 1\n")
    found = run.problems([mutant(), mutant(id="gone", old="z = 3"), mutant(id="nofile", file="other.py"),
                          mutant(id="notest", old="x = 1\nx", tests=["missing.py"]),
                          mutant(id="same", old="x = 1\nx", new="x = 1\nx")], tmp_path)
    assert [p.split(":")[0] for p in found] == ["m", "gone", "nofile", "notest", "same"]
    assert "occurs 2 times" in found[0] and "occurs 0 times" in found[1] and "does not exist" in found[2]
    assert "no test file missing.py" in found[3] and "the same" in found[4]


# The mutants of issue 17's table: each stays in the list, re-targeted when its code moves.
ISSUE_17 = {"aws-hc-interval+1", "aws-catalog-p4de.xlarge", "aws-replica-ingress-+1000-ports", "gcp-hc-on-model-port",
            "aws-hc-path-port-hard-coded", "k8s-readiness-on-model-port", "gcp-liveness-interval-limit-3000",
            "gcp-startup-no-shlex-quote"}


def test_the_mutant_list_is_well_formed():
    mutants = run.load()
    assert len(mutants) >= 23 and ISSUE_17 <= {m["id"] for m in mutants}
    assert all({"id", "file", "old", "new", "tests"} <= m.keys() and m["tests"] for m in mutants)
    assert all(m["file"].startswith(("targets/", "compiler/")) for m in mutants)


def test_every_mutant_still_applies(capsys):
    """`run.py --list` exits 2 when a mutant's file, old text or test file has moved: the list cannot go stale."""
    assert run.main(["--list"]) == 0, capsys.readouterr().err

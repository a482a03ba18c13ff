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


def test_the_mutant_list_is_well_formed():
    mutants = run.load()
    assert len(mutants) >= 23
    assert all({"id", "file", "old", "new", "tests"} <= m.keys() and m["tests"] for m in mutants)
    assert all(m["file"].startswith(("targets/", "compiler/")) for m in mutants)

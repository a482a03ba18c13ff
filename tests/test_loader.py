"""Loader: positions of keys and values, and every kind of hostile or broken YAML refused clearly."""

from __future__ import annotations

import time

import pytest

from compiler.errors import CompileError, Loc
from compiler.loader import MAX_FILE_BYTES, load_text


def errors(raw: bytes) -> list[str]:
    with pytest.raises(CompileError) as exc:
        load_text("f.yaml", raw)
    return [d.render() for d in exc.value.diagnostics]


def test_positions_of_keys_and_values():
    doc, = load_text("f.yaml", b"a:\n  b: [1, 2]\n  c: {d: x}\n")
    assert doc.data == {"a": {"b": [1, 2], "c": {"d": "x"}}}
    assert doc.locate(("a", "b", 1)) == Loc("f.yaml", 2, 10)
    assert doc.locate(("a", "c", "d"), key=True) == Loc("f.yaml", 3, 7)
    assert doc.locate(("a", "c", "d")) == Loc("f.yaml", 3, 10)
    assert doc.locate(("a", "missing", "deeper")) == Loc("f.yaml", 2, 3)  # nearest written part: mapping a


def test_several_documents_and_empty_ones_skipped():
    docs = load_text("f.yaml", b"a: 1\n---\n---\nb: 2\n---\n")
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}]
    assert docs[1].start == Loc("f.yaml", 4, 1)


@pytest.mark.parametrize("raw, message", [
    (b"", "f.yaml:1:1: error: empty spec: the file holds no YAML document"),
    (b"# only a comment\n", "f.yaml:1:1: error: empty spec: the file holds no YAML document"),
    (b"a: 1\na: 2\n", "f.yaml:2:1: error: duplicate key 'a' (first defined at line 1)"),
    (b"- 1\n- 2\n", "f.yaml:1:1: error: a spec document must be a mapping with apiVersion, kind, metadata, model, "
                    "hardware, targets"),
    (b"a: [1, 2\n", "f.yaml:2:1: error: invalid YAML: expected ',' or ']', but got '<stream end>' "
                    "(while parsing a flow sequence that starts at line 1, column 4)"),
    (b"on: 1\n", "f.yaml:1:1: error: mapping keys must be strings, got true (YAML reads on/off/yes/no as booleans: "
                 "quote the key)"),
    (b"a: 1\n\x00\x01", "f.yaml:2:1: error: file contains NUL bytes; is it a binary file?"),
    (b"a: 1\nb: caf\xe9\n", "f.yaml:2:7: error: file is not valid UTF-8 (byte 0xe9)"),
    (b"a: !!python/object:os.system x\n", "f.yaml:1:4: error: cannot read value: could not determine a constructor "
                                          "for the tag 'tag:yaml.org,2002:python/object:os.system'"),
])
def test_broken_input_is_one_clear_error(raw, message):
    assert errors(raw) == [message]


def test_utf8_bom_is_accepted():
    doc, = load_text("f.yaml", b"\xef\xbb\xbfa: 1\n")
    assert doc.data == {"a": 1}


def test_merge_keys_apply_and_explicit_keys_win():
    doc, = load_text("f.yaml", b"base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n")
    assert doc.data["use"] == {"y": 3, "x": 1}


def test_billion_laughs_fails_fast_with_bounded_work():
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    start = time.perf_counter()
    assert errors("\n".join(lines).encode()) == [
        "f.yaml:1:1: error: document expands to more than 20000 nodes through aliases; refused (a spec is far smaller)"]
    assert time.perf_counter() - start < 1.0


def test_deep_nesting_is_refused():
    message, = errors(b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n")
    assert "nesting deeper than" in message


def test_huge_file_is_refused_before_parsing():
    message, = errors(b"a: " + b"x" * (MAX_FILE_BYTES + 10))
    assert message.startswith("f.yaml:1:1: error: file is larger than")

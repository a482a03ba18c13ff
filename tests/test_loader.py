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
    (b"on: 1\n", "f.yaml:1:1: error: mapping keys must be strings: YAML reads on as the boolean true, not as the text "
                 "'on'; quote it: \"on\""),
    (b"1.10: 1\n", "f.yaml:1:1: error: mapping keys must be strings: YAML reads 1.10 as the number 1.1, not as the text "
                   "'1.10'; quote it: \"1.10\""),
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
    # CPU time of this process, not wall time: the suite runs on every core beside terraform and checkov, and a wall
    # clock measured the load (1.8 s once under CI); the expansion this guards against takes hours of CPU.
    start = time.process_time()
    assert errors("\n".join(lines).encode()) == [
        "f.yaml:1:1: error: document expands to more than 20000 nodes through aliases; refused (a spec is far smaller)"]
    assert time.process_time() - start < 2.0


def test_deep_nesting_is_refused():
    message, = errors(b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n")
    assert "nesting deeper than" in message


def test_huge_file_is_refused_before_parsing():
    message, = errors(b"a: " + b"x" * (MAX_FILE_BYTES + 10))
    assert message.startswith("f.yaml:1:1: error: file is larger than")


# Found by tests/test_robustness.py and fuzz/fuzz_cli.py: the number, the date and the timestamp tag crashed infc
# (exit 3), 10,001 documents took a minute and 600 MB, the merge bomb ran for hours, the control character was a
# two-line error at 1:1, the mapping key read "got null" and UTF-16 "is it a binary file?".
@pytest.mark.parametrize("raw, message", [
    (b"port: 1" + b"7" * 5000 + b"\n", "f.yaml:1:7: error: cannot read value: a number with too many digits"),
    (b"a: 2024-02-30\n", "f.yaml:1:4: error: cannot read value: day is out of range for month"),
    (b"x: &k {a: 1}\n? *k\n: 2\n", "f.yaml:1:4: error: mapping keys must be strings, got a mapping"),
    ("a: 1\n".encode("utf-16"), "f.yaml:1:1: error: file is UTF-16 (it starts with a UTF-16 byte order mark); "
                                "save it as UTF-8"),
    ("a: 1\n".encode("utf-32"), "f.yaml:1:1: error: file is UTF-32 (it starts with a UTF-32 byte order mark); "
                                "save it as UTF-8"),
    (b"a: " + b"[" * 100 + b"]" * 100 + b"\n", "f.yaml:1:68: error: nesting deeper than 64 levels"),
    (b"a: 1\nb: x\x02y\n", "f.yaml:2:5: error: invalid YAML: unacceptable character #x0002: special characters are "
                            "not allowed"),
    (b"a: !!timestamp yesterday\n", "f.yaml:1:4: error: cannot read value: 'yesterday' is not a valid timestamp"),
    (b"---\na: 1\n" * 10_001, "f.yaml:10001:1: error: file has more than 20000 YAML nodes and documents; refused "
                              "(a spec is far smaller)"),
])
def test_values_and_files_once_mishandled(raw, message):
    assert errors(raw) == [message]


def test_merge_key_bomb_fails_fast():
    """`<<` walks a referenced mapping again per reference: 10 references per level, 12 levels deep."""
    lines = ["a0: &a0 {k: 1, j: 2}"]
    lines += [f"a{i}: &a{i} {{<<: [" + ", ".join([f"*a{i - 1}"] * 10) + "]}" for i in range(1, 13)]
    start = time.process_time()  # CPU time, as above
    assert errors("\n".join(lines).encode()) == [
        "f.yaml:1:1: error: document expands to more than 20000 nodes through aliases; refused (a spec is far smaller)"]
    assert time.process_time() - start < 2.0


def test_rendered_diagnostics_stay_one_line_whatever_the_input_quotes():
    from compiler.errors import Diagnostic
    message = Diagnostic("'\x0bx' is not a CIDR block\r\n\u2028", Loc("f.yaml", 1, 2)).render()
    assert message.splitlines() == [message] == ["f.yaml:1:2: error: '\\x0bx' is not a CIDR block\\r\\n\\u2028"]

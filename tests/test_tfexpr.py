"""compiler/tfexpr.py: template scanning finds exactly the `${...}` and `%{...}` sequences Terraform would evaluate.

The scanner jumps from one `$`/`%`/quote/backslash to the next with a regular expression; the reference below walks
the text one character at a time, as Terraform's template scanner reads it (escapes `$${` and `%%{` first, then
sequences; inside an expression's quoted string, backslash escapes and the closing quote). Both must agree on any
text, boot scripts full of `$${` included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import tfexpr


def reference_template(s: str, i: int, found: list[str], *, in_quotes: bool) -> tuple[int, bool]:
    n = len(s)
    while i < n:
        if in_quotes and s[i] == "\\":
            i += 2
        elif in_quotes and s[i] == '"':
            return i + 1, True
        elif s.startswith(("$${", "%%{"), i):
            i += 3
        elif s.startswith(("${", "%{"), i):
            i, text = reference_expression(s, i + 2, found)
            if i < 0:
                return n, False
            found.append(text)
        else:
            i += 1
    return n, not in_quotes


def reference_expression(s: str, i: int, found: list[str]) -> tuple[int, str]:
    depth, out, n = 0, [], len(s)
    while i < n:
        c = s[i]
        if c == '"':
            out.append('""')
            i, closed = reference_template(s, i + 1, found, in_quotes=True)
            if not closed:
                return -1, "".join(out)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0 and c == "}":
                return i + 1, "".join(out)
            depth -= 1
        out.append(c)
        i += 1
    return -1, "".join(out)


# Text made mostly of the characters that matter, so that sequences, escapes and quotes meet often.
PIECES = st.sampled_from(["$", "%", "{", "}", "$$", "%%", "${", "%{", "$${", "%%{", '"', "\\", "(", ")", "[", "]",
                          "a", " ", "aws_lb.x.arn", "\n"])
TEXT = st.lists(PIECES | st.text(max_size=3), max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(TEXT, st.booleans())
def test_the_scanner_agrees_with_a_character_by_character_reading(text, in_quotes):
    mine, theirs = [], []
    assert tfexpr._template(text, 0, mine, in_quotes=in_quotes) == reference_template(text, 0, theirs,
                                                                                      in_quotes=in_quotes)
    assert mine == theirs


def test_scan_of_typical_strings():
    assert tfexpr.scan("plain") is None
    assert tfexpr.scan("echo $${HOME} %%{x}") is None  # escapes only: literal text
    found = tfexpr.scan('${aws_lb.x.arn}')
    assert found.expressions == ("aws_lb.x.arn",) and found.single and found.closed
    found = tfexpr.scan('a ${lookup(m, "k${aws_lb.x.id}")} b')
    assert found.expressions == ('aws_lb.x.id', 'lookup(m, "")') and not found.single
    assert not tfexpr.scan("${unclosed").closed
    assert not tfexpr.scan('${f("\\').closed

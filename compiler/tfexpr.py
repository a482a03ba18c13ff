"""Just enough of Terraform's template syntax to type a JSON string and find the resources its expressions read.

In Terraform's JSON syntax every string is a template (https://developer.hashicorp.com/terraform/language/syntax/json
#expression-mapping): `${ expr }` interpolates, `%{ ... }` is a directive, `$${` and `%%{` are the literal `${`
and `%{`. A string that is exactly one interpolation has the type of its expression (known only at plan); any
other template is a string.
"""

from __future__ import annotations

import dataclasses
import re

# Roots of references that are not resources: https://developer.hashicorp.com/terraform/language/expressions/references
NOT_RESOURCES = frozenset({"var", "local", "module", "each", "count", "self", "path", "terraform", "data"})

SPLAT = "*"  # `[*]` or `.*`: the rest applies to every element


class Index:
    """An index whose value is not a literal number (`[count.index]`, `["key"]`): any key or position."""

    def __repr__(self) -> str:
        return "Index()"


ANY_INDEX = Index()


@dataclasses.dataclass(frozen=True)
class Template:
    expressions: tuple[str, ...]  # source of every `${...}`/`%{...}`, nested ones too, string literals emptied
    single: bool                  # the string is exactly one `${...}`: any type
    closed: bool                  # every `${` and `%{` is closed


def scan(text: str) -> Template | None:
    """The template structure of `text`, or None when it is a plain literal (no unescaped `${` or `%{`)."""
    if "${" not in text and "%{" not in text:
        return None
    found: list[str] = []
    end, closed = _template(text, 0, found, in_quotes=False)
    if not found and closed:
        return None
    single = text.startswith("${") and len(found) >= 1 and _expression(text, 2, [])[0] == len(text)
    return Template(tuple(found), single, closed)


# What template text can hold that matters, leftmost first: escapes before the sequences they escape; inside an
# expression's quoted string also a backslash escape and the closing quote. Everything between is literal text.
_SEQUENCE = re.compile(r"\$\$\{|%%\{|\$\{|%\{")
_SEQUENCE_IN_QUOTES = re.compile(r'\\|"|\$\$\{|%%\{|\$\{|%\{')


def _template(s: str, i: int, found: list[str], *, in_quotes: bool) -> tuple[int, bool]:
    """Scan template text from i; inside an expression's quoted string stop after the closing quote."""
    n = len(s)
    pattern = _SEQUENCE_IN_QUOTES if in_quotes else _SEQUENCE
    while (m := pattern.search(s, i)) is not None:
        token, j = m.group(), m.start()
        if token == "\\":
            i = j + 2
        elif token == '"':
            return j + 1, True
        elif token in ("$${", "%%{"):
            i = j + 3
        else:
            i, text = _expression(s, j + 2, found)
            if i < 0:
                return n, False
            found.append(text)
    return n, not in_quotes


def _expression(s: str, i: int, found: list[str]) -> tuple[int, str]:
    """(index after the `}` closing the expression that starts at i, its text with string literals emptied);
    (-1, text) when it is not closed. Templates inside its string literals are scanned into `found`."""
    depth, out, n = 0, [], len(s)
    while i < n:
        c = s[i]
        if c == '"':
            out.append('""')
            i, closed = _template(s, i + 1, found, in_quotes=True)
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


@dataclasses.dataclass(frozen=True)
class Reference:
    mode: str                                # "resource" or "data"
    type: str
    name: str
    steps: tuple[str | int | Index, ...]     # attribute names, list positions, ANY_INDEX, SPLAT
    text: str                                # as written, for messages


_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_REFERENCE = re.compile(
    rf"(?<![\w.\])\"])(?:(data)\s*\.\s*)?([a-z][a-z0-9_]*)\s*\.\s*({_NAME})"
    rf"((?:\s*(?:\.\s*{_NAME}|\.\s*\d+|\.\s*\*|\[[^\[\]]*\]))*)")
_STEP = re.compile(rf"\.\s*({_NAME})|\.\s*(\d+)|\.\s*(\*)|\[([^\[\]]*)\]")


def references(expression: str) -> list[Reference]:
    """Every `TYPE.NAME...` and `data.TYPE.NAME...` traversal in an expression (string literals already emptied)."""
    refs = []
    for m in _REFERENCE.finditer(expression):
        data, root, name, tail = m.groups()
        if (not data and root in NOT_RESOURCES) or "_" not in root:
            continue  # var.x, each.key, ...; every resource type is PROVIDER_NAME
        if expression[m.end():].lstrip().startswith("("):
            continue  # a function call such as provider::aws::arn_parse(...) is not a reference
        refs.append(Reference("data" if data else "resource", root, name, _steps(tail), m.group(0).strip()))
    return refs


def _steps(tail: str) -> tuple[str | int | Index, ...]:
    steps: list[str | int | Index] = []
    for s in _STEP.finditer(tail):
        attr, number, star, index = s.groups()
        if attr is not None:
            steps.append(attr)
        elif number is not None:
            steps.append(int(number))  # legacy `.0` index
        elif star is not None:
            steps.append(SPLAT)
        else:
            index = index.strip()
            steps.append(int(index) if index.isdigit() else SPLAT if index == "*" else ANY_INDEX)
    return tuple(steps)


_TRAVERSAL = re.compile(rf"\s*({_NAME})((?:\s*(?:\.\s*{_NAME}|\.\s*\d+|\[[^\[\]]*\]))*)\s*")


def traversal(text: str) -> tuple[str | int | Index, ...] | None:
    """The steps of a bare attribute path such as `metadata[0].annotations` (lifecycle ignore_changes), or None."""
    m = _TRAVERSAL.fullmatch(text)
    if not m:
        return None
    return (m.group(1), *_steps(m.group(2)))

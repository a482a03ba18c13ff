"""Values for Terraform JSON: literal text, references to attributes, hand-written expressions, and their rendering.

In Terraform's JSON syntax every string value of an argument is a template
(https://developer.hashicorp.com/terraform/language/syntax/json#expression-mapping): `${...}` and `%{...}` in it are
evaluated. So a plain `str` here is always literal text and is escaped (`$${`, `%%{`); only two kinds of value
become live template sequences, and neither can be made from a string by accident:
  - `Ref`, made by a resource handle (`lb.arn`, `ns.metadata[0].name`), checked against the provider schemas;
  - `Expr`, a hand-written expression (`Expr("toset({})", zones.names)`), whose arguments are values again (a `str`
    argument becomes a quoted HCL string literal, escaped).
`Text` joins literal text with references and expressions (`Text("{}/{}", lb.arn_suffix, group.arn_suffix)`).
Formatting a Ref or Expr into a `str` (f-string, `+`, `str()`, json.dumps) raises TypeError: the reference would be
lost or become literal text. No CDK here: `infc validate` and unit tests use this module without Node.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

# A template sequence in a Terraform string: `${` or `%{`; Terraform reads `$${` as `${` and `%%{` as `%{`.
_TEMPLATE = re.compile(r"[$%]\{")
# HCL quoted-string escapes (hcl/hclsyntax spec, "Template Literals"): \n \r \t \" \\ and \uNNNN; no \b or \f.
_HCL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# `{}` is a placeholder, `{{` and `}}` literal braces; scanned left to right, so "{{}}" is "{{" then "}}".
_PLACEHOLDER = re.compile(r"(\{\}|\{\{|\}\})")
# Terraform identifiers (resource names, attribute names): a letter or '_' first, then letters, digits, '_' or '-'.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*\Z")


class SchemaViolation(Exception):
    """Output that the provider schemas refuse (an unknown attribute, a reference to one a type does not export):
    a bug in infc, not in the spec (the CLI exits 3)."""


def literal(text: str) -> str:
    """`text` as a Terraform string that reads back as exactly `text`."""
    return _TEMPLATE.sub(lambda m: m.group(0)[0] + m.group(0), text)


def hcl_string(text: str) -> str:
    """`text` as a quoted HCL string literal inside an expression: escaped for the quotes and as a template."""
    out = "".join(_HCL_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7f else c) for c in text)
    return f'"{literal(out)}"'


class _NotText:
    """Refuses to become a `str`: a reference formatted into text would be lost or escaped as literal text."""

    def __str__(self) -> str:
        raise TypeError(f"{self!r} cannot be formatted into a string: build the value with Text(...) or Expr(...)")

    def __format__(self, spec: str) -> str:
        return self.__str__()

    def __add__(self, other: object):
        raise TypeError(f"{self!r} cannot be concatenated: build the value with Text(...) or Expr(...)")

    __radd__ = __add__


def _arguments(kind: str, template: str, args: tuple) -> tuple:
    if _PLACEHOLDER.split(template).count("{}") != len(args):
        raise TypeError(f"{kind}({template!r}) has {len(args)} arguments for its {{}} placeholders")
    return args


class _Key(str):
    """A map key in a reference path (`output["scoring_uri"]`), as opposed to an attribute name (`.arn`)."""


class Ref(_NotText):
    """`address.path`: an attribute of a resource or data source, e.g. aws_lb.load_balancer.arn.

    `check(path)` (from the block that made it) refuses a path its type does not export, so every extension
    (`.name`, `[0]`, `["key"]`) is checked when it is written, not at `terraform plan`."""

    __slots__ = ("_address", "_path", "_check")

    def __init__(self, address: str, path: tuple[str | int, ...], check: Callable[[tuple[str | int, ...]], None]):
        check(path)
        self._address, self._path, self._check = address, path, check

    def __getattr__(self, name: str) -> Ref:
        if name.startswith("_") or not IDENTIFIER.match(name):
            raise AttributeError(name)
        return Ref(self._address, (*self._path, name), self._check)

    def __getitem__(self, key: int | str) -> Ref:
        if not isinstance(key, (int, str)) or isinstance(key, bool):
            raise TypeError(f"{self!r}: index with an int or a str, not {type(key).__name__}")
        return Ref(self._address, (*self._path, _Key(key) if isinstance(key, str) else key), self._check)

    def __iter__(self):
        raise TypeError(f"{self!r} is one value known at apply time; it cannot be iterated in Python")

    def traversal(self) -> str:
        """The reference as Terraform writes it inside an expression: aws_lb.x.arn, m.meta[0].name, o.out["k"]."""
        steps = [f"[{hcl_string(step)}]" if isinstance(step, _Key) else f"[{step}]" if isinstance(step, int)
                 else f".{step}" for step in self._path]
        return self._address + "".join(steps)

    def __repr__(self) -> str:
        return f"Ref({self.traversal()})"


class Addressable(_NotText):
    """A resource or data source handle: its attributes are References (`lb.arn`), checked by `_check(path)`; in
    an expression the handle itself is the whole object (e.g. every instance of a for_each data source). Its own
    names start with '_', so that none hides a Terraform attribute (`id`, `name`, `address`...)."""

    _address: str

    def _check(self, path: tuple[str | int, ...]) -> None:
        """Raise SchemaViolation unless the type exports `path`."""
        raise NotImplementedError

    def __getattr__(self, name: str) -> Ref:
        if name.startswith("_"):
            raise AttributeError(name)
        return Ref(self._address, (name,), self._check)

    def __repr__(self) -> str:
        return self._address


class Expr(_NotText):
    """A Terraform expression written by hand: `template` is code (never user input) with `{}` for each argument
    (`{{` and `}}` for literal braces); arguments are rendered as expressions: a Ref as its traversal, a resource
    handle as its address, an Expr inline, a str as a quoted HCL string literal, numbers and bools as literals."""

    __slots__ = ("_template", "_args")

    def __init__(self, template: str, *args: Any):
        self._template, self._args = template, _arguments("Expr", template, args)

    def body(self) -> str:
        """The expression without the `${ }` around it."""
        args = iter(self._args)
        return "".join(_expression(next(args)) if piece == "{}" else piece[:1] if piece in ("{{", "}}") else piece
                       for piece in _PLACEHOLDER.split(self._template))

    def __repr__(self) -> str:
        return f"Expr({self._template!r}, {', '.join(map(repr, self._args))})"


class Text(_NotText):
    """Literal text with references and expressions in it: `template` and str arguments are literal text (escaped);
    Ref and Expr arguments become `${...}`; numbers are written as text. `{{` and `}}` are literal braces."""

    __slots__ = ("_template", "_args")

    def __init__(self, template: str, *args: Any):
        self._template, self._args = template, _arguments("Text", template, args)

    def parts(self) -> list:
        """The pieces in order: str for literal text (unescaped), Ref or Expr for live values; nested Text flattened,
        numbers as text."""
        args, out = iter(self._args), []
        for piece in _PLACEHOLDER.split(self._template):
            if piece != "{}":
                out.append(piece[:1] if piece in ("{{", "}}") else piece)
                continue
            value = next(args)
            if isinstance(value, Text):
                out += value.parts()
            elif isinstance(value, (Ref, Expr, str)):
                out.append(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                out.append(str(value))
            else:
                raise TypeError(f"cannot write {type(value).__name__} {value!r} into text")
        return [p for p in out if p != ""]

    def render(self) -> str:
        args = iter(self._args)
        return "".join(_template_part(next(args)) if piece == "{}" else literal(piece[:1] if piece in ("{{", "}}")
                                                                                  else piece)
                       for piece in _PLACEHOLDER.split(self._template))

    def __repr__(self) -> str:
        return f"Text({self._template!r}, {', '.join(map(repr, self._args))})"


def json_text(value: Any) -> Text:
    """`value` as JSON text (as json.dumps(value, sort_keys=True) writes it) in which Ref, Expr and Text values are
    live: e.g. an IAM policy whose ARNs hold the partition of the account, `"arn:${data.aws_partition.p.partition}"`.
    What a reference resolves to is inserted into the JSON text as it is, so references must be to JSON-safe text."""
    parts: list = []

    def encode(item: Any) -> None:
        if isinstance(item, dict):
            parts.append("{")
            for i, key in enumerate(sorted(item)):
                parts.append((", " if i else "") + json.dumps(key) + ": ")
                encode(item[key])
            parts.append("}")
        elif isinstance(item, (list, tuple)):
            parts.append("[")
            for i, element in enumerate(item):
                parts.append(", " if i else "")
                encode(element)
            parts.append("]")
        elif isinstance(item, (Ref, Expr, Text)):
            pieces = item.parts() if isinstance(item, Text) else [item]
            parts.extend(['"', *(json.dumps(p)[1:-1] if isinstance(p, str) else p for p in pieces), '"'])
        else:
            parts.append(json.dumps(item))

    encode(value)
    return Text("{}" * len(parts), *parts)


def _template_part(value: Any) -> str:
    if isinstance(value, (Ref, Expr)):
        return "${" + _expression(value) + "}"
    if isinstance(value, Text):
        return value.render()
    if isinstance(value, str):
        return literal(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} {value!r} into text")


def _expression(value: Any) -> str:
    """`value` inside a hand-written expression."""
    if isinstance(value, Ref):
        return value.traversal()
    if isinstance(value, Expr):
        return value.body()
    if isinstance(value, str):
        return hcl_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(_finite(value))
    if isinstance(value, Addressable):  # a resource or data source handle: the whole object
        return value._address
    raise TypeError(f"cannot write {type(value).__name__} {value!r} into an expression")


def _finite(number: float) -> float:
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError(f"{number} has no Terraform JSON form")
    return number


def plain(value: Any) -> Any:
    """`value` where Terraform reads strings literally, not as templates (a backend block: `${x}` in a local
    backend's path names a file `${x}`, checked with terraform 1.11.4): written as given, None left out; a
    reference or expression, which such a block cannot take, is refused."""
    if isinstance(value, (_NotText, Text)):
        raise TypeError(f"{value!r}: this block takes literal values only, no references or expressions")
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value if v is not None]
    if isinstance(value, float):
        return _finite(value)
    if value is None or isinstance(value, (str, int)):
        return value
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to Terraform JSON")


def render(value: Any) -> Any:
    """`value` as Terraform JSON: strings literal, references and expressions live, None left out of dicts and lists
    (an unset argument), dict keys escaped as well (JSON object keys are templates too)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return _finite(value)
    if isinstance(value, str):
        return literal(value)
    if isinstance(value, (Ref, Expr)):
        return "${" + _expression(value) + "}"
    if isinstance(value, Text):
        return value.render()
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"a Terraform JSON object key must be a str, not {type(key).__name__} {key!r}")
        return {literal(k): render(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [render(v) for v in value if v is not None]
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to Terraform JSON")

"""Walks every string of a synthesized stack as Terraform reads it: each live template must be infc's own reference.

In Terraform JSON every string is a template: `${...}` is evaluated and `%{...}` is a directive, while `$${` and
`%%{` are literal text (https://developer.hashicorp.com/terraform/language/syntax/json#expression-mapping). infc
writes `${...}` only for references to its own resources and data sources and a few functions over them, and never a
directive; user text reaches the output escaped. So a `${...}` that names anything else, any `%{`, or a string literal
inside an expression that holds a template, is user text that escaped the escaping.
"""

from __future__ import annotations

import re

# The functions and keywords infc's own expressions use (targets/*.py: gke_cluster, azureml, eks's Ingress hostname
# (try), and CDK tokens).
FUNCTIONS = {"base64decode", "base64encode", "toset", "length", "substr", "sha1", "join", "lookup", "element", "tolist",
             "try"}
KEYWORDS = {"for", "in", "if", "true", "false", "null"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def strings(value, path: str = ""):
    """(path, text) of every string in a JSON value, map keys included."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}<key>", key
            yield from strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from strings(item, f"{path}[{i}]")


def _templates(text: str) -> tuple[list[str], list[str]]:
    """(bodies of the live `${...}` templates of `text`, problems: directives and unterminated templates)."""
    bodies, problems, i = [], [], 0
    while i < len(text):
        if text.startswith(("$${", "%%{"), i):
            i += 3
        elif text.startswith("%{", i):
            problems.append(f"a live directive %{{ at character {i}")
            i += 2
        elif text.startswith("${", i):
            end = _closing(text, i + 2)
            if end is None:
                problems.append(f"an unterminated template ${{ at character {i}")
                break
            bodies.append(text[i + 2:end])
            i = end + 1
        else:
            i += 1
    return bodies, problems


def _closing(text: str, i: int) -> int | None:
    """The index of the `}` that closes an expression starting at `i`, skipping nested braces and string literals."""
    depth, quoted = 0, False
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return None


def _literals(body: str) -> tuple[str, list[str]]:
    """`body` with its string literals blanked out, and the literals."""
    literals: list[str] = []

    def keep(match: re.Match) -> str:
        literals.append(match.group(1))
        return '""'

    return re.sub(r'"((?:[^"\\]|\\.)*)"', keep, body), literals


def problems(stack: dict) -> list[str]:
    """Every live template of `stack` (a cdk.tf.json document) that is not infc's own reference, as messages."""
    resources, data = stack.get("resource", {}), stack.get("data", {})
    found = []
    for path, text in strings(stack):
        bodies, trouble = _templates(text)
        found += [f"{path}: {p}: {text[:120]!r}" for p in trouble]
        for body in bodies:
            code, literals = _literals(body)
            found += [f"{path}: a template inside a string literal of ${{{body[:80]}}}" for s in literals
                      if "${" in s.replace("$${", "") or "%{" in s.replace("%%{", "")]
            bound = set(re.findall(r"for\s+([A-Za-z_]\w*)(?:\s*,\s*([A-Za-z_]\w*))?\s+in", code))
            local = {name for pair in bound for name in pair if name}
            for match in re.finditer(r"(?<![.\w-])([A-Za-z_][\w-]*)((?:\.[A-Za-z_][\w-]*)*)(\s*\()?", code):
                head, tail, call = match.group(1), match.group(2).split(".")[1:], match.group(3)
                if call:
                    ok = head in FUNCTIONS
                elif head in KEYWORDS or head in local or head == "each":
                    ok = True
                elif head == "self":  # the object itself, in its own postconditions only (Terraform's custom
                    # conditions: developer.hashicorp.com/terraform/language/expressions/custom-conditions#self-object)
                    ok = ".lifecycle.postcondition[" in path
                elif head == "data":
                    ok = len(tail) >= 2 and tail[1] in data.get(tail[0], {})
                else:
                    ok = len(tail) >= 1 and tail[0] in resources.get(head, {})
                if not ok:
                    found.append(f"{path}: ${{{body[:80]}}} refers to {match.group(0).strip()}, which is not one of "
                                 f"the stack's resources, data sources or infc's functions")
    return found

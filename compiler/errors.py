"""Diagnostics: every user-facing error or warning, with its place in the spec file."""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterable, Sequence

Path = tuple[str | int, ...]
# Everything str.splitlines() breaks at, written as its escape so a rendered diagnostic stays one line.
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


@dataclasses.dataclass(frozen=True, order=True)
class Loc:
    """A place in a file; line and column count from 1, as editors show them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    """One message for the user. `loc` is resolved by the driver from `path` when a stage only knows the path.

    A warning is about the value at `path`, and the driver shows it only where the user wrote that value (a spec
    default a target cannot carry exactly is documented on the target's page instead); `always` marks a warning about
    a gap of the target that holds whatever the user wrote, shown even when `path` was left out."""

    message: str
    loc: Loc | None = None
    path: Path = ()
    severity: str = "error"
    always: bool = False

    def render(self) -> str:
        """One line, whatever the message quotes from the input: characters that end a line are escaped."""
        where = str(self.loc) if self.loc else "<input>"
        return f"{where}: {self.severity}: {self.message.translate(_LINE_BREAKS)}"

    def as_json(self) -> dict:
        loc = self.loc
        return {
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.col if loc else None,
            "severity": self.severity,
            "message": self.message,
        }


class CompileError(Exception):
    """Raised once with every error a stage collected; the CLI prints them and exits 2."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        super().__init__("\n".join(d.render() for d in diagnostics))
        self.diagnostics = list(diagnostics)


def suggest(word: str, choices: Iterable[str], n: int = 3) -> str:
    """`"; did you mean 'x'?"` for the closest valid names, or an empty string."""
    close = difflib.get_close_matches(str(word), sorted(set(choices)), n=n, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def format_path(path: Path) -> str:
    """`probes.readiness.interval`, `load_balancer.listeners[0].port`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _github_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's toolkit does (actions/toolkit, packages/core/src/command.ts,
    escapeData): the runner reads %25, %0D and %0A back as %, CR and LF."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    """A workflow command property value (file=...), escaped as escapeProperty does: also ':' and ','."""
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def github(d: Diagnostic) -> str:
    """`::error file=F,line=L,col=C,title=infc::message`, an annotation on the file in a pull request
    (https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands)."""
    where = [f"file={_github_property(d.loc.file)}", f"line={d.loc.line}", f"col={d.loc.col}"] if d.loc else []
    kind = "error" if d.severity == "error" else "warning"
    return f"::{kind} {','.join([*where, 'title=infc'])}::{_github_data(d.message)}"


def render_all(diagnostics: Sequence[Diagnostic], fmt: str) -> str:
    ordered = sorted(diagnostics, key=lambda d: (d.loc or Loc("", 0, 0), d.message))
    if fmt == "json":
        return json.dumps([d.as_json() for d in ordered], indent=2)
    if fmt == "github":
        return "\n".join(github(d) for d in ordered)
    return "\n".join(d.render() for d in ordered)

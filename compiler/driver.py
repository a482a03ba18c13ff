"""The compiler pipeline without the CDK: load -> parse -> validate -> lower -> target checks, errors collected."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable

import targets as backends
from compiler import ir, lower, validate, variants
from compiler.errors import CompileError, Diagnostic, Loc
from compiler.loader import Document, load_file, load_text
from compiler.parse import parse


@dataclasses.dataclass(frozen=True)
class Compiled:
    document: Document
    service: ir.Service
    warnings: tuple[Diagnostic, ...] = ()  # this document's warnings, located (also among compile_files' list)


def _located(doc: Document, diags: list[Diagnostic]) -> list[Diagnostic]:
    return [d if d.loc else dataclasses.replace(d, loc=doc.locate(d.path)) for d in diags]


def subject(d: Diagnostic) -> str:
    """The target a message is about ("aws: ..."), or "" for the spec's own rules."""
    head, sep, _ = d.message.partition(": ")
    return head if sep and head in backends.BACKENDS else ""


def shown(doc: Document, diags: list[Diagnostic]) -> list[Diagnostic]:
    """Warn only about what the user wrote, in one place for every target (docs/spec.md, "Warnings"): a warning
    about the value at a path the document does not hold is about a spec default, which each target's page documents
    instead (`always` warnings are about a gap whatever the value). And where an error and a warning about the same
    target point at the same place, the error says what to do: the warning goes."""
    errors = {(d.path, subject(d)) for d in diags if d.severity == "error" and d.path}
    return [d for d in diags if d.severity != "warning" or not d.path
            or ((d.always or tuple(d.path) in doc.values) and (d.path, subject(d)) not in errors)]


def _hardware(path: tuple) -> bool:
    """Whether `path` is in the hardware section or a variant's."""
    return path[:1] == ("hardware",) or (path[:1] == ("variants",) and path[2:3] == ("hardware",))


def _emitted(named: list[str], only: list[str] | None) -> list[str]:
    return [n for n in named if only is None or n in only]


def _once(paths: list[str], diagnostics: list[Diagnostic]) -> list[str]:
    """`paths` with a file named again (the same path, or another path to the same file) read only once: its
    services would otherwise collide with themselves."""
    seen: dict[tuple, str] = {}
    out = []
    for path in paths:
        try:
            stat = os.stat(path)
            identity: tuple = (stat.st_dev, stat.st_ino)
        except OSError:  # reported when it is read
            identity = ("path", os.path.abspath(path))
        if identity in seen:
            also = "" if seen[identity] == path else f" (as {seen[identity]})"
            diagnostics.append(Diagnostic(f"this file is given twice on the command line{also}; it is read once",
                                          Loc(path, 1, 1), severity="warning"))
            continue
        seen[identity] = path
        out.append(path)
    return out


def compile_files(paths: list[str], only: list[str] | None = None) -> tuple[list[Compiled], list[Diagnostic]]:
    """Every service in `paths`, lowered and checked. Raises CompileError with all diagnostics on any error."""
    diagnostics: list[Diagnostic] = []
    sources = [(path, functools.partial(load_file, path)) for path in _once(paths, diagnostics)]
    return _compile(sources, only, diagnostics, paths)


def compile_text(name: str, raw: bytes, only: list[str] | None = None) -> tuple[list[Compiled], list[Diagnostic]]:
    """compile_files for the bytes of one spec file held in memory; diagnostics name it `name`."""
    return _compile([(name, functools.partial(load_text, name, raw))], only, [], [name])


def _compile(sources: list[tuple[str, Callable[[], list[Document]]]], only: list[str] | None,
             diagnostics: list[Diagnostic], paths: list[str]) -> tuple[list[Compiled], list[Diagnostic]]:
    compiled: list[Compiled] = []
    first_by_name: dict[str, Document] = {}
    named_anywhere: set[str] = set()
    for _, read in sources:
        try:
            documents = read()
        except CompileError as exc:
            diagnostics += exc.diagnostics
            continue
        for doc in documents:
            spec, found = parse(doc)
            diagnostics += found
            if spec is None:
                continue
            named_anywhere.update(spec.targets.named())
            emitted = _emitted(spec.targets.named(), only)
            name = spec.metadata.name
            if name in first_by_name:
                other = first_by_name[name].locate(("metadata", "name"))
                diagnostics.append(Diagnostic(
                    f"metadata.name '{name}' is already used at {other}; stack directories would collide",
                    doc.locate(("metadata", "name"))))
            first_by_name.setdefault(name, doc)
            found = validate.check(spec, emitted)
            # Lower even when other rules failed, so target limits are reported in the same run; only a
            # broken hardware section stops here, since instance selection would repeat its error.
            if not any(d.severity == "error" and _hardware(d.path) for d in found):
                capacity = {name: backends.backend(name).allocatable for name in emitted
                            if hasattr(backends.backend(name), "allocatable")}
                service, lowered = lower.lower(spec, emitted, capacity)
                found += lowered
                for target in service.targets if service else ():
                    found += backends.backend(target.name).check(service, target)
                    for index, variant in enumerate(service.variants if service else ()):
                        own = variant.service.target(target.name)
                        found += variants.relocate(backends.backend(target.name).check(variant.service, own), index,
                                                   spec.variants[index], found)
                if service and service.targets and not any(d.severity == "error" for d in found):
                    warned = tuple(d for d in _located(doc, shown(doc, found)) if d.severity == "warning")
                    compiled.append(Compiled(doc, service, warned))
            diagnostics += _located(doc, shown(doc, found))
    # --target skips services that do not name the target, like `terraform -target`; naming a target no
    # service has is a mistake. Checked only once every file parsed, so the message is not a guess.
    if not any(d.severity == "error" for d in diagnostics):
        for name in only or []:
            if name not in named_anywhere:
                diagnostics.append(Diagnostic(f"--target {name}: no service in {', '.join(paths)} has a "
                                              f"targets.{name} section"))
    if any(d.severity == "error" for d in diagnostics):
        raise CompileError(diagnostics)
    return compiled, diagnostics

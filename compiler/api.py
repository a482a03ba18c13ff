"""infc as a library: compile a spec (a file, YAML text or a dict) into Terraform JSON held in memory, or add one
service's resources for one target to your own CDK Terrain stack (docs/api.md)."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import tempfile
from typing import Any

import yaml

import targets as backends
from compiler.driver import Compiled, compile_files, compile_text
from compiler.errors import CompileError, Diagnostic
from compiler.recording import build, stack_name

__all__ = ["CompileError", "Diagnostic", "Synthesized", "add_service", "compile_spec", "synthesize"]

Source = pathlib.Path | str | dict


@dataclasses.dataclass(frozen=True)
class Synthesized:
    """Terraform JSON per stack (`<metadata.name>-<target>`), as `cdk.tf.json` would hold it, and the warnings."""

    stacks: dict[str, dict[str, Any]]
    warnings: list[Diagnostic]


def compile_spec(source: Source, targets: list[str] | None = None, *, name: str | None = None
                 ) -> tuple[list[Compiled], list[Diagnostic]]:
    """Validate and lower `source`: a pathlib.Path (a spec file), a str (the YAML text of one, several documents
    allowed) or a dict (one spec document as data). Diagnostics name `name` (default: the path, `<string>` or
    `<dict>`); for a dict, line and column refer to its YAML form, and each Diagnostic's `path` says which field.
    Raises CompileError with every error; returns the services and the warnings. Never starts Node."""
    if isinstance(source, os.PathLike):
        return compile_files([os.fspath(source)], targets)
    if isinstance(source, str):
        return compile_text(name or "<string>", source.encode("utf-8"), targets)
    if isinstance(source, dict):
        # YAML's own writer quotes every string that YAML would read as something else, so the dict's values reach
        # the loader as they are, and the loader's rules (positions, limits, hostile text) apply unchanged.
        text = yaml.safe_dump(source, sort_keys=False, allow_unicode=True, width=1 << 16)
        return compile_text(name or "<dict>", text.encode("utf-8"), targets)
    raise TypeError(f"a spec is a pathlib.Path, YAML text (str) or a dict, not {type(source).__name__}")


def synthesize(source: Source, targets: list[str] | None = None, *, name: str | None = None) -> Synthesized:
    """Every stack of `source` (see compile_spec) as Terraform JSON dicts, each checked against the provider schemas
    exactly as `infc synth` writes it; nothing is written where you can see it (CDK Terrain synthesizes into a
    temporary directory, removed before this returns)."""
    from compiler import cdk, scratch

    compiled, warnings = compile_spec(source, targets, name=name)
    stacks = [(stack_name(c.service, t), _builder(c, t)) for c in compiled for t in c.service.targets]
    scratch.directory()
    with tempfile.TemporaryDirectory(prefix="infc-api-") as work:
        cdk.synth(stacks, work)
        documents = {n: json.loads(pathlib.Path(work, "stacks", n, "cdk.tf.json").read_text(encoding="utf-8"))
                     for n, _ in stacks}
    return Synthesized(documents, warnings)


def _builder(compiled: Compiled, target):
    return lambda stack: build(stack, compiled.service, target)


def add_service(stack: Any, source: Source, target: str, *, service: str | None = None, providers: bool = True,
                name: str | None = None) -> list[Diagnostic]:
    """Add the resources of one service of `source` for `target` ("aws", "gke"...) to `stack`, your own
    cdktn.TerraformStack: the same resources and Terraform names (`aws_lb.load_balancer`...) `infc synth` writes, so
    they must not collide with your own. `service` picks a service by metadata.name when `source` holds several.
    `providers=False` leaves the provider blocks to you (one default provider per name and stack: declare your own
    provider constructs for them). The state backend stays yours. Each resource and output name is taken in your
    stack as a construct id, so CDK Terrain refuses a construct of yours (or a second add_service) that would reuse
    it. Returns the warnings; raises CompileError on any error in the spec, and ValueError when `service` names no
    service of `source` or is missing while it holds several. Your app's synth does not run infc's provider schema
    check: `infc synth` of the same spec does."""
    from compiler import cdk

    compiled, warnings = compile_spec(source, [target], name=name)
    chosen = [c for c in compiled if service is None or c.service.name == service]
    if len(chosen) != 1:
        names = ", ".join(c.service.name for c in compiled) or "none"
        raise ValueError(f"pick one service with service=... (services with a targets.{target} section: {names})")
    found = chosen[0].service
    recorded = cdk.Stack(stack_name(found, found.target(target)))
    backends.backend(target).emit(recorded, found, found.target(target))
    recorded.into(stack, stack.node.path, providers=providers, reserve_names=True)
    return list(chosen[0].warnings)

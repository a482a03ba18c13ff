"""A stack with compiler/cdk.Stack's API that records what a backend adds, without CDK Terrain or Node.

`infc explain` runs the real backends' emit() against it to count the resources synth will write; the values are
rendered and the references checked exactly as compiler/cdk.py does (the same Block, compiler/tfvalues.py), so the
recording holds the same resources, with the same attributes, as the synthesized stack (tests/test_recording.py
compares them for every example and target). Only the construct tree and synthesis are missing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import targets as backends
from compiler import ir, state_backend
from compiler.cdk import _META, Block
from compiler.tfvalues import Expr, Text, json_text, plain, render


class _Overrides:
    """Stands in for a block's CDK construct: keeps the meta-arguments (lifecycle, count...) set on it."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add_override(self, path: str, value: Any) -> None:
        self.values[path] = value


class RecordingStack:
    """What a backend adds to a stack: blocks (resources and data sources), providers, outputs and the backend."""

    def __init__(self, name: str):
        self.name = name
        self.blocks: list[Block] = []
        self.providers: list[tuple[str, str, str]] = []
        self.outputs: dict[str, Any] = {}
        self.backend_kind: str | None = None

    def backend(self, kind: str, attributes: dict[str, Any]) -> None:
        plain(attributes)  # refuses references, as the real backend block does
        self.backend_kind = kind

    def provider(self, name: str, source: str, versions: str, /, **attributes: Any) -> None:
        render(attributes)
        self.providers.append((name, source, versions))

    def add(self, type_name: str, construct_id: str, /, *, depends_on: Iterable[Block] = (),
            **attributes: Any) -> Block:
        return self._block("resource", type_name, construct_id, depends_on, attributes)

    def data(self, type_name: str, construct_id: str, /, *, depends_on: Iterable[Block] = (),
             **attributes: Any) -> Block:
        return self._block("data", type_name, construct_id, depends_on, attributes)

    def _block(self, kind: str, type_name: str, construct_id: str, depends_on, attributes: dict) -> Block:
        for handle in depends_on:
            if not isinstance(handle, Block):
                raise TypeError(f"depends_on takes resource and data source handles, not {type(handle).__name__}")
        meta = {key: attributes.pop(key) for key in _META if attributes.get(key) is not None}
        block = Block(kind, type_name, construct_id, attributes, self.name)
        block._construct = _Overrides()
        for key, value in meta.items():
            block.add_override(key, value)
        self.blocks.append(block)
        return block

    expr = staticmethod(Expr)
    fmt = staticmethod(Text)
    json = staticmethod(json_text)

    def output(self, construct_id: str, value: Any, description: str, *, sensitive: bool = False) -> None:
        self.outputs[construct_id] = render(value)

    def counts(self, kind: str = "resource") -> dict[str, int]:
        """Blocks of `kind` ("resource" or "data") per Terraform type, sorted by type."""
        return dict(sorted(Counter(b._type for b in self.blocks if b._kind == kind).items()))


def stack_name(service: ir.Service, target: ir.Target) -> str:
    """The stack's name and directory: `<metadata.name>-<target>`."""
    return f"{service.name}-{target.name}"


def build(stack, service: ir.Service, target: ir.Target) -> None:
    """Everything a stack holds, into a real (compiler/cdk.Stack) or recording one: the state backend, then the
    target's resources."""
    stack.backend(*state_backend.resolve(stack.name, target.name, target.settings))
    backends.backend(target.name).emit(stack, service, target)


def record(service: ir.Service, target: ir.Target) -> RecordingStack:
    stack = RecordingStack(stack_name(service, target))
    build(stack, service, target)
    return stack

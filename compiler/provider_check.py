"""Check synthesized Terraform JSON against the committed provider schemas (compiler/provider_schemas/), in pure Python.

Every resource, data source and provider block is checked against every committed schema of its provider (AWS:
5.100.0 and the 6.x version), as Terraform would decode it (compiler/provider_rules.py): unknown or missing
attributes and blocks, values cty cannot convert to the attribute's type, block counts, computed-only attributes
set, and references (inside any `${...}`, and in depends_on) to resources not declared or to attributes a type does
not export. What a schema could not record (see each file's `provenance`) is absent from it, so it is not claimed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import re
from typing import Any

from compiler import tfexpr
from compiler.provider_rules import CDK_METADATA, Body, join, readable, suggest

SCHEMA_DIR = pathlib.Path(__file__).resolve().parent / "provider_schemas"
REGISTRY = "registry.terraform.io"

# Meta-arguments Terraform reads itself: https://developer.hashicorp.com/terraform/language/meta-arguments
_META = {"resource": frozenset({"depends_on", "count", "for_each", "provider", "lifecycle", "provisioner",
                                "connection"}),
         "data": frozenset({"depends_on", "count", "for_each", "provider", "lifecycle"}),
         "provider": frozenset({"alias", "version"})}
_CONFIGURATION = "Terraform configuration"  # the `schema` of violations Terraform itself, not a provider, reports


@dataclasses.dataclass(frozen=True)
class Violation:
    address: str   # "aws_lb.load_balancer", "data.aws_vpc.default_vpc", "provider.aws"
    path: str      # attribute path inside it, e.g. "health_check.interval" ("" for the whole block)
    message: str   # what is wrong, e.g. "unknown attribute or block 'intervall'"
    schema: str    # which schema says so, e.g. "hashicorp/aws 5.100.0"

    def __str__(self) -> str:
        where = self.address + ("" if not self.path else self.path if self.path.startswith("[") else "." + self.path)
        return f"{where}: {self.message} [{self.schema}]"


@dataclasses.dataclass(frozen=True)
class Schema:
    """One committed schema file: a provider at one exact version."""
    source: str        # registry.terraform.io/hashicorp/aws
    version: str
    blocks: dict       # ("resource" | "data" | "provider", type or provider name) -> schema block

    @property
    def label(self) -> str:
        return f"{self.source.removeprefix(REGISTRY + '/')} {self.version}"


@functools.cache
def schemas() -> dict[str, tuple[Schema, ...]]:
    """{source address in lower case: its committed schemas, oldest first}, read once."""
    found: dict[str, list[Schema]] = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        if "provenance" not in doc:
            continue  # sources.json
        p = doc["provenance"]
        blocks = {("provider", p["provider"]): doc["provider"]["block"]}
        blocks.update({("resource", t): s["block"] for t, s in doc["resource_schemas"].items()})
        blocks.update({("data", t): s["block"] for t, s in doc["data_source_schemas"].items()})
        found.setdefault(p["source"].lower(), []).append(Schema(p["source"], p["version"], blocks))
    return {k: tuple(sorted(v, key=lambda s: _version_key(s.version))) for k, v in found.items()}


def _version_key(version: str) -> tuple[int, ...]:
    numbers = tuple(int(x) for x in re.findall(r"\d+", version.split("-")[0])[:3])
    return numbers + (0,) * (3 - len(numbers))


def _provider_schemas(local: str, doc: dict | None = None) -> tuple[Schema, ...]:
    """The schemas of the provider with local name `local`: in a document, its source from required_providers, else
    Terraform's default hashicorp/<local>; without one (has_attribute), the committed provider of that name."""
    if doc is None:
        return next((group for group in schemas().values() if group[0].blocks.get(("provider", local))), ())
    required = (doc.get("terraform") or {}).get("required_providers") or {}
    entry = required.get(local)
    source = (entry.get("source") if isinstance(entry, dict) else None) or f"hashicorp/{local}"
    if source.count("/") == 1:
        source = f"{REGISTRY}/{source}"
    return schemas().get(source.lower(), ())


def _local_name(type_name: str, body: Any) -> str:
    """The provider of a resource: its `provider` meta-argument ("aws.east"), else the type's prefix."""
    if isinstance(body, dict) and isinstance(body.get("provider"), str):
        return body["provider"].removeprefix("${").split(".", 1)[0]
    return type_name.split("_", 1)[0]


def known_types(kind: str) -> frozenset[str]:
    """Resource ("resource") or data-source ("data") types some committed schema describes."""
    return frozenset(t for group in schemas().values() for s in group for (k, t) in s.blocks if k == kind)


def has_attribute(kind: str, type_name: str, path: tuple[str | int, ...]) -> bool:
    """kind "resource" | "data"; True iff every committed schema of that provider lets an expression read `path` of
    that type, e.g. ("aws_lb", ("arn",)), ("kubernetes_namespace_v1", ("metadata", 0, "name"))."""
    group = _provider_schemas(type_name.split("_", 1)[0])
    return bool(group) and all(
        (kind, type_name) in s.blocks and readable(s.blocks[(kind, type_name)], tuple(path)) is None for s in group)


def check_document(doc: dict) -> list[Violation]:
    """Every violation in a synthesized cdk.tf.json document (its `provider`, `resource` and `data` sections, and
    the references anywhere in it), checked against every committed schema of each provider. Violations found
    identically by several schemas are reported once, naming all of them."""
    found: list[tuple[str, str, str, str]] = []
    for local, configs in (doc.get("provider") or {}).items():
        group = _provider_schemas(local, doc)
        if not group:
            found.append((f"provider.{local}", "", f"no committed schema for provider '{local}'", _CONFIGURATION))
        for n, config in enumerate(configs if isinstance(configs, list) else [configs]):
            for schema in group:
                Body(found, f"provider.{local}", schema.label).block(
                    schema.blocks[("provider", local)], config, "" if n == 0 else f"[{n}]", _META["provider"])
    required = (doc.get("terraform") or {}).get("required_providers") or {}
    for section, address, type_name, body in _instances(doc):
        local = _local_name(type_name, body)
        if local not in required:
            # Terraform would pick hashicorp/<local> at its newest version, unpinned and unchecked
            found.append((address, "", f"its provider '{local}' is not in terraform.required_providers",
                          _CONFIGURATION))
        group = _provider_schemas(local, doc)
        if not group:
            found.append((address, "", f"no committed schema for provider '{local}'", _CONFIGURATION))
        for schema in group:
            block = schema.blocks.get((section, type_name))
            if block is None:
                known = [t for (k, t) in schema.blocks if k == section]
                found.append((address, "", f"{section} type '{type_name}' is not in the committed schema"
                              f"{suggest(type_name, known)}", schema.label))
            else:
                Body(found, address, schema.label, section).block(block, body, "", _META[section])
    _check_versions(doc, found)
    _check_references(doc, found)
    merged: dict[tuple[str, str, str], list[str]] = {}
    for address, path, message, label in found:
        labels = merged.setdefault((address, path, message), [])
        if label not in labels:
            labels.append(label)
    return [Violation(a, p, m, ", ".join(labels)) for (a, p, m), labels in merged.items()]


def _instances(doc: dict):
    """(section, address, type, body) of every resource and data source."""
    for section, prefix in (("resource", ""), ("data", "data.")):
        for type_name, instances in (doc.get(section) or {}).items():
            for name, body in (instances or {}).items():
                yield section, f"{prefix}{type_name}.{name}", type_name, body


# --- references ------------------------------------------------------------------------------------------------------

def _strings(value: Any, path: str):
    """(path, string) for every string in a JSON value, map keys included."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, join(path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != CDK_METADATA:
                yield path, key
                yield from _strings(item, join(path, key))


def _expression_holders(doc: dict):
    """(address, body) of everything in the document that may hold expressions."""
    for local, configs in (doc.get("provider") or {}).items():
        yield f"provider.{local}", configs
    for _, address, _, body in _instances(doc):
        yield address, body
    for section in ("output", "locals", "module", "check", "import", "moved"):
        for name, body in (doc.get(section) or {}).items():
            yield f"{section}.{name}", body


def _check_references(doc: dict, found: list) -> None:
    for address, body in _expression_holders(doc):
        for path, text in _strings(body, ""):
            if path.startswith("depends_on["):
                # depends_on entries are bare references, not templates
                refs = tfexpr.references(text) if not text.startswith("module.") else []
                if not refs:
                    found.append((address, path, f"depends_on entry {text!r} is not a resource reference",
                                  _CONFIGURATION))
                for ref in refs:
                    _check_reference(doc, ref, address, path, found)
                continue
            template = tfexpr.scan(text)
            if template is None:
                continue
            if not template.closed:
                found.append((address, path, "unterminated template sequence '${' or '%{' (write $${ for a "
                              "literal)", _CONFIGURATION))
            for expression in template.expressions:
                for ref in tfexpr.references(expression):
                    _check_reference(doc, ref, address, path, found)


def _check_reference(doc: dict, ref: tfexpr.Reference, address: str, path: str, found: list) -> None:
    section = ref.mode
    target = ((doc.get(section) or {}).get(ref.type) or {}).get(ref.name)
    where = f"{'data.' if section == 'data' else ''}{ref.type}.{ref.name}"
    if target is None:
        found.append((address, path, f"reference to undeclared {section} {where} in '{ref.text}'", _CONFIGURATION))
        return
    steps = ref.steps
    if isinstance(target, dict) and ("count" in target or "for_each" in target):
        if steps and not isinstance(steps[0], str):
            steps = steps[1:]  # aws_lb.x[0].arn: one instance of a counted resource
        elif steps:
            found.append((address, path, f"{where} has count or for_each: index it before '.{steps[0]}' in "
                          f"'{ref.text}'", _CONFIGURATION))
            return
    for schema in _provider_schemas(_local_name(ref.type, target), doc):
        block = schema.blocks.get((section, ref.type))
        why = readable(block, steps) if block is not None else None  # an unknown type is reported where declared
        if why is not None:
            found.append((address, path, f"cannot read '{ref.text}': {why}", schema.label))


# --- the declared version range must admit every committed schema ---------------------------------------------------

_CONSTRAINT = re.compile(r"\s*(>=|<=|!=|~>|=|>|<)?\s*v?(\d+(?:\.\d+){0,2})\s*")


def _check_versions(doc: dict, found: list) -> None:
    """Each provider's version constraint must admit every schema the output is checked against, else the check
    proves nothing about the versions users get."""
    for local, entry in (((doc.get("terraform") or {}).get("required_providers")) or {}).items():
        constraint = entry.get("version") if isinstance(entry, dict) else None
        for schema in _provider_schemas(local, doc) if constraint else ():
            if not admits(constraint, schema.version):
                found.append((f"terraform.required_providers.{local}", "version",
                              f"the constraint '{constraint}' excludes {schema.version}, a version the output is "
                              "checked against", schema.label))


def admits(constraint: str, version: str) -> bool:
    """Does a Terraform version constraint (https://developer.hashicorp.com/terraform/language/expressions/
    version-constraints) admit `version`? Unparseable constraints admit nothing."""
    have = _version_key(version)
    for part in constraint.split(","):
        m = _CONSTRAINT.fullmatch(part)
        if not m:
            return False
        op, bound = m.group(1) or "=", tuple(int(x) for x in m.group(2).split("."))
        low = bound + (0,) * (3 - len(bound))
        if op == "~>":  # ~> 1.2 allows >= 1.2.0, < 2.0.0; ~> 1.2.3 allows >= 1.2.3, < 1.3.0
            head = bound[:-1] if len(bound) > 1 else bound
            high = head[:-1] + (head[-1] + 1,)
            ok = low <= have < high + (0,) * (3 - len(high))
        else:
            ok = {"=": have == low, "!=": have != low, ">": have > low, ">=": have >= low, "<": have < low,
                  "<=": have <= low}[op]
        if not ok:
            return False
    return True

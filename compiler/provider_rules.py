"""How Terraform decodes a JSON body against one provider schema block: the per-value rules of compiler/provider_check.

Blocks, attributes and values follow Terraform's JSON syntax (https://developer.hashicorp.com/terraform/language/
syntax/json) and cty's conversions (zclconf/go-cty, cty/convert): a number or bool converts to a string, a numeric
string to a number, "true"/"false"/"1"/"0" to a bool; a block is one object or a list of objects.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from compiler import tfexpr

CDK_METADATA = "//"  # construct metadata cdktn writes into each block; Terraform JSON ignores "//" keys in bodies
# https://developer.hashicorp.com/terraform/language/meta-arguments/lifecycle
LIFECYCLE = {"resource": frozenset({"create_before_destroy", "prevent_destroy", "ignore_changes",
                                    "replace_triggered_by", "precondition", "postcondition"}),
             "data": frozenset({"precondition", "postcondition"})}
# cty's string -> number conversion (math/big Float.Parse, base 10): zclconf/go-cty cty/convert/conversion_primitive.go
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?[Ii]nf")
_STRING_TO_BOOL = frozenset({"true", "false", "1", "0"})


def suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _describe(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a bool", type(None): "null"}.get(
        type(value), "a number")


def join(path: str, step: str | int) -> str:
    return f"{path}[{step}]" if isinstance(step, int) else f"{path}.{step}" if path else step


def _type_name(ty: Any) -> str:
    if isinstance(ty, str):
        return ty
    if ty[0] in ("list", "set", "map"):
        return f"{ty[0]}({_type_name(ty[1])})"
    return ty[0]


class Body:
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
            if key == CDK_METADATA:
                continue
            if key in meta:
                self.meta(block, key, value, join(path, key))
            elif key in attributes:
                self.attribute(key, attributes[key], value, join(path, key))
            elif key in block_types:
                self.nested_blocks(block_types[key], value, join(path, key))
            elif key == "dynamic" and dynamic is not None:
                self.dynamic(block_types, value, join(path, key))
            else:
                self.add(join(path, key), f"unknown attribute or block '{key}'"
                         f"{suggest(key, [*attributes, *block_types])}")
        expanded = set(dynamic) if isinstance(dynamic, dict) else set()
        for name, attribute in attributes.items():
            if attribute.get("required") and body.get(name) is None:
                self.add(path, f"missing required attribute '{name}'")
        for name, block_type in block_types.items():
            if block_type.get("min_items", 0) > 0 and name not in body and name not in expanded:
                self.add(path, f"missing required block '{name}' (at least {block_type['min_items']})")

    def meta(self, block: dict, key: str, value: Any, path: str) -> None:
        """Meta-arguments are Terraform's, not the provider's; lifecycle's names and ignore_changes paths are checked
        (https://developer.hashicorp.com/terraform/language/meta-arguments/lifecycle)."""
        if key != "lifecycle":
            return
        allowed = LIFECYCLE.get(self.section, frozenset())
        for item in value if isinstance(value, list) else [value]:
            for name, setting in item.items() if isinstance(item, dict) else ():
                if name == CDK_METADATA:
                    continue
                if name not in allowed:
                    self.add(join(path, name), f"unknown lifecycle argument '{name}'{suggest(name, allowed)}")
                elif name == "ignore_changes" and setting != "all" and isinstance(setting, list):
                    for n, entry in enumerate(setting):
                        steps = tfexpr.traversal(entry) if isinstance(entry, str) else None
                        why = "not an attribute path" if steps is None else readable(block, steps)
                        if why is not None:
                            self.add(join(join(path, name), n), f"cannot ignore changes to {entry!r}: {why}")

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
                self.block(inner, item, join(path, i))
        elif mode == "map":
            if not isinstance(value, dict):
                self.add(path, f"must be a map of objects, not {_describe(value)}")
                return
            for key, item in value.items():
                self.block(inner, item, join(path, key))

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
                    self.block(block_type["block"], body, join(join(path, key), n) if isinstance(item, list)
                               else join(path, key))
            return
        bodies = value if isinstance(value, list) else [value]  # "must be either a JSON object or a JSON array"
        for i, body in enumerate(bodies):
            self.block(block_type["block"], body, join(path, i) if isinstance(value, list) else path)
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
                self.add(join(path, name), f"no block type '{name}' to generate{suggest(name, block_types)}")
                continue
            for item in spec if isinstance(spec, list) else [spec]:
                if not isinstance(item, dict) or "for_each" not in item:
                    self.add(join(path, name), "a dynamic block needs for_each and content")
                    continue
                for key in item:
                    if key not in ("for_each", "iterator", "labels", "content", CDK_METADATA):
                        self.add(join(join(path, name), key), f"unknown dynamic block argument '{key}'")
                self.block(block_types[name]["block"], item.get("content", {}), join(join(path, name), "content"))

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
                self.value(ty[1], item, join(path, i))
        elif ty[0] == "map":
            if not isinstance(value, dict):
                self.add(path, f"{_type_name(ty)} required, got {_describe(value)}")
                return
            for key, item in value.items():
                self.value(ty[1], item, join(path, key))
        elif ty[0] == "object":
            self.object(ty, value, path)
        elif ty[0] == "tuple":
            if not isinstance(value, list) or len(value) != len(ty[1]):
                self.add(path, f"tuple of {len(ty[1])} elements required, got {_describe(value)}")
                return
            for i, (item_type, item) in enumerate(zip(ty[1], value)):
                self.value(item_type, item, join(path, i))

    def object(self, ty: list, value: Any, path: str) -> None:
        """cty object conversion: every attribute not marked optional must be present; Terraform drops unknown
        ones silently (conversion_object.go), which for generated output is a lost setting, so it is reported."""
        if not isinstance(value, dict):
            self.add(path, f"object required, got {_describe(value)}")
            return
        attributes, optional = ty[1], set(ty[2]) if len(ty) > 2 else set()
        for key, item in value.items():
            if key not in attributes:
                self.add(join(path, key), f"unknown attribute '{key}'{suggest(key, attributes)}")
            else:
                self.value(attributes[key], item, join(path, key))
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

def readable(block: dict, path: tuple) -> str | None:
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
        return f"no attribute '{_path_text(after)}'{suggest(step, [*attributes, *block_types])}"
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
            return f"no attribute '{_path_text(after)}'{suggest(str(step), schema[1])}"
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
        text = join(text, step if isinstance(step, (str, int)) else "*" if step == tfexpr.SPLAT else "…")
    return text

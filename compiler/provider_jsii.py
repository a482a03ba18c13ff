"""Read a Terraform provider schema out of the jsii assembly of a `cdktn-provider-*` wheel, as far as it tells.

The wheel holds `<package>/_jsii/<name>@<version>.jsii.tgz`: the assembly (`package/.jsii`) and its JavaScript
(`package/lib/<type>/**/*.js`). Every .js file carries an inline source map whose `sourcesContent` is the TypeScript
the provider generator wrote from `terraform providers schema -json` (hashicorp/terraform-cdk, packages/@cdktf/
provider-generator/lib/get/generator/resource-parser.ts). That TypeScript is what is read here, since it keeps
what the `.jsii` type model drops: each attribute's Terraform name with the schema's own flags, in a comment
`// name - computed: B, optional: B, required: B`, and, in `synthesizeHclAttributes()` / `*ToHclTerraform()`,
`isBlock`, the collection kind ("list", "set", "map", "struct") and the element type. Getters without a setter are
computed-only attributes; the getter they call gives the type.

CANNOT_KNOW lists what the generator does not carry over; those facts are left out of the schema (absent, never
guessed), so the check does not claim them.
"""

from __future__ import annotations

import base64
import json
import pathlib
import re
import tarfile
import zipfile

CANNOT_KNOW = [
    "max_items other than 1: the generator only distinguishes max_items == 1 (one object) from more, so no upper "
    "bound is recorded for other list/set blocks (and none for provider blocks, which have no such marker)",
    "min_items other than 0 or 1: a block with min_items >= 1 is recorded as min_items 1",
    "sensitive: not carried over; no attribute is marked sensitive",
    "nested attributes (protocol 6 nested_type) vs blocks, and object-typed attributes vs nested attributes: a "
    "settable struct is recorded as a block, a computed one as a nested_type attribute with the generator's flags "
    "(an object-typed attribute's fields inherit its flags, so a missing field of an object is not reported)",
    "nesting mode group vs single: both are rendered as one object; recorded as single",
    "dynamic vs map(dynamic): both are rendered as a map of any; recorded as dynamic",
    "map(list(T)) vs map(set(T)): both are rendered the same; recorded as map(list(T))",
    "computed flags of attributes inside provider-configuration blocks (no getter classes exist for them)",
]

_FLAGS = re.compile(r"^  // (\S+) - computed: (true|false), optional: (true|false), required: (true|false)$", re.M)
_HCL_ENTRY = re.compile(r'"?(\w+)"?: \{\s*value: (.+?),\s*isBlock: (true|false),\s*type: "(\w+)",\s*'
                        r'storageClassType: "(\w+)",\s*\}', re.S)
_CLASS = re.compile(r"^export class (\w+) extends ([\w.]+) \{$(.*?)^\}$", re.M | re.S)
_HCL_FUNCTION = re.compile(r"^export function \w+ToHclTerraform\(struct\?: (?:\w+OutputReference \| )?(\w+)"
                           r"(?: \| cdktn\.IResolvable)?\): any \{$(.*?)^\}$", re.M | re.S)
_INTERFACE = re.compile(r"^export interface (\w+)(?: extends [\w.]+)? \{$(.*?)^\}$", re.M | re.S)
_PROPERTY = re.compile(r"#(\w+) \w+#\w+\}(?:(?!readonly ).)*?\*/\s*readonly (\w+)(\?)?:", re.S)
_PRIMITIVE = {"string": "string", "number": "number", "boolean": "bool"}
_GETTER = [  # computed-only attribute getter -> cty type
    (re.compile(r"cdktn\.Fn\.tolist\(this\.getListAttribute\("), ["set", "string"]),
    (re.compile(r"cdktn\.Fn\.tolist\(this\.getNumberListAttribute\("), ["set", "number"]),
    (re.compile(r"^this\.getStringAttribute\("), "string"),
    (re.compile(r"^this\.getNumberAttribute\("), "number"),
    (re.compile(r"^this\.getBooleanAttribute\("), "bool"),
    (re.compile(r"^this\.getListAttribute\("), ["list", "string"]),
    (re.compile(r"^this\.getNumberListAttribute\("), ["list", "number"]),
    (re.compile(r"^this\.getStringMapAttribute\("), ["map", "string"]),
    (re.compile(r"^this\.getNumberMapAttribute\("), ["map", "number"]),
    (re.compile(r"^this\.getBooleanMapAttribute\("), ["map", "bool"]),
    (re.compile(r"^this\.getAnyMapAttribute\("), "dynamic"),
    (re.compile(r"^this\.interpolationForAttribute\("), "dynamic"),
]
_CDK_MAPS = {"cdktn.StringMap": ["map", "string"], "cdktn.NumberMap": ["map", "number"],
             "cdktn.BooleanMap": ["map", "bool"], "cdktn.AnyMap": "dynamic",
             "cdktn.StringListMap": ["map", ["list", "string"]], "cdktn.NumberListMap": ["map", ["list", "number"]],
             "cdktn.BooleanListMap": ["map", ["list", "bool"]]}


class AssemblyError(Exception):
    """The assembly does not have the shape this reader knows: fail loudly rather than guess."""


def type_directory(provider: str, kind: str, type_name: str) -> str:
    """Where the generator puts a type: lib/<dir>/ (resource-parser.ts getFileName and sanitizeClassOrNamespaceName)."""
    if kind == "provider":
        return "provider"
    base = f"data_{type_name}" if kind == "data" else type_name.removeprefix(f"{provider}_")
    reserved = {"string", "object", "function", "implements", "interface", "let", "package", "private",
                "protected", "public", "static", "yield", "await", "license", "version", "provider"}
    if base.lower() in reserved:
        base += "_resource"
    return base.replace("_", "-")


def read_sources(wheel: pathlib.Path, directories: set[str]) -> tuple[str, dict[str, str]]:
    """(assembly member name, {directory: TypeScript of every .js file under lib/<directory>/, concatenated}) for
    the directories the assembly has."""
    with zipfile.ZipFile(wheel) as zf:
        members = [n for n in zf.namelist() if re.fullmatch(r"[^/]+/_jsii/[^/]+\.jsii\.tgz", n)]
        if len(members) != 1:
            raise AssemblyError(f"{wheel.name}: expected one _jsii/*.jsii.tgz, found {members}")
        sources: dict[str, list[tuple[str, str]]] = {}
        with zf.open(members[0]) as raw, tarfile.open(fileobj=raw, mode="r|gz") as tar:
            for member in tar:
                m = re.fullmatch(r"package/lib/([^/]+)/(.+\.js)", member.name)
                if m and m.group(1) in directories and member.isfile():
                    js = tar.extractfile(member).read().decode()
                    sources.setdefault(m.group(1), []).append((m.group(2), _typescript(js, member.name)))
    return members[0], {d: "\n".join(ts for _, ts in sorted(files)) for d, files in sources.items()}


def _typescript(js: str, name: str) -> str:
    m = re.search(r"//# sourceMappingURL=data:application/json;base64,(\S+)\s*$", js)
    if not m:
        raise AssemblyError(f"{name}: no inline source map")
    contents = json.loads(base64.b64decode(m.group(1))).get("sourcesContent") or []
    if len(contents) != 1:
        raise AssemblyError(f"{name}: expected one source in the source map, found {len(contents)}")
    return contents[0]


class _Module:
    """The classes, struct interfaces and *ToHclTerraform functions of one type's TypeScript."""

    def __init__(self, ts: str, where: str):
        self.where = where
        self.classes = {m.group(1): (m.group(2), m.group(3)) for m in _CLASS.finditer(ts)}
        self.hcl = {m.group(1): _hcl_entries(m.group(2)) for m in _HCL_FUNCTION.finditer(ts)}
        self.interfaces = {m.group(1): m.group(2) for m in _INTERFACE.finditer(ts)}

    def fail(self, what: str) -> AssemblyError:
        return AssemblyError(f"{self.where}: {what}")

    def top(self, bases: tuple[str, ...]) -> tuple[str, str]:
        found = [(n, body) for n, (base, body) in self.classes.items() if base in bases]
        if len(found) != 1:
            raise self.fail(f"expected one class extending {' or '.join(bases)}, found {[n for n, _ in found]}")
        return found[0]

    def block_of_class(self, body: str, hcl: dict) -> dict:
        """A schema block from a class body: one section per `// name - computed..` comment."""
        attributes, block_types = {}, {}
        flags = list(_FLAGS.finditer(body))
        for n, m in enumerate(flags):
            name, computed, optional, required = m.group(1), *(m.group(i) == "true" for i in (2, 3, 4))
            section = body[m.end():flags[n + 1].start() if n + 1 < len(flags) else len(body)].strip()
            own = {k: True for k, v in (("computed", computed), ("optional", optional), ("required", required)) if v}
            complex_ = re.match(r'private _\w+ = new ([\w.]+)\(this, "([^"]+)"(?:, (true|false))?\);', section)
            if section.startswith("private _") and not complex_:
                entry = hcl.get(name) or self._missing(name)
                if entry["isBlock"]:  # provider configuration blocks are stored as plain struct arrays
                    block_types[name] = self.block_type(entry, entry["storageClassType"], required)
                else:
                    attributes[name] = {**own, "type": _hcl_type(entry, self)}
            elif complex_:
                cls, wraps_set = complex_.group(1), complex_.group(3) == "true"
                if cls in _CDK_MAPS:
                    attributes[name] = {**own, "type": _CDK_MAPS[cls]}
                elif computed:  # computed structs are attributes (the generator never marks a block computed)
                    attributes[name] = {**own, "nested_type": self.nested_type(cls, wraps_set, hcl.get(name))}
                else:
                    entry = hcl.get(name) or self._missing(name)
                    block_types[name] = self.block_type(entry, cls, required)
            else:
                getter = re.match(r"public get \w+\(\) \{\s*return (.+?);\s*\}", section, re.S)
                if not getter:
                    raise self.fail(f"attribute '{name}': unknown shape {section[:80]!r}")
                attributes[name] = {**own, "type": _getter_type(getter.group(1), self)}
        out: dict = {}
        if attributes:
            out["attributes"] = attributes
        if block_types:
            out["block_types"] = block_types
        return out

    def _missing(self, name: str):
        raise self.fail(f"attribute '{name}' has no isBlock/type entry in its *ToHclTerraform")

    def struct(self, cls: str) -> tuple[str, dict]:
        """(struct name, its block) for XList / XOutputReference / XMap or a provider struct list type."""
        name = re.sub(r"(OutputReference|List|Map)$", "", cls)
        hcl = self.hcl.get(name, {})
        if name + "OutputReference" in self.classes:
            return name, self.block_of_class(self.classes[name + "OutputReference"][1], hcl)
        if name in self.interfaces:
            return name, self.block_of_interface(name, hcl)
        raise self.fail(f"no class or interface for struct {name} (from {cls})")

    def block_of_interface(self, name: str, hcl: dict) -> dict:
        """Provider-configuration structs have no getter class: names and types from *ToHclTerraform, required-ness
        from the interface (`readonly x?:` is optional)."""
        optional = {tf: bool(q) for tf, _, q in _PROPERTY.findall(self.interfaces[name])}
        attributes, block_types = {}, {}
        for tf, entry in hcl.items():
            if tf not in optional:
                raise self.fail(f"struct {name}: '{tf}' has no interface property")
            if entry["isBlock"]:
                block_types[tf] = self.block_type(entry, entry["storageClassType"], not optional[tf])
            else:
                attributes[tf] = {"optional" if optional[tf] else "required": True, "type": _hcl_type(entry, self)}
        return {k: v for k, v in (("attributes", attributes), ("block_types", block_types)) if v}

    def block_type(self, entry: dict, cls: str, required: bool) -> dict:
        mode = {"list": "list", "set": "set", "struct": "single", "map": "map"}.get(entry["type"])
        if mode is None:
            raise self.fail(f"block {cls}: unknown collection {entry['type']!r}")
        _, block = self.struct(cls)
        out = {"nesting_mode": mode, "block": block}
        if mode in ("list", "set") and cls.endswith("OutputReference"):
            out["max_items"] = 1  # the generator gives max_items == 1 blocks one object instead of a list
        if mode in ("list", "set") and required:
            out["min_items"] = 1  # required == (min_items > 0) for list and set blocks
        return out

    def nested_type(self, cls: str, wraps_set: bool, entry: dict | None) -> dict:
        """A computed struct attribute as protocol-6 nested attributes (its inner blocks become attributes too)."""
        if cls.endswith("OutputReference"):
            mode = "single"
        elif cls.endswith("Map"):
            mode = "map"
        else:
            mode = entry["type"] if entry and entry["type"] in ("list", "set") else ("set" if wraps_set else "list")
        _, block = self.struct(cls)
        return {"nesting_mode": mode, "attributes": _as_attributes(block)}


def _as_attributes(block: dict) -> dict:
    out = dict(block.get("attributes", {}))
    for name, bt in block.get("block_types", {}).items():
        out[name] = {"optional": True, "nested_type": {"nesting_mode": bt["nesting_mode"],
                                                       "attributes": _as_attributes(bt["block"])}}
    return out


def _hcl_entries(text: str) -> dict:
    return {m.group(1): {"isBlock": m.group(3) == "true", "type": m.group(4), "storageClassType": m.group(5)}
            for m in _HCL_ENTRY.finditer(text)}


def _hcl_type(entry: dict, module: _Module):
    """cty type of a settable attribute from its `type` and `storageClassType` (attributes-emitter of the generator)."""
    kind, storage = entry["type"], entry["storageClassType"]
    if kind == "simple" and storage in _PRIMITIVE:
        return _PRIMITIVE[storage]
    m = re.fullmatch(r"(string|number|boolean)List", storage)
    if kind in ("list", "set") and m:
        return [kind, _PRIMITIVE[m.group(1)]]
    m = re.fullmatch(r"(string|number|boolean)(List)?Map", storage)
    if kind == "map" and m:
        return ["map", ["list", _PRIMITIVE[m.group(1)]] if m.group(2) else _PRIMITIVE[m.group(1)]]
    if kind == "map" and storage == "anyMap":
        return "dynamic"
    raise module.fail(f"unknown attribute type {kind}/{storage}")


def _getter_type(expression: str, module: _Module):
    expression = re.sub(r"^cdktn\.Token\.as\w+\((.*)\)$", r"\1", expression.strip())
    for pattern, ty in _GETTER:
        if pattern.search(expression):
            return ty
    raise module.fail(f"unknown getter {expression!r}")


def schema_from_wheel(wheel: pathlib.Path, provider: str, wanted: dict[str, list[str]]) -> tuple[dict, dict]:
    """({provider, resource_schemas, data_source_schemas} for the wanted types the assembly has, facts for the
    provenance: the provider version the bindings were generated from and what was read)."""
    want = [("provider", provider)] + [(k, t) for k in ("resource", "data") for t in wanted[k]]
    directories = {type_directory(provider, k, t): (k, t) for k, t in want}
    assembly, sources = read_sources(wheel, set(directories))
    if "provider" not in sources:
        raise AssemblyError(f"{wheel.name}: no lib/provider/ in {assembly}")
    present = {d: kt for d, kt in directories.items() if d in sources}  # trim() reports the others as missing
    out: dict = {"provider": None, "resource_schemas": {}, "data_source_schemas": {}}
    versions = set()
    for directory, (kind, type_name) in sorted(present.items()):
        module = _Module(sources[directory], f"{wheel.name}:lib/{directory}")
        base = {"provider": ("cdktn.TerraformProvider",), "resource": ("cdktn.TerraformResource",),
                "data": ("cdktn.TerraformDataSource",)}[kind]
        _, body = module.top(base)
        declared = re.search(r'static readonly tfResourceType = "([^"]+)"', body) if kind != "provider" else None
        if kind != "provider" and (not declared or declared.group(1) != type_name):
            raise module.fail(f"is {declared and declared.group(1)!r}, expected {type_name!r}")
        versions.update(re.findall(r"providerVersion: '([^']+)'", body))
        hcl = _hcl_entries(body[body.find("synthesizeHclAttributes()"):])
        block = module.block_of_class(body, hcl)
        if kind == "provider":
            block.get("attributes", {}).pop("alias", None)  # the generator adds it; it is a meta-argument
            out["provider"] = {"block": block}
        else:
            out["resource_schemas" if kind == "resource" else "data_source_schemas"][type_name] = {"block": block}
    if len(versions) != 1:
        raise AssemblyError(f"{wheel.name}: expected one generator providerVersion, found {sorted(versions)}")
    facts = {"provider_version": versions.pop(), "assembly": assembly,
             "read": "package/lib/<type>/**/*.js of the assembly: the TypeScript in each file's inline source map, "
                     "written by the cdktn provider generator from the provider's schema"}
    return out, facts


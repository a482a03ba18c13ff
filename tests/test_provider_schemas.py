"""The committed provider schemas: provenance, trimmed type lists, canonical form, the jsii reader, and `--check`."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile

import pytest

from compiler import provider_extract, provider_jsii
from compiler.provider_check import schemas
from tests.conftest import ROOT

SOURCES = provider_extract.load_sources()
FILES = provider_extract.committed_files()


def test_every_listed_schema_is_committed_and_nothing_else():
    expected = set()
    for provider, spec in SOURCES["providers"].items():
        for entry in spec["schemas"]:
            if entry["from"] == "terraform":
                expected.add(provider_extract.file_name(provider, entry["version"]))
            else:  # the version is the one the bindings were generated from, recorded in the file
                (name,) = [n for n, doc in FILES.items() if doc["provenance"].get("wheel") and
                           doc["provenance"]["wheel_version"] == entry["wheel_version"] and
                           doc["provenance"]["provider"] == provider]
                expected.add(name)
    assert set(FILES) == expected
    assert sorted(s.version for s in schemas()["registry.terraform.io/hashicorp/aws"]) == ["5.100.0", "6.69.1"]


@pytest.mark.parametrize("name", sorted(FILES))
def test_provenance_is_complete(name):
    p = FILES[name]["provenance"]
    spec = SOURCES["providers"][p["provider"]]
    assert name == provider_extract.file_name(p["provider"], p["version"])
    assert p["source"] == f"registry.terraform.io/{spec['source']}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", p["version"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", p["extracted_on"])
    assert p["missing_types"] == {}, "a listed type is absent from this provider version"
    if p["method"] == "terraform providers schema -json":
        assert "terraform providers schema -json" in p["command"] and p["version"] in p["command"]
        assert p["cannot_know"] == []
    else:
        assert p["method"] == "jsii assembly of a cdktn provider wheel"
        (entry,) = [e for e in spec["schemas"] if e["from"] == "jsii"]
        assert p["wheel"].startswith(entry["wheel"].replace("-", "_") + "-" + entry["wheel_version"] + "-")
        assert p["wheel_version"] == entry["wheel_version"] and re.fullmatch(r"[0-9a-f]{64}", p["wheel_sha256"])
        assert p["assembly"].endswith(".jsii.tgz") and p["read"]
        assert p["provider_version"] == p["version"]
        assert p["cannot_know"] == provider_jsii.CANNOT_KNOW


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_types_are_exactly_the_listed_ones(name):
    doc = FILES[name]
    listed = provider_extract.types_of(SOURCES, doc["provenance"]["provider"])
    assert sorted(doc["resource_schemas"]) == listed["resource"]
    assert sorted(doc["data_source_schemas"]) == listed["data"]


def test_the_listed_types_cover_every_provider_and_none_twice():
    for kind in ("resource", "data"):
        names = SOURCES[kind]
        assert names == sorted(set(names)), kind
        assert {t.split("_", 1)[0] for t in names} <= set(SOURCES["providers"])


@pytest.mark.parametrize("name", sorted(FILES))
def test_files_are_canonical_and_trimmed(name):
    text = (provider_extract.SCHEMA_DIR / name).read_text()
    doc = json.loads(text)
    assert provider_extract.render(doc) == text
    assert set(doc) == {"provenance", "provider", "resource_schemas", "data_source_schemas"}
    blocks = [doc["provider"]["block"]] + [s["block"] for section in ("resource_schemas", "data_source_schemas")
                                           for s in doc[section].values()]
    for block in blocks:
        _trimmed(block)
    assert len(text) < 250_000, f"{name} is {len(text)} bytes"


def _trimmed(block: dict) -> None:
    assert set(block) <= {"attributes", "block_types"}
    for attribute in block.get("attributes", {}).values():
        _attribute(attribute)
    for block_type in block.get("block_types", {}).values():
        assert set(block_type) <= {"nesting_mode", "min_items", "max_items", "block"}
        assert block_type["nesting_mode"] in ("single", "group", "list", "set", "map")
        _trimmed(block_type["block"])


def _attribute(attribute: dict) -> None:
    assert set(attribute) <= {"type", "nested_type", "required", "optional", "computed", "sensitive"}
    assert ("type" in attribute) != ("nested_type" in attribute)
    assert attribute.get("required") or attribute.get("optional") or attribute.get("computed")
    for nested in [attribute["nested_type"]] if "nested_type" in attribute else []:
        assert set(nested) == {"nesting_mode", "attributes"}
        for inner in nested["attributes"].values():
            _attribute(inner)


# --- the jsii reader, offline, on a hand-made assembly in the generator's format --------------------------------------

def _hcl(entries: dict) -> str:
    """Entries of a synthesizeHclAttributes()/…ToHclTerraform() object as the generator writes them."""
    return "".join(f"    {name}: {{\n      value: x,\n      isBlock: {str(b).lower()},\n      type: \"{t}\",\n"
                   f"      storageClassType: \"{s}\",\n    }},\n" for name, (b, t, s) in entries.items())


def _flag(name: str, c: bool, o: bool, r: bool, body: str) -> str:
    return f"  // {name} - computed: {str(c).lower()}, optional: {str(o).lower()}, required: {str(r).lower()}\n{body}"


def _getter(name: str, call: str) -> str:
    camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), name)
    return f"  public get {camel}() {{\n    return {call};\n  }}"


def _class(name: str, base: str, *parts: str) -> str:
    return f"export class {name} extends {base} {{\n" + "\n".join(parts) + "\n}\n"


def _hcl_function(struct: str, param: str, entries: dict) -> str:
    camel = struct[0].lower() + struct[1:]
    return (f"export function {camel}ToHclTerraform(struct?: {param}): any {{\n  const attrs = {{\n"
            + _hcl(entries) + "  };\n}\n")


_META = ("  public constructor() {\n    super(scope, id, { terraformGeneratorMetadata: { providerName: 'demo', "
         "providerVersion: '1.2.3' } });\n  }")
_SYNTH = "  protected synthesizeHclAttributes(): { [name: string]: any } {\n    const attrs = {\n"

THING = "".join([
    "// generated from terraform resource schema\nimport * as cdktn from 'cdktn';\n",
    _hcl_function("ThingRule", "ThingRule | cdktn.IResolvable",
                  {"cidrs": (False, "set", "stringList"), "port": (False, "simple", "number")}),
    _class("ThingRuleOutputReference", "cdktn.ComplexObject",
           _flag("cidrs", False, True, False, "  private _cidrs?: string[]; "),
           _flag("port", False, False, True, "  private _port?: number; "),
           _flag("rule_id", True, False, False, _getter("rule_id", "this.getStringAttribute('rule_id')"))),
    _class("ThingRuleList", "cdktn.ComplexList"),
    _hcl_function("ThingSettings", "ThingSettingsOutputReference | ThingSettings",
                  {"enabled": (False, "simple", "boolean")}),
    _class("ThingSettingsOutputReference", "cdktn.ComplexObject",
           _flag("enabled", False, True, False, "  private _enabled?: boolean | cdktn.IResolvable; ")),
    _hcl_function("ThingTimeouts", "ThingTimeouts | cdktn.IResolvable", {"create": (False, "simple", "string")}),
    _class("ThingTimeoutsOutputReference", "cdktn.ComplexObject",
           _flag("create", False, True, False, "  private _create?: string; ")),
    _class("ThingStatusOutputReference", "cdktn.ComplexObject",
           _flag("code", True, False, False, _getter("code", "this.getNumberAttribute('code')"))),
    _class("Thing", "cdktn.TerraformResource",
           '  public static readonly tfResourceType = "demo_thing";', _META,
           _flag("arn", True, False, False, _getter("arn", "this.getStringAttribute('arn')")),
           _flag("extra", True, False, False, '  private _extra = new cdktn.StringMap(this, "extra");'),
           _flag("id", True, True, False, "  private _id?: string; "),
           _flag("labels", False, True, False, "  private _labels?: { [key: string]: string }; "),
           _flag("name", False, False, True, "  private _name?: string; "),
           _flag("status", True, False, False, '  private _status = new ThingStatusList(this, "status", false);'),
           _flag("zones", True, False, False, _getter("zones", "cdktn.Fn.tolist(this.getListAttribute('zones'))")),
           _flag("rule", False, False, True, '  private _rule = new ThingRuleList(this, "rule", true);'),
           _flag("settings", False, True, False,
                 '  private _settings = new ThingSettingsOutputReference(this, "settings");'),
           _flag("timeouts", False, True, False,
                 '  private _timeouts = new ThingTimeoutsOutputReference(this, "timeouts");'),
           _SYNTH + _hcl({"id": (False, "simple", "string"), "labels": (False, "map", "stringMap"),
                          "name": (False, "simple", "string"), "rule": (True, "set", "ThingRuleList"),
                          "settings": (True, "list", "ThingSettingsList"),
                          "timeouts": (True, "struct", "ThingTimeouts")}) + "    };\n  }"),
])

PROVIDER = "".join([
    "import * as cdktn from 'cdktn';\nexport interface DemoProviderRetry {\n  /**\n  * Docs at Terraform Registry: "
    "{@link https://registry.terraform.io/providers/acme/demo/1.2.3/docs#attempts DemoProvider#attempts}\n  */\n"
    "  readonly attempts: number;\n}\n",
    _hcl_function("DemoProviderRetry", "DemoProviderRetry | cdktn.IResolvable",
                  {"attempts": (False, "simple", "number")}),
    _class("DemoProvider", "cdktn.TerraformProvider", _META,
           _flag("alias", False, True, False, "  private _alias?: string; "),
           _flag("endpoint", False, True, False, "  private _endpoint?: string; "),
           _flag("retry", False, True, False, "  private _retry?: DemoProviderRetry[] | cdktn.IResolvable; "),
           _SYNTH + _hcl({"alias": (False, "simple", "string"), "endpoint": (False, "simple", "string"),
                          "retry": (True, "list", "DemoProviderRetryList")}) + "    };\n  }"),
])

INFO = "import * as cdktn from 'cdktn';\n" + _class(
    "DataDemoInfo", "cdktn.TerraformDataSource", '  public static readonly tfResourceType = "demo_info";', _META,
    _flag("names", True, False, False, _getter("names", "this.getListAttribute('names')")))


def _js(ts: str) -> bytes:
    source_map = {"version": 3, "sources": ["index.ts"], "sourcesContent": [ts], "mappings": ""}
    return ("'use strict';\n//# sourceMappingURL=data:application/json;base64,"
            + base64.b64encode(json.dumps(source_map).encode()).decode() + "\n").encode()


@pytest.fixture(scope="module")
def demo_wheel(tmp_path_factory):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for member, data in (("package/.jsii", b"{}"), ("package/lib/thing/index.js", _js(THING)),
                             ("package/lib/provider/index.js", _js(PROVIDER)),
                             ("package/lib/data-demo-info/index.js", _js(INFO))):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    wheel = tmp_path_factory.mktemp("wheel") / "cdktn_provider_demo-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("cdktn_provider_demo/_jsii/provider-demo@1.0.0.jsii.tgz", archive.getvalue())
    return wheel


def test_jsii_reader_derives_what_the_generator_recorded(demo_wheel):
    schema, facts = provider_jsii.schema_from_wheel(
        demo_wheel, "demo", {"resource": ["demo_absent", "demo_thing"], "data": ["demo_info"]})
    assert facts["provider_version"] == "1.2.3"
    assert facts["assembly"] == "cdktn_provider_demo/_jsii/provider-demo@1.0.0.jsii.tgz"
    assert schema["provider"] == {"block": {  # alias is a meta-argument, not the provider's
        "attributes": {"endpoint": {"optional": True, "type": "string"}},
        "block_types": {"retry": {"nesting_mode": "list", "block": {  # no max_items: providers do not tell
            "attributes": {"attempts": {"required": True, "type": "number"}}}}}}}
    assert schema["data_source_schemas"] == {"demo_info": {"block": {"attributes": {
        "names": {"computed": True, "type": ["list", "string"]}}}}}
    assert set(schema["resource_schemas"]) == {"demo_thing"}  # demo_absent: trim() reports it missing
    block = schema["resource_schemas"]["demo_thing"]["block"]
    assert block["attributes"] == {
        "arn": {"computed": True, "type": "string"},
        "extra": {"computed": True, "type": ["map", "string"]},
        "id": {"computed": True, "optional": True, "type": "string"},
        "labels": {"optional": True, "type": ["map", "string"]},
        "name": {"required": True, "type": "string"},
        "status": {"computed": True, "nested_type": {"nesting_mode": "list", "attributes": {
            "code": {"computed": True, "type": "number"}}}},
        "zones": {"computed": True, "type": ["set", "string"]},
    }
    assert block["block_types"] == {
        "rule": {"nesting_mode": "set", "min_items": 1, "block": {"attributes": {
            "cidrs": {"optional": True, "type": ["set", "string"]}, "port": {"required": True, "type": "number"},
            "rule_id": {"computed": True, "type": "string"}}}},
        "settings": {"nesting_mode": "list", "max_items": 1, "block": {"attributes": {
            "enabled": {"optional": True, "type": "bool"}}}},
        "timeouts": {"nesting_mode": "single", "block": {"attributes": {"create": {"optional": True,
                                                                                  "type": "string"}}}},
    }
    trimmed, missing = provider_extract.trim("demo", schema, {"resource": ["demo_absent", "demo_thing"],
                                                              "data": ["demo_info"]})
    assert missing == {"resource": ["demo_absent"]} and trimmed["resource_schemas"] == schema["resource_schemas"]


def test_jsii_reader_fails_loudly_on_what_it_does_not_know(demo_wheel, tmp_path):
    odd = tmp_path / "cdktn_provider_demo-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(demo_wheel) as zf, zipfile.ZipFile(odd, "w") as out:
        data = zf.read("cdktn_provider_demo/_jsii/provider-demo@1.0.0.jsii.tgz")
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            archive = io.BytesIO()
            with tarfile.open(fileobj=archive, mode="w:gz") as new:
                for member in tar.getmembers():
                    content = tar.extractfile(member).read()
                    if member.name.endswith("thing/index.js"):
                        content = _js(THING.replace('"simple",\n      storageClassType: "number"',
                                                    '"simple",\n      storageClassType: "numberTuple"'))
                    member.size = len(content)
                    new.addfile(member, io.BytesIO(content))
        out.writestr("cdktn_provider_demo/_jsii/provider-demo@1.0.0.jsii.tgz", archive.getvalue())
    with pytest.raises(provider_jsii.AssemblyError, match="unknown attribute type simple/numberTuple"):
        provider_jsii.schema_from_wheel(odd, "demo", {"resource": ["demo_thing"], "data": []})


@pytest.mark.parametrize("provider, kind, name, directory", [
    ("aws", "resource", "aws_lb", "lb"), ("aws", "data", "aws_vpc", "data-aws-vpc"),
    ("azapi", "resource", "azapi_resource", "resource"), ("aws", "provider", "aws", "provider"),
    ("demo", "resource", "demo_version", "version-resource"),  # a name the generator reserves
])
def test_type_directories(provider, kind, name, directory):
    assert provider_jsii.type_directory(provider, kind, name) == directory


# --- the files are what the sources give -----------------------------------------------------------------------------

def test_regenerating_gives_the_committed_files():
    """Downloads the cdktn provider wheels (~200 MB, pip's cache helps) and runs Terraform on the AWS mirror."""
    run = subprocess.run([sys.executable, "-m", "compiler.provider_extract", "--check"], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    if run.returncode == 2 and re.search(r"pip download .* failed|no filesystem mirror|terraform is not on PATH",
                                         run.stderr):
        pytest.skip("cannot regenerate the provider schemas here: " + run.stderr.strip().splitlines()[0])
    assert run.returncode == 0, run.stdout + run.stderr

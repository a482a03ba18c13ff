"""Regenerate (or `--check`) the committed provider schemas in compiler/provider_schemas/ from their sources.

    python -m compiler.provider_extract            # rewrite every schema file
    python -m compiler.provider_extract --check    # exit 0 if the files are what the sources give, 1 if not

compiler/provider_schemas/sources.json names each provider, the schemas to extract for it and the resource and
data-source types to keep. A schema comes from one of two places, both fetched into a throwaway directory:
- "terraform": `terraform providers schema -json` of the exact provider version, installed from a filesystem mirror
  (default /opt/tf-plugins, the one the AWS tests use; --mirror to change);
- "jsii": the jsii assembly inside a `cdktn-provider-*` wheel (`pip download --no-deps`), read by
  compiler/provider_jsii.py, which says what such an assembly can and cannot tell.
Each file is the `providers schema -json` format for one provider, trimmed to the listed types, without
descriptions, with sorted keys and a `provenance` object. `--check` ignores only `provenance.extracted_on`.
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from typing import Any

SCHEMA_DIR = pathlib.Path(__file__).resolve().parent / "provider_schemas"
SOURCES = SCHEMA_DIR / "sources.json"
REGISTRY = "registry.terraform.io"
# Keys of `providers schema -json` the check uses; descriptions, deprecation and schema versions are dropped.
_ATTRIBUTE_KEYS = ("type", "nested_type", "required", "optional", "computed", "sensitive")
_BLOCK_TYPE_KEYS = ("nesting_mode", "min_items", "max_items")


class ExtractError(Exception):
    """A source could not be fetched or read; the message says which and why."""


def load_sources(path: pathlib.Path = SOURCES) -> dict:
    return json.loads(path.read_text())


def types_of(sources: dict, provider: str) -> dict[str, list[str]]:
    """The listed resource and data-source types of `provider` (the part of a type name before the first '_')."""
    return {kind: sorted(t for t in sources[kind] if t.split("_", 1)[0] == provider) for kind in ("resource", "data")}


def file_name(provider: str, version: str) -> str:
    return f"{provider}-{version}.json"


def trim_block(block: dict) -> dict:
    """A schema block with only the keys the check reads (see _ATTRIBUTE_KEYS), recursively."""
    out: dict[str, Any] = {}
    if block.get("attributes"):
        out["attributes"] = {name: trim_attribute(a) for name, a in block["attributes"].items()}
    if block.get("block_types"):
        out["block_types"] = {
            name: {**{k: bt[k] for k in _BLOCK_TYPE_KEYS if k in bt}, "block": trim_block(bt.get("block", {}))}
            for name, bt in block["block_types"].items()}
    return out


def trim_attribute(attribute: dict) -> dict:
    out = {k: attribute[k] for k in _ATTRIBUTE_KEYS if attribute.get(k) not in (None, False)}
    if "nested_type" in out:
        nested = attribute["nested_type"]
        out["nested_type"] = {"nesting_mode": nested["nesting_mode"],
                              "attributes": {n: trim_attribute(a) for n, a in nested.get("attributes", {}).items()}}
    return out


def trim(provider: str, schema: dict, sources: dict) -> tuple[dict, dict[str, list[str]]]:
    """(`schema` trimmed to the listed types, {kind: listed types the schema lacks})."""
    wanted = types_of(sources, provider)
    out = {"provider": {"block": trim_block(schema["provider"]["block"])}, "resource_schemas": {},
           "data_source_schemas": {}}
    missing: dict[str, list[str]] = {}
    for kind, section in (("resource", "resource_schemas"), ("data", "data_source_schemas")):
        for name in wanted[kind]:
            if name in schema.get(section, {}):
                out[section][name] = {"block": trim_block(schema[section][name]["block"])}
            else:
                missing.setdefault(kind, []).append(name)
    return out, missing


# --- terraform providers schema -json --------------------------------------------------------------------------------

def from_terraform(provider: str, source: str, version: str, mirror: pathlib.Path,
                   work: pathlib.Path) -> tuple[dict, dict]:
    """(full schema of one provider, provenance): `terraform providers schema -json` with a mirror-only CLI config."""
    address = f"{REGISTRY}/{source.lower()}"
    if shutil.which("terraform") is None:
        raise ExtractError(f"{source} {version}: terraform is not on PATH")
    if not (mirror / REGISTRY / source.lower()).is_dir():
        raise ExtractError(f"{source} {version}: no filesystem mirror of it under {mirror}")
    # An unpacked mirror doubles as a plugin cache: init then links the provider instead of copying 700 MB.
    cache = work / "plugin-cache"
    for platform in sorted((mirror / REGISTRY / source.lower() / version).glob("*_*")):
        if platform.is_dir():
            (cache / REGISTRY / source.lower() / version).mkdir(parents=True, exist_ok=True)
            (cache / REGISTRY / source.lower() / version / platform.name).symlink_to(platform)
    config = work / "terraform.tfrc"
    config.write_text((f'plugin_cache_dir = {json.dumps(str(cache))}\n'
                       'plugin_cache_may_break_dependency_lock_file = true\n' if cache.exists() else "")
                      + 'provider_installation {\n  filesystem_mirror {\n'
                      f'    path    = {json.dumps(str(mirror))}\n    include = [{json.dumps(address)}]\n  }}\n'
                      f'  direct {{ exclude = [{json.dumps(address)}] }}\n}}\n')
    (work / "main.tf.json").write_text(json.dumps(
        {"terraform": {"required_providers": {provider: {"source": source, "version": version}}}}))
    env = {"TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work)}
    for args in (["init", "-input=false", "-backend=false"], ["providers", "schema", "-json"]):
        run = subprocess.run(["terraform", *args], cwd=work, env=env, capture_output=True, text=True)
        if run.returncode != 0:
            raise ExtractError(f"{source} {version}: terraform {' '.join(args)} failed:\n{run.stderr.strip()}")
    full = json.loads(run.stdout)["provider_schemas"][address]
    terraform = json.loads(subprocess.run(["terraform", "version", "-json"], capture_output=True, text=True,
                                          env=env, check=True).stdout)["terraform_version"]
    provenance = {
        "method": "terraform providers schema -json",
        "command": f"terraform init && terraform providers schema -json (Terraform {terraform}), provider "
                   f"installed from a filesystem mirror of {address} {version}",
        "cannot_know": [],
    }
    return full, provenance


# --- jsii assemblies in cdktn-provider wheels ------------------------------------------------------------------------

def download_wheel(name: str, version: str, work: pathlib.Path) -> pathlib.Path:
    """The wheel file of `name==version`, fetched with `pip download --no-deps` into `work`."""
    run = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                          "--disable-pip-version-check", "--quiet", "-d", str(work), f"{name}=={version}"],
                         capture_output=True, text=True)
    wheels = sorted(work.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if run.returncode != 0 or not wheels:
        raise ExtractError(f"pip download {name}=={version} failed:\n{run.stderr.strip()}")
    return wheels[0]


def from_jsii(provider: str, entry: dict, wanted: dict[str, list[str]], work: pathlib.Path) -> tuple[dict, dict]:
    """(schema of the wanted types, provenance) from the assembly inside the wheel named by `entry`."""
    from compiler import provider_jsii

    wheel = download_wheel(entry["wheel"], entry["wheel_version"], work)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    schema, facts = provider_jsii.schema_from_wheel(wheel, provider, wanted)
    provenance = {
        "method": "jsii assembly of a cdktn provider wheel",
        "wheel": wheel.name,
        "wheel_version": entry["wheel_version"],
        "wheel_sha256": digest,
        **facts,
        "cannot_know": provider_jsii.CANNOT_KNOW,
    }
    return schema, provenance


# --- driver ----------------------------------------------------------------------------------------------------------

def extract_all(sources: dict, mirror: pathlib.Path, today: str) -> dict[str, dict]:
    """{file name: schema document} for every schema sources.json lists."""
    files: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="infc-provider-schemas-") as tmp:
        for provider, spec in sources["providers"].items():
            wanted = types_of(sources, provider)
            for n, entry in enumerate(spec["schemas"]):
                work = pathlib.Path(tmp) / f"{provider}-{n}"
                work.mkdir()
                if entry["from"] == "terraform":
                    full, provenance = from_terraform(provider, spec["source"], entry["version"], mirror, work)
                    version = entry["version"]
                elif entry["from"] == "jsii":
                    full, provenance = from_jsii(provider, entry, wanted, work)
                    version = provenance["provider_version"]
                else:
                    raise ExtractError(f"{provider}: unknown schema source {entry['from']!r} in {SOURCES.name}")
                schema, missing = trim(provider, full, sources)
                doc = {
                    "provenance": {"provider": provider, "source": f"{REGISTRY}/{spec['source']}",
                                   "version": version, "extracted_on": today, **provenance,
                                   "missing_types": missing},
                    **schema,
                }
                files[file_name(provider, version)] = doc
    return files


def render(doc: dict) -> str:
    """Compact JSON, sorted, with one line per provenance field and per type: small files, readable diffs."""
    def compact(value: Any) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    lines = []
    for key in sorted(doc):
        if isinstance(doc[key], dict) and doc[key] and key != "provider":
            inner = ",\n".join(f"  {compact(k)}:{compact(v)}" for k, v in sorted(doc[key].items()))
            lines.append(f"{compact(key)}:{{\n{inner}\n }}")
        else:
            lines.append(f"{compact(key)}:{compact(doc[key])}")
    return "{\n " + ",\n ".join(lines) + "\n}\n"


def _comparable(doc: dict) -> dict:
    return {**doc, "provenance": {k: v for k, v in doc.get("provenance", {}).items() if k != "extracted_on"}}


def committed_files(directory: pathlib.Path = SCHEMA_DIR) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(directory.glob("*.json")) if p.name != SOURCES.name}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compiler.provider_extract", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files; write nothing")
    parser.add_argument("--mirror", type=pathlib.Path, default=pathlib.Path("/opt/tf-plugins"),
                        help="Terraform filesystem mirror holding the providers extracted with terraform")
    args = parser.parse_args(argv)
    try:
        fresh = extract_all(load_sources(), args.mirror, datetime.date.today().isoformat())
    except ExtractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    old = committed_files()
    if args.check:
        stale = sorted(name for name in fresh.keys() | old.keys()
                       if name not in fresh or name not in old or _comparable(fresh[name]) != _comparable(old[name]))
        for name in stale:
            before = render(_comparable(old[name])).splitlines() if name in old else []
            after = render(_comparable(fresh[name])).splitlines() if name in fresh else []
            diff = list(difflib.unified_diff(before, after, name, name, lineterm=""))
            print("".join(f"{line[:300]}\n" for line in diff[:40]))
        print(f"{len(stale)} of {len(fresh)} provider schema files differ" if stale else
              f"all {len(fresh)} provider schema files are up to date", file=sys.stderr)
        return 1 if stale else 0
    for name in old.keys() - fresh.keys():
        (SCHEMA_DIR / name).unlink()
    for name, doc in fresh.items():
        if name in old and _comparable(old[name]) == _comparable(doc):
            continue  # unchanged: keep the file and the date it was first extracted on
        (SCHEMA_DIR / name).write_text(render(doc))
        print(f"wrote {SCHEMA_DIR.name}/{name} ({(SCHEMA_DIR / name).stat().st_size:,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

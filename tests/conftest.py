"""Shared fixtures: spec builders, one CDK synth of every example per test session, and the external tools
(terraform, its provider mirror, checkov, moto) that integration tests need, found in one place."""

from __future__ import annotations

import copy
import importlib.util
import os
import pathlib
import shutil

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
INVALID = sorted((ROOT / "examples" / "invalid").glob("*.yaml"))

MINIMAL = {
    "apiVersion": "infc/v1",
    "kind": "InferenceService",
    "metadata": {"name": "svc"},
    "model": {"name": "m", "image": "vllm/vllm-openai:v0.6.3"},
    "hardware": {"accelerator": "nvidia-l4"},
    "targets": {"aws": {"region": "us-east-1"}},
}


def spec_dict(**overrides) -> dict:
    """MINIMAL with top-level sections deep-merged from `overrides` (a value of None deletes the key)."""
    data = copy.deepcopy(MINIMAL)
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        elif isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def spec_yaml(**overrides) -> bytes:
    return yaml.safe_dump(spec_dict(**overrides), sort_keys=False).encode()


def examples_naming(target: str) -> list[pathlib.Path]:
    """Examples with at least one service that has a targets.<target> section."""
    return [e for e in EXAMPLES
            if any(target in (doc.get("targets") or {}) for doc in yaml.safe_load_all(e.read_text()) if doc)]


@pytest.fixture(scope="session")
def synth_for(tmp_path_factory):
    """synth_for("aws") -> output dir of every example naming aws, synthesized once per session through the
    real CLI for that target only (starting the CDK runtime is the fixed cost of a synth)."""
    from compiler.cli import main

    cache: dict[str, pathlib.Path] = {}

    def run(target: str) -> pathlib.Path:
        if target not in cache:
            out = tmp_path_factory.mktemp(f"synth-{target}") / "out"
            assert main(["synth", *map(str, examples_naming(target)), "--target", target, "--out", str(out)]) == 0
            cache[target] = out
        return cache[target]

    return run


def synth_documents(work: pathlib.Path, docs: list[dict], *targets: str, files=()) -> pathlib.Path:
    """Synthesize `files` (e.g. examples) and `docs` (spec dicts, one service each, written to one multi-document
    file in `work`) in one run of the real CLI, for `targets` only if given; the output directory."""
    from compiler.cli import main

    (work / "specs.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    only = [arg for target in targets for arg in ("--target", target)]
    assert main(["synth", *map(str, files), str(work / "specs.yaml"), *only, "--out", str(work / "out")]) == 0
    return work / "out"


@pytest.fixture(scope="session")
def variant_stacks(tmp_path_factory):
    """variant_stacks(name, target) -> the cdk.tf.json (parsed) of a tests/targets/variants.py service, all of
    them synthesized in one run of the real CLI per session."""
    import json

    from tests.targets.variants import VARIANTS

    out = synth_documents(tmp_path_factory.mktemp("variants"), list(VARIANTS.values()))

    def load(name: str, target: str) -> dict:
        return json.loads((out / "stacks" / f"{name}-{target}" / "cdk.tf.json").read_text())

    return load


# --- External tools ---------------------------------------------------------------------------------------------
# Without a tool its tests skip, saying why; with INFC_REQUIRE_TOOLS=1 (set by .ci/run) they fail instead, so a CI
# machine that loses terraform, the provider mirror, checkov or moto cannot go green without the tests they run.
REQUIRE_TOOLS = os.environ.get("INFC_REQUIRE_TOOLS", "") not in ("", "0")


def require(found, why: str):
    """`found` if truthy; else skip the calling test (or fixture) with `why`, or fail it under INFC_REQUIRE_TOOLS."""
    if not found:
        if REQUIRE_TOOLS:
            pytest.fail(f"{why} (INFC_REQUIRE_TOOLS is set, so this is a failure, not a skip)", pytrace=False)
        pytest.skip(why)
    return found


def terraform() -> str:
    return require(shutil.which("terraform"), "terraform is not on PATH")


def terraform_validate(work: pathlib.Path, env: dict) -> None:
    """`terraform init -backend=false` and `terraform validate` in `work` with `env` (a CLI config pointing at the
    provider mirror): no error and no warning, else the diagnostics."""
    import json
    import subprocess

    init = subprocess.run([terraform(), "init", "-backend=false", "-input=false", "-no-color"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert init.returncode == 0, init.stdout + init.stderr
    result = subprocess.run([terraform(), "validate", "-json", "-no-color"], cwd=work, env=env, capture_output=True,
                            text=True, timeout=300)
    report = json.loads(result.stdout)
    assert report["valid"], json.dumps(report["diagnostics"], indent=2)
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=2)


def mirror_directories() -> list[pathlib.Path]:
    """Where a filesystem mirror of provider packages may be: INFC_TF_PLUGIN_DIR alone when set; else Terraform's
    implied local mirror directories on Linux ($HOME/.terraform.d/plugins and terraform/plugins in each XDG data
    directory: https://developer.hashicorp.com/terraform/cli/config/config-file#implied-local-mirror-directories),
    then /opt/tf-plugins."""
    given = os.environ.get("INFC_TF_PLUGIN_DIR")
    if given:
        return [pathlib.Path(given)]
    home = pathlib.Path.home()
    data = [os.environ.get("XDG_DATA_HOME") or str(home / ".local" / "share"),
            *(os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":")]
    return [home / ".terraform.d" / "plugins", *(pathlib.Path(d) / "terraform" / "plugins" for d in data if d),
            pathlib.Path("/opt/tf-plugins")]


def provider_mirror(provider: str = "hashicorp/aws") -> pathlib.Path:
    """The first mirror directory holding `provider` from the public registry (either mirror layout)."""
    found = next((d for d in mirror_directories() if (d / "registry.terraform.io" / provider).is_dir()), None)
    where = ", ".join(map(str, mirror_directories()))
    return require(found, f"no {provider} provider mirror in {where} (set INFC_TF_PLUGIN_DIR)")


def terraform_rc(path: pathlib.Path, mirror: pathlib.Path, cache: pathlib.Path | None = None) -> pathlib.Path:
    """A Terraform CLI configuration at `path` that installs hashicorp providers from `mirror` only."""
    path.write_text(
        (f'plugin_cache_dir = "{cache}"\n' if cache else "")
        + 'provider_installation {\n'
        f'  filesystem_mirror {{\n    path = "{mirror}"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }}\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n')
    return path


def checkov_path() -> str | None:
    local = ROOT / ".venv-checkov" / "bin" / "checkov"
    return str(local) if local.exists() else shutil.which("checkov")


def checkov() -> str:
    return require(checkov_path(), "checkov not found: the README set-up command installs it into .venv-checkov")


def moto() -> None:
    require(importlib.util.find_spec("moto"), "moto is not installed: the README set-up command installs it (dev)")

"""Shared fixtures: spec builders for unit tests, and one CDK synth of every example per test session."""

from __future__ import annotations

import copy
import pathlib

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

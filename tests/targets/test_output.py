"""What every backend's output must be: no nulls, no absolute or temporary paths, a declared provider range."""

from __future__ import annotations

import json
import re

import pytest

import targets as backends


def nulls(value, path="$"):
    if value is None:
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from nulls(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from nulls(item, f"{path}[{i}]")


@pytest.mark.parametrize("target", backends.available())
def test_output_is_clean(synth_for, target):
    out = synth_for(target)
    stacks = sorted((out / "stacks").glob("*/cdk.tf.json"))
    assert stacks, f"no example names {target}"
    for path in [out / "manifest.json", *stacks]:
        text = path.read_text()
        assert str(out) not in text and "/tmp/" not in text, path
        doc = json.loads(text)
        assert list(nulls(doc)) == [], path
        if path.name == "cdk.tf.json":
            for name, provider in doc["terraform"]["required_providers"].items():
                assert re.fullmatch(r"[A-Za-z0-9-]+/[a-z0-9-]+", provider["source"]), name  # e.g. Azure/azapi
                assert re.fullmatch(r">= \d+\.\d+\.\d+, < \d+\.0\.0", provider["version"]), name

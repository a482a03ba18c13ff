"""The checked-in JSON Schema: fresh, and accepting exactly what a pull-request check should."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from compiler import schema
from tests.conftest import EXAMPLES, ROOT, spec_dict

SCHEMA = json.loads((ROOT / schema.DEFAULT_PATH).read_text())


def test_checked_in_schema_is_fresh():
    assert (ROOT / schema.DEFAULT_PATH).read_text() == schema.text(), "stale: run `infc schema --out schema/infc.schema.json`"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_examples_validate_against_the_schema(example):
    for document in yaml.safe_load_all(example.read_text()):
        jsonschema.validate(document, SCHEMA, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("overrides", [
    {"replica": {"min": 1}},                                      # unknown key
    {"model": {"name": "m", "image": "i", "port": "8000"}},       # wrong type
    {"probes": {"readiness": {"interval": "10 minutes"}}},        # bad duration
    {"metadata": {"name": "Bad_Name"}},                           # bad name
    {"hardware": {"accelerator": "nvidia-l4", "instance_types": {"azure-ml": "x"}}},  # unknown target
])
def test_schema_rejects_what_infc_rejects(overrides):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec_dict(**overrides), SCHEMA, cls=jsonschema.Draft202012Validator)


def test_schema_accepts_yaml_scalars_infc_accepts():
    data = spec_dict(model={"name": "m", "image": "i", "env": {"N": 4}, "args": ["--n", 8]},
                     probes={"readiness": {"interval": 30, "timeout": "5s", "success_codes": 200}})
    jsonschema.validate(data, SCHEMA, cls=jsonschema.Draft202012Validator)

"""The JSON Schema of the spec, generated from the pydantic models (checked in as schema/infc.schema.json)."""

from __future__ import annotations

import json

from compiler.spec import Spec

SCHEMA_ID = "https://infc.dev/schema/v1.json"
DEFAULT_PATH = "schema/infc.schema.json"


def schema() -> dict:
    body = Spec.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **body}


def text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"

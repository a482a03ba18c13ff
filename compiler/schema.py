"""The JSON Schema of the spec, generated from the pydantic models (checked in as schema/infc.schema.json)."""

from __future__ import annotations

import json

SCHEMA_ID = "https://infc.dev/schema/v1.json"
DEFAULT_PATH = "schema/infc.schema.json"


def schema() -> dict:
    from compiler.spec import Spec  # here, so that the CLI reads DEFAULT_PATH without building the pydantic models

    body = _end_anchored(Spec.model_json_schema())
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **body}


def _end_anchored(node: object) -> object:
    """Every pattern's final `$` made to mean the end of the text in Python's `re` too, as it does in ECMA-262 (the
    schema's dialect) and in the validator: Python-based validators (jsonschema's `re.search`) would otherwise let a
    trailing newline through. `(?!\\n)` is a no-op in ECMA-262."""
    if isinstance(node, dict):
        return {k: (v + "(?!\\n)" if k == "pattern" and isinstance(v, str) and v.endswith("$") else _end_anchored(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_end_anchored(v) for v in node]
    return node


def text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"

"""Document -> Spec: pydantic validation with every error turned into a located, readable diagnostic."""

from __future__ import annotations

import re
import typing

from pydantic import BaseModel, ValidationError

from compiler.errors import Diagnostic, format_path, suggest
from compiler.loader import Document
from compiler.spec import Spec
from compiler.values import Yaml11, flag_problem, number_problem, read_as


def _data_path(data: object, loc: tuple) -> tuple:
    """pydantic's error loc minus its own markers (union members, validator names): the path in the data."""
    path: list = []
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
            path.append(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
            path.append(part)
    return tuple(path)


def _model_at(path: tuple, data: object) -> type[BaseModel] | None:
    """The model class that validates the mapping at `path` of `data`, to list its valid keys."""
    model: type[BaseModel] | None = Spec
    for part in path:
        data = data[part] if isinstance(data, (dict, list)) and _has(data, part) else None
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _inner_model(field.annotation, data)
    return model


def _has(data: dict | list, part: object) -> bool:
    return part in data if isinstance(data, dict) else isinstance(part, int) and 0 <= part < len(data)


def _inner_model(annotation: object, data: object = None) -> type[BaseModel] | None:
    """The model of `annotation`; of a tagged union (targets.*.backend), the member whose `type` the data names."""
    models = _models(annotation)
    tag = data.get("type") if isinstance(data, dict) else None
    for model in models:
        field = model.model_fields.get("type")
        if tag is not None and field is not None and tag in typing.get_args(field.annotation):
            return model
    return models[0] if models else None


def _models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


_TYPE_ERRORS = ("int_type", "float_type", "bool_type", "string_type", "literal_error", "dict_type", "list_type")


def _message(err: dict, path: tuple, plain: bool, data: object) -> tuple[str, bool]:
    """(message, points at the key rather than the value). `plain`: the value was written without quotes; `data`:
    the document, to find the model of a tagged union."""
    kind = err["type"]
    where = format_path(path)
    given = err.get("input")
    if isinstance(given, Yaml11) and kind in _TYPE_ERRORS:
        problem = {"int_type": number_problem, "float_type": number_problem, "bool_type": flag_problem}.get(kind)
        if problem and problem(given):
            return f"{where}: {problem(given)}", False
        expected = err["msg"].removeprefix("Input should be ")
        hint = f"; quote it: \"{given.text}\"" if kind in ("string_type", "literal_error") else ""
        return f"{where}: expected {expected}, got {given.text}, which YAML reads as {read_as(given)}{hint}", False
    if kind in ("model_type", "dict_type") and given is None:
        return (f"{where} has no value (YAML reads a key without a value as null): write {{}} for an empty mapping, "
                "or remove the key"), True
    if kind == "extra_forbidden":
        key = path[-1] if path else err["loc"][-1]
        model = _model_at(path[:-1], data)
        valid = list(model.model_fields) if model else []
        parent = format_path(path[:-1]) or "the top level"
        return f"unknown key '{key}' in {parent}{suggest(str(key), valid)}", True
    if kind == "missing":
        name = err["loc"][-1]
        parent = format_path(path) or "the top level"
        return f"missing required key '{name}' in {parent}", False
    if kind == "union_tag_invalid":
        tags = [t.strip(" '") for t in err["ctx"]["expected_tags"].split(",")]
        tag = str(err["ctx"]["tag"])
        return (f"{where}.type: unknown type '{tag}'{suggest(tag, tags)} (types: {', '.join(tags)})", False)
    if kind == "union_tag_not_found":
        return f"missing required key 'type' in {where}", False
    if kind == "literal_error" and path and path[-1] in ("apiVersion", "kind"):
        return f"{where}: {err['msg'][:1].lower()}{err['msg'][1:]}, got {err['input']!r}", False
    text = err["msg"]
    text = text.removeprefix("Value error, ")
    if "input" in err and kind not in ("value_error",):
        text += f", got {err['input']!r}" if not isinstance(err["input"], (dict, list)) else ""
    if kind in ("int_type", "float_type", "bool_type") and isinstance(given, str):
        if not plain:
            text += " (quoted values are strings in YAML: remove the quotes)"
        elif kind == "float_type" and _EXPONENT.fullmatch(given):
            text += (" (YAML 1.1 reads a number with an exponent as text unless it has a dot and a signed "
                     f"exponent: write {_dotted(given)})")
    if kind == "string_pattern_mismatch" and path and path[-1] == "name":
        text = (f"must be 1-24 characters of lowercase letters, digits and '-', start with a letter and "
                f"not end with '-', got {err['input']!r}")
    elif kind == "string_pattern_mismatch":
        text = f"{given!r} does not have the form this field takes{_example(path, data)} (pattern {err['ctx']['pattern']})"
    return f"{where}: {text}", False


_EXAMPLE = re.compile(r"\be\.g\. ([^\s,;()]+[^\s,;().])")


def _example(path: tuple, data: object) -> str:
    """", e.g. us-east-1" from the field's description, where it gives one."""
    names = [p for p in path if isinstance(p, str)]
    model = _model_at(path[:len(path) - 1 - (path[-1:] != tuple(names[-1:]))], data) if names else None
    field = model.model_fields.get(names[-1]) if model else None
    found = _EXAMPLE.search(field.description or "") if field else None
    return f", e.g. {found.group(1)}" if found else ""


_EXPONENT = re.compile(r"[-+]?[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+")


def _dotted(number: str) -> str:
    """1e309 -> 1.0e+309: the same number as YAML 1.1 writes one."""
    mantissa, _, exponent = number.lower().partition("e")
    return f"{mantissa if '.' in mantissa else mantissa + '.0'}e{exponent if exponent[:1] in '+-' else '+' + exponent}"


def parse(doc: Document) -> tuple[Spec | None, list[Diagnostic]]:
    try:
        return Spec.model_validate(doc.data), []
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            if err["type"] == "missing":
                path = _data_path(doc.data, err["loc"][:-1])
            else:
                path = _data_path(doc.data, err["loc"])
            message, at_key = _message(err, path, path in doc.plain, doc.data)
            if err["type"] == "union_tag_invalid":
                path += ("type",)
            errors.append(Diagnostic(message, doc.locate(path, key=at_key), path))
        unique = {(d.loc, d.message): d for d in errors}
        return None, list(unique.values())

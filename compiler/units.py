"""Spec value types with units: durations in seconds, CIDR blocks, HTTP success codes."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import BeforeValidator, Field, WithJsonSchema

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h)?\s*$")
_FACTOR = {None: 1, "s": 1, "m": 60, "h": 3600}
DURATION_PATTERN = r"^[0-9]+(s|m|h)?$"


def parse_duration(value: object) -> int:
    """`90`, `"90s"`, `"10m"`, `"1h"` -> seconds. Fractions and mixed units are refused, not rounded."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30, 90s, 10m or 1h, got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value}")
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return int(match.group(1)) * _FACTOR[match.group(2)]
    raise ValueError(f"expected a duration such as 30, 90s, 10m or 1h (whole seconds, minutes or hours), got {value!r}")


Seconds = Annotated[
    int,
    BeforeValidator(parse_duration),
    WithJsonSchema({
        "anyOf": [
            {"type": "integer", "minimum": 0},
            {"type": "string", "pattern": DURATION_PATTERN},
        ],
    }),
]


def parse_cidr(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a CIDR block such as 10.0.0.0/8, got {value!r}")
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a CIDR block: {exc}") from None
    return str(net)


Cidr = Annotated[str, BeforeValidator(parse_cidr), Field(json_schema_extra={"format": "cidr"})]

SUCCESS_CODES_PATTERN = r"^[1-5][0-9]{2}(-[1-5][0-9]{2})?(,[1-5][0-9]{2}(-[1-5][0-9]{2})?)*$"


def parse_success_codes(value: object) -> str:
    """HTTP codes as `200`, `200,204` or `200-299`; an int is accepted for the single-code case."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not re.match(SUCCESS_CODES_PATTERN, value.replace(" ", "")):
        raise ValueError(f"expected HTTP codes such as \"200\", \"200,204\" or \"200-299\", got {value!r}")
    value = value.replace(" ", "")
    for part in value.split(","):
        low, _, high = part.partition("-")
        if high and int(high) < int(low):
            raise ValueError(f"range {part} ends before it starts")
    return value


SuccessCodes = Annotated[
    str,
    BeforeValidator(parse_success_codes),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": SUCCESS_CODES_PATTERN},
                              {"type": "integer", "minimum": 100, "maximum": 599}]}),
]

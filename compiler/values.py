"""One validated type per kind of spec value (STYLE.md rule 13): its grammar, message and JSON Schema in one place.

Text is checked with the same character class or pattern in the validator (Python, always `re.fullmatch`) and in the
JSON Schema (ECMA-262), so editors and `infc validate` agree; compiler/schema.py makes each schema pattern's `$` mean
the end of the text for Python-based validators too. Number and boolean fields take YAML's readings only where YAML
1.1 (PyYAML, what infc and cloud-init read) and YAML 1.2 (editors, JSON Schema checks) agree.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import ipaddress
import math
import re
import unicodedata
from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter, WithJsonSchema

INT32_MAX = 2**31 - 1  # the integer type of count-like fields in the cloud APIs and Kubernetes (int32)


@dataclasses.dataclass(frozen=True)
class Kind:
    """How the spec reference (docs/spec.md) names a type (`duration`, `image reference`)."""

    name: str


# --- what YAML 1.1 reads -----------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Yaml11:
    """A scalar that PyYAML (YAML 1.1) reads as something other than its text says: `1.10` (1.1), `0755` (493),
    `2:13:20` (8000), `yes` (true), `2024-01-01` (a date). The loader hands these over instead of the bare value, so
    each type below takes one only where the reading is what the text says, and otherwise says why not."""

    value: Any
    text: str

    def __repr__(self) -> str:
        return self.text


_DECIMAL = {int: re.compile(r"[-+]?(?:0|[1-9][0-9]*)"),
            float: re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")}


def as_text(value: object) -> str | None:
    """The text a YAML number or boolean stands for where a string is expected: 8000 -> "8000", true -> "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None


def reading(value: object, text: str) -> object:
    """What the loader hands on for a scalar PyYAML constructed as `value` from `text`."""
    if value is None or isinstance(value, str) or as_text(value) == text:
        return value
    return Yaml11(value, text)


def read_as(item: Yaml11) -> str:
    """What YAML 1.1 made of the scalar: `the number 493`, `the boolean true`, `a date`."""
    value = item.value
    if isinstance(value, bool):
        return f"the boolean {as_text(value)}"
    if isinstance(value, (int, float)):
        return f"the number {as_text(value) or value}"
    if isinstance(value, datetime.datetime):
        return "a timestamp"
    if isinstance(value, datetime.date):
        return "a date"
    return f"a {type(value).__name__}"


def text_problem(item: Yaml11) -> str:
    """Why a string field refuses a scalar YAML reads as something else."""
    return f"YAML reads {item.text} as {read_as(item)}, not as the text '{item.text}'; quote it: \"{item.text}\""


def number_problem(item: Yaml11) -> str | None:
    """Why a number field refuses a reading, or None when its text is a plain decimal number."""
    text, value = item.text, item.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number, got {text}, which YAML reads as {read_as(item)}"
    if isinstance(value, float) and not math.isfinite(value):
        if text.lstrip("+-").lower() in (".inf", ".nan"):
            return f"{text} is not a finite number"
        return f"{text} is too large: YAML reads it as infinity, not a finite number"
    if _DECIMAL[type(value)].fullmatch(text):
        return None
    body, shown = text.lstrip("+-"), as_text(value)
    if ":" in body:
        kind = f"a base-60 number to YAML 1.1 ({shown}) and text to YAML 1.2"
    elif "_" in body:
        kind = f"a number with '_' separators to YAML 1.1 ({shown}) and text to YAML 1.2"
    elif body[:2].lower() == "0x":
        kind = f"a hexadecimal number ({shown})"
    elif body[:2].lower() == "0b":
        kind = f"a binary number to YAML 1.1 ({shown}) and text to YAML 1.2"
    elif body[:1] == "0" and isinstance(value, int):
        kind = f"an octal number to YAML 1.1 ({shown}) but a decimal one to YAML 1.2 ({int(body, 10)})"
    else:
        kind = f"read by YAML as {shown}"
    return f"{text} is {kind}; write numbers in plain decimal"


# --- numbers and booleans ------------------------------------------------------------------------------------------

def flag_problem(item: Yaml11) -> str | None:
    """Why a boolean field refuses a reading, or None for true/false in any case YAML 1.2 reads alike."""
    if isinstance(item.value, bool) and item.text.lower() in ("true", "false"):
        return None
    if isinstance(item.value, bool):
        return (f"YAML 1.1 reads {item.text} as {as_text(item.value)} but YAML 1.2 (editors, JSON Schema checks) as the "
                f"text '{item.text}'; write {as_text(item.value)}")
    return f"expected true or false, got {item.text}, which YAML reads as {read_as(item)}"


def numbers_and_flags(data: object, kinds: dict[str, type]) -> object:
    """A model's input with YAML's readings taken into its int, float and bool fields (`kinds`: field -> type), whose
    types stay plain so that pydantic writes their JSON Schema and bounds: a plain decimal number, or true/false, goes
    in as read; any other reading stays a Yaml11, which the field refuses and compiler/parse.py explains. A whole
    float goes into an int field as that int: JSON Schema counts 8000.0 as an integer too."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, kind in kinds.items():
        value = out.get(name)
        if isinstance(value, Yaml11) and (flag_problem(value) if kind is bool else number_problem(value)) is None:
            value = out[name] = value.value
        if kind is int and isinstance(value, float) and math.isfinite(value) and value.is_integer():
            out[name] = int(value)
    return out


# --- text ----------------------------------------------------------------------------------------------------------

# Control characters (C0, DEL, C1 with NEL) and the Unicode line and paragraph separators: each ends a line for some
# reader on the way (docker's --env-file, YAML, shells, log viewers) or is not text at all.
CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
# Command-line arguments may be several lines (an inline template): argv lists are never split on line breaks.
ARG_CONTROL = r"\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029"


_NAMES = {"\n": "line feed", "\r": "carriage return", "\t": "tab", "\x00": "NUL", "\x0b": "vertical tab",
          "\x0c": "form feed", "\x1b": "escape", "\x7f": "delete", "\x85": "next line"}


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} ({_NAMES.get(char) or unicodedata.name(char, 'a control character').lower()})"


def _text(value: object, *, scalars: bool, bad: re.Pattern[str], what: str, min_length: int) -> object:
    if isinstance(value, Yaml11):
        raise ValueError(text_problem(value))
    if scalars and as_text(value) is not None:
        value = as_text(value)
    if isinstance(value, str):
        found = bad.search(value)
        if found:
            raise ValueError(f"must be {what}: it has {_describe(found.group())} at character {found.start() + 1}")
        if len(value) < min_length:
            raise ValueError("must not be empty")
    return value


def _text_type(chars: str, *, scalars: bool, what: str, kind: str, min_length: int = 0):
    """Text without the characters of the class `chars`; the JSON Schema's pattern is the same class, negated.
    ScalarLine and Arg also take YAML numbers and booleans, as written."""
    bad = re.compile(f"[{chars}]")
    schema = {"type": ["string", "number", "boolean"] if scalars else "string", "pattern": f"^[^{chars}]*$"}
    schema.update({"minLength": min_length} if min_length else {})
    check = functools.partial(_text, scalars=scalars, bad=bad, what=what, min_length=min_length)
    return Annotated[str, BeforeValidator(check), WithJsonSchema(schema), Kind(kind)]


ONE_LINE = "one line of text without control characters"
# A single line of text (names, URIs, label values); ScalarLine also takes YAML numbers and booleans as written.
Line = _text_type(CONTROL, scalars=False, what=ONE_LINE, kind="text (one line)")
NonEmptyLine = _text_type(CONTROL, scalars=False, what=ONE_LINE, kind="text (one line)", min_length=1)
ScalarLine = _text_type(CONTROL, scalars=True, what=ONE_LINE, kind="text (one line)")
Arg = _text_type(ARG_CONTROL, scalars=True, what="text without control characters other than tab and line feed",
                 kind="text")


def grammar(body: str, what: str, *, max_length: int, kind: str, doc: str = ""):
    """A string type whose whole text matches `body`: checked here in Python (length first, so that the regex never
    sees a long input) with a message that says what is expected; the same pattern is the type's JSON Schema."""
    compiled = re.compile(body)

    def check(value: object) -> object:
        if isinstance(value, Yaml11):
            raise ValueError(text_problem(value))
        if isinstance(value, str) and (len(value) > max_length or not compiled.fullmatch(value)):
            raise ValueError(f"{value[:80]!r}{'...' if len(value) > 80 else ''} is not {what}"
                             + (f" (see {doc})" if doc else ""))
        return value

    schema = {"type": "string", "pattern": f"^(?:{body})$", "maxLength": max_length}
    return Annotated[str, BeforeValidator(check), WithJsonSchema(schema), Kind(kind)]


# OCI image reference: distribution/reference's grammar (reference.go and regexp.go; Go's \w is ASCII). A name path
# component starts with a lowercase letter or digit, so a reference never starts with '-' and is never read as an
# option by `docker run`.
_REFERENCE_DOC = "https://github.com/distribution/reference/blob/main/reference.go"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?"
# The reference's name may have 255 characters (NameTotalLengthMax); the whole reference is held to that here.
ImageRef = grammar(IMAGE_REFERENCE, "an image reference ([registry/]name[:tag][@digest]: a lowercase name, at most "
                   "255 characters)", max_length=255, kind="image reference", doc=_REFERENCE_DOC)

# Instance and VM size names as the clouds spell them: g6.2xlarge, Standard_NC24ads_A100_v4, a2-highgpu-1g.
InstanceTypeName = grammar(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", "an instance type name (letters, digits, '.', '_' "
                           "and '-', starting with a letter or digit)", max_length=64, kind="instance type")

# An HTTP path as RFC 3986 writes one (path and query characters, percent-encoded otherwise); 1024 is the ALB's
# health-check path limit, the shortest of the targets'.
HttpPath = grammar(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*", "an HTTP path: '/' followed by the characters RFC 3986 "
                   "allows in a path or query, others percent-encoded", max_length=1024, kind="HTTP path",
                   doc="https://www.rfc-editor.org/rfc/rfc3986#section-3.3")

# An id or name handed to a cloud as it is (a certificate ARN, a network self-link): one token, no spaces.
SPACE_OR_CONTROL = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
Identifier = grammar(f"[^{SPACE_OR_CONTROL}]+", "a name or id without spaces or control characters",
                     max_length=2048, kind="text (one token)")

# Environment variable names: what POSIX shells and docker's --env-file take (portable names).
EnvName = grammar(r"[A-Za-z_][A-Za-z0-9_]*", "a valid variable name (letters, digits and '_', not starting with a "
                  "digit)", max_length=256, kind="variable name")

# EC2 resource ids: a prefix, '-' and 8 or 17 lowercase hexadecimal digits
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/resource-ids.html).
def _aws_id(prefix: str, what: str):
    return grammar(rf"{prefix}-[0-9a-f]+", f"{what} id ('{prefix}-' and hexadecimal digits, e.g. "
                   f"{prefix}-0a1b2c3d4e5f60718)", max_length=len(prefix) + 18, kind=f"{what} id",
                   doc="https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/resource-ids.html")


VpcId = _aws_id("vpc", "a VPC")
SubnetId = _aws_id("subnet", "a subnet")
AmiId = _aws_id("ami", "an AMI")

# An OpenSSH public key line: type, base64 key, optional comment; one line, so no second key rides along.
SshPublicKey = grammar(r"(?:ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)) [A-Za-z0-9+/]+={0,3}"
                       r"(?: [^\x00-\x1f\x7f-\x9f\u2028\u2029]*)?",
                       "an OpenSSH public key line (ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp256 AAAA... [comment])",
                       max_length=16384, kind="SSH public key")


# --- model artifacts and secrets ---------------------------------------------------------------------------------

# Where model.uri may point: the stores KServe's storage initializer downloads from with a replica's own identity
# (kserve/kserve python/storage/kserve_storage/kserve_storage.py at v0.20.0: s3://, gs://, Azure Blob URLs, hf://),
# and Azure ML registry models, which only the azureml target mounts. Bucket, account and container names follow
# each store's naming rules; keys and paths are one token (no spaces or control characters).
_KEY = f"[^{SPACE_OR_CONTROL}]*"
S3_URI = rf"s3://([a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9])(?:/({_KEY}))?"
GS_URI = rf"gs://([a-z0-9][a-z0-9._-]{{1,220}}[a-z0-9])(?:/({_KEY}))?"
BLOB_URI = (rf"https://([a-z0-9]{{3,24}})\.blob\.core\.windows\.net/"
            rf"([a-z0-9][a-z0-9-]{{1,61}}[a-z0-9])/({_KEY})")
# hf://<org>/<model>[@<revision>], as huggingface_hub's own hf:// paths write a revision; the revision is a branch,
# tag or commit without '/', because KServe splits the URI at '/' (and takes the revision after ':').
HF_URI = (r"hf://([A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95})"
          r"(?:@([A-Za-z0-9][A-Za-z0-9._-]{0,127}))?")
AZUREML_URI = (r"azureml://registries/([A-Za-z0-9][A-Za-z0-9_-]{2,32})/models/"
               r"([A-Za-z0-9][A-Za-z0-9._-]{0,254})/versions/([A-Za-z0-9][A-Za-z0-9._-]{0,63})")
MODEL_URI = "|".join((S3_URI, GS_URI, BLOB_URI, HF_URI, AZUREML_URI))
MODEL_URI_FORMS = ("s3://<bucket>/<prefix>, gs://<bucket>/<prefix>, https://<account>.blob.core.windows.net/<container>/"
                   "<path>, hf://<org>/<model>[@<revision>] or azureml://registries/<registry>/models/<name>/versions/"
                   "<version>")
ModelUri = grammar(MODEL_URI, f"a model location infc can deliver: {MODEL_URI_FORMS}", max_length=2048,
                   kind="model URI")

# Secret references, one grammar per store. AWS: a Secrets Manager secret's complete ARN (with the 6 characters
# Secrets Manager appends to its name, which the read grant names exactly) or an SSM parameter's ARN
# (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html#iam-resources).
AWS_SECRET = (r"arn:aws[a-z-]*:(?:secretsmanager:[a-z]{2}(?:-gov)?-[a-z]+-[0-9]:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+"
              r"-[A-Za-z0-9]{6}|ssm:[a-z]{2}(?:-gov)?-[a-z]+-[0-9]:[0-9]{12}:parameter/[A-Za-z0-9_.-][A-Za-z0-9_./-]*)")
AwsSecretRef = grammar(AWS_SECRET, "a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:"
                       "<name>-<6 characters>, as the console shows it) or an SSM parameter ARN "
                       "(arn:aws:ssm:<region>:<account>:parameter/<name>)", max_length=2048, kind="AWS secret ARN")
# Google Cloud Secret Manager: projects/<project id or number>/secrets/<id>[/versions/<n>|latest].
GCP_SECRET = (r"projects/(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})/secrets/[A-Za-z0-9_-]{1,255}"
              r"(?:/versions/(?:latest|[1-9][0-9]{0,18}))?")
GcpSecretRef = grammar(GCP_SECRET, "a Secret Manager secret or version name (projects/<project>/secrets/<secret>"
                       "[/versions/<version>|latest])", max_length=512, kind="Secret Manager name")
# Azure Key Vault: the secret's URL, as Key Vault prints it (az keyvault secret show --query id), with or without
# its version: vault names are 3-24 letters, digits and '-'; secret names 1-127 letters, digits and '-'.
AZURE_SECRET = (r"https://([A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9])\.vault\.azure\.net/secrets/"
                r"([A-Za-z0-9-]{1,127})(?:/([0-9a-f]{32}))?")
AzureSecretRef = grammar(AZURE_SECRET, "a Key Vault secret URL (https://<vault>.vault.azure.net/secrets/<name>"
                         "[/<version>])", max_length=512, kind="Key Vault secret URL")
# A Kubernetes Secret in the workload's namespace and one of its keys: <secret name>/<key>.
KUBERNETES_SECRET = r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/[-._A-Za-z0-9]{1,253}"
KubernetesSecretRef = grammar(KUBERNETES_SECRET, "<secret name>/<key> of a Kubernetes Secret in the service's "
                              "namespace", max_length=507, kind="Secret name/key")


def mapping(key: Any, value: Any):
    """dict[key, value] whose JSON Schema checks every key (`propertyNames`); pydantic would write the key's pattern
    as `patternProperties`, which lets any key that does not match through unchecked."""
    schema = {"type": "object", "propertyNames": TypeAdapter(key).json_schema(),
              "additionalProperties": TypeAdapter(value).json_schema()}
    return Annotated[dict[key, value], WithJsonSchema(schema)]


# --- units -------------------------------------------------------------------------------------------------------

# Whole seconds, minutes or hours in ASCII digits, each under 32 years (and a 32-bit integer of seconds).
DURATION = r"[0-9]{1,9}s?|[0-9]{1,7}m|[0-9]{1,5}h"
MAX_DURATION_S = 999_999_999
_FACTOR = {"s": 1, "m": 60, "h": 3600}
_DURATION_HINT = "expected a duration such as 30, 90s, 10m or 1h (whole seconds, minutes or hours)"
_DURATION_DIGITS = "durations have at most 9 digits of seconds, 7 of minutes or 5 of hours (under 32 years)"


def parse_duration(value: object) -> int:
    """`90`, `"90s"`, `"10m"`, `"1h"` -> seconds. Fractions, mixed units, spaces and non-ASCII digits are refused."""
    if isinstance(value, Yaml11):
        problem = number_problem(value)
        if problem:
            raise ValueError(problem + (" (a duration may also take a unit: 5m)" if ":" in value.text else ""))
        value = value.value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= MAX_DURATION_S:
            raise ValueError(f"{_DURATION_HINT}, got {value}: it must be 0-{MAX_DURATION_S} seconds")
        return value
    if isinstance(value, str) and re.fullmatch(DURATION, value):
        unit = value[-1] if value[-1] in _FACTOR else "s"
        return int(value.rstrip("smh")) * _FACTOR[unit]
    if isinstance(value, str) and re.fullmatch(r"[0-9]+[smh]?", value):
        raise ValueError(f"{_DURATION_HINT}, got {value!r}: {_DURATION_DIGITS}")
    raise ValueError(f"{_DURATION_HINT}, got {value!r}")


Seconds = Annotated[int, BeforeValidator(parse_duration), Kind("duration"), WithJsonSchema({"anyOf": [
    {"type": "integer", "minimum": 0, "maximum": MAX_DURATION_S},
    {"type": "string", "pattern": f"^(?:{DURATION})$"}]})]

# The prefix-length form only (10.0.0.0/8, 2001:db8::/32); ipaddress also takes netmasks, which the schema does not.
CIDR_SHAPE = r"[0-9a-fA-F.:]+/[0-9]{1,3}"


def parse_cidr(value: object) -> str:
    if isinstance(value, Yaml11):
        raise ValueError(text_problem(value))
    if not isinstance(value, str):
        raise ValueError(f"expected a CIDR block such as 10.0.0.0/8, got {value!r}")
    try:
        if len(value) > 64 or not re.fullmatch(CIDR_SHAPE, value):
            raise ValueError("an address, '/' and a prefix length")
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"'{value[:80]}' is not a CIDR block: {exc}") from None
    return str(net)


Cidr = Annotated[str, BeforeValidator(parse_cidr), Kind("CIDR"),
                 WithJsonSchema({"type": "string", "pattern": f"^(?:{CIDR_SHAPE})$", "format": "cidr"})]

SUCCESS_CODES = r"[1-5][0-9]{2}(?:-[1-5][0-9]{2})?(?:,[1-5][0-9]{2}(?:-[1-5][0-9]{2})?)*"


def parse_success_codes(value: object) -> str:
    """HTTP codes as `200`, `200,204` or `200-299`; an integer is accepted for the single-code case."""
    value = numbers_and_flags({"v": value}, {"v": int})["v"]
    if isinstance(value, Yaml11):
        raise ValueError(number_problem(value) or text_problem(value))
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > 256 or not re.fullmatch(SUCCESS_CODES, value):
        raise ValueError(f"expected HTTP codes such as \"200\", \"200,204\" or \"200-299\", got {value!r}")
    for part in value.split(","):
        low, _, high = part.partition("-")
        if high and int(high) < int(low):
            raise ValueError(f"range {part} ends before it starts")
    return value


SuccessCodes = Annotated[str, BeforeValidator(parse_success_codes), Kind("HTTP codes"), WithJsonSchema({"anyOf": [
    {"type": "string", "pattern": f"^(?:{SUCCESS_CODES})$"}, {"type": "integer", "minimum": 100, "maximum": 599}]})]



# --- labels and tags, per cloud: each target checks its own where it emits them --------------------------------

Problems = list[tuple[str | None, str]]  # (the label key it is about, or None for all of them; the message)

AWS_TAGS_DOC = "https://docs.aws.amazon.com/IAM/latest/APIReference/API_Tag.html"
AWS_EC2_TAGS_DOC = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Tag.html"
AWS_IAM_CASE_DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html#id_tags_rules"
AZURE_TAGS_DOC = "https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/tag-resources#limitations"
GCP_LABELS_DOC = "https://cloud.google.com/compute/docs/labeling-resources#requirements"
KUBERNETES_LABELS_DOC = "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set"


def _bad_char(text: str, allowed) -> str | None:
    return next((_describe(c) if not c.isprintable() or c.isspace() else f"'{c}'" for c in text if not allowed(c)),
                None)


def _case_twins(keys, what: str, doc: str) -> Problems:
    seen: dict[str, str] = {}
    out: Problems = []
    for key in keys:
        if key.casefold() in seen:
            out.append((key, f"keys '{seen[key.casefold()]}' and '{key}' differ only in case, and {what} (see {doc})"))
        seen.setdefault(key.casefold(), key)
    return out


def _aws_char(c: str) -> bool:
    return unicodedata.category(c)[0] in "LZN" or c in "_.:/=+-@"


def aws_tag_problems(tags: list[tuple[str, str]], reserved: tuple[str, ...]) -> Problems:
    """AWS tags as infc applies them: provider default_tags reach every resource, the IAM role too, whose rules are
    the strictest (AWS_TAGS_DOC: letters, numbers, spaces and _ . : / = + - @; keys 1-128, values 0-256); EC2 keys
    take at most 127 characters and never start with aws: (AWS_EC2_TAGS_DOC); IAM keys ignore case
    (AWS_IAM_CASE_DOC). `reserved`: keys infc sets itself."""
    out: Problems = []
    if len(tags) + len(reserved) > 50:
        out.append((None, f"{len(tags)} labels, and infc adds {len(reserved)} tag(s) ({', '.join(reserved)}): an AWS "
                          f"resource takes at most 50 tags (see {AWS_EC2_TAGS_DOC})"))
    for key, value in tags:
        bad_key, bad_value = _bad_char(key, _aws_char), _bad_char(value, _aws_char)
        if key in reserved:
            problem = f"tag '{key}' is set by infc (the replicas' {key} is metadata.name); use another key"
        elif not key:
            problem = f"a tag key is empty; AWS tag keys have 1-127 characters (see {AWS_EC2_TAGS_DOC})"
        elif len(key) > 127:
            problem = f"tag key '{key[:40]}...' has {len(key)} characters; AWS takes at most 127 (see {AWS_EC2_TAGS_DOC})"
        elif key[:4].casefold() == "aws:":
            problem = f"tag key '{key}' starts with 'aws:', which AWS reserves in any case (see {AWS_EC2_TAGS_DOC})"
        elif len(value) > 256:
            problem = f"tag '{key}' has a value of {len(value)} characters; AWS takes at most 256 (see {AWS_TAGS_DOC})"
        elif bad_key or bad_value:
            problem = (f"tag '{key}' has the character {bad_key or bad_value} in its {'key' if bad_key else 'value'}; "
                       f"AWS tags take letters, digits, spaces and _ . : / = + - @ (see {AWS_TAGS_DOC})")
        else:
            continue
        out.append((key, problem))
    return out + _case_twins([k for k, _ in tags], "the IAM role's tags take keys regardless of case",
                             AWS_IAM_CASE_DOC)


def azure_tag_problems(tags: list[tuple[str, str]], max_key: int = 512) -> Problems:
    """Azure tags (AZURE_TAGS_DOC): at most 50; names of 1-512 characters (128 on storage accounts) without
    < > % & \\ ? /, values up to 256; names are case-insensitive."""
    out: Problems = []
    if len(tags) > 50:
        out.append((None, f"{len(tags)} labels; an Azure resource takes at most 50 tags (see {AZURE_TAGS_DOC})"))
    for key, value in tags:
        bad = next((c for c in key if c in "<>%&\\?/"), None)
        if not key:
            problem = f"a tag name is empty; Azure tag names have 1-{max_key} characters (see {AZURE_TAGS_DOC})"
        elif len(key) > max_key:
            problem = (f"tag name '{key[:40]}...' has {len(key)} characters; Azure takes at most {max_key} here "
                       f"(see {AZURE_TAGS_DOC})")
        elif bad:
            problem = f"tag name '{key}' has '{bad}'; Azure tag names cannot hold < > % & \\ ? / (see {AZURE_TAGS_DOC})"
        elif len(value) > 256:
            problem = f"tag '{key}' has a value of {len(value)} characters; Azure takes at most 256 (see {AZURE_TAGS_DOC})"
        else:
            continue
        out.append((key, problem))
    return out + _case_twins([k for k, _ in tags], "Azure tag names are case-insensitive", AZURE_TAGS_DOC)


def _gcp_char(c: str) -> bool:
    return unicodedata.category(c) in ("Ll", "Lo") or unicodedata.category(c)[0] == "N" or c in "_-"


def gcp_label_problems(labels: list[tuple[str, str]]) -> Problems:
    """Google Cloud labels (GCP_LABELS_DOC): at most 64; keys and values of lowercase letters (international ones
    too), digits, '_' and '-', at most 63 characters and 128 bytes; keys start with a lowercase letter."""
    out: Problems = []
    if len(labels) > 64:
        out.append((None, f"{len(labels)} labels; Google Cloud resources take at most 64 (see {GCP_LABELS_DOC})"))
    for key, value in labels:
        if not (key and unicodedata.category(key[0]) in ("Ll", "Lo") and all(map(_gcp_char, key))
                and len(key) <= 63 and len(key.encode()) <= 128):
            out.append((key, f"label key '{key}' is not a Google Cloud label key: 1-63 lowercase letters, digits, '_' "
                             f"or '-', starting with a letter (see {GCP_LABELS_DOC})"))
        elif not (all(map(_gcp_char, value)) and len(value) <= 63 and len(value.encode()) <= 128):
            out.append((key, f"label '{key}' has value '{value}'; Google Cloud label values are 0-63 lowercase "
                             f"letters, digits, '_' or '-' (see {GCP_LABELS_DOC})"))
    return out


_LABEL_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")


def dns_subdomain(name: str) -> bool:
    return len(name) <= 253 and DNS_SUBDOMAIN.fullmatch(name) is not None


def kubernetes_label_problem(key: str, value: str) -> str | None:
    """Why `key: value` is not a valid Kubernetes label (KUBERNETES_LABELS_DOC), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and not dns_subdomain(prefix):
        return f"key prefix '{prefix}' must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253)"
    if not _LABEL_NAME.fullmatch(name):
        return (f"key name '{name}' must be 1-63 characters: letters, digits, '-', '_' or '.', starting and ending "
                "with a letter or digit")
    if value and not _LABEL_NAME.fullmatch(value):
        return ("value must be empty or 1-63 characters: letters, digits, '-', '_' or '.', starting and ending with "
                "a letter or digit")
    return None

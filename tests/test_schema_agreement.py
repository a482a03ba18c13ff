"""The JSON Schema and infc's field checks agree on every field: the same documents go to both.

What is compared, precisely:
- infc: the field-level stages, loader + spec models (compiler.loader, compiler.parse), on the document written as
  YAML by PyYAML (which quotes every string another type would be read from, so infc reads back the very value the
  schema sees). Cross-field rules (compiler/validate.py), the catalog and the targets' limits are infc's alone: the
  schema does not claim them, so they are not compared.
- schema: schema/infc.schema.json with a Draft 2020-12 validator (jsonschema, Python's `re` for patterns).
- documents: a base document valid for every target, with one field set to each value of a pool of odd values
  (newlines, '-' prefixes, non-ASCII digits, huge numbers, empty and over-long strings, wrong types) and, for the
  text-like fields, Hypothesis-drawn strings.

Equality is asserted for every field except where the schema states a shape and infc checks more:
- CIDR blocks (allowed_cidrs, master_authorized_cidrs, public_access_cidrs, api_authorized_cidrs): the schema checks
  the address/prefix shape; that the address parses, the prefix fits and no host bits are set is infc's. Asserted:
  infc accepts => schema accepts.
- success_codes: a range that ends before it starts ("299-200"). Asserted the same way.
Not compared: YAML 1.1 spellings (0x1F40, 1.10, yes): the schema sees data, not text (tests/test_hostile.py covers
them); NaN and infinities and lone surrogates, which JSON documents cannot hold (and infc refuses when loading).
"""

from __future__ import annotations

import copy
import json
import typing

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from compiler import schema
from compiler.errors import CompileError
from compiler.loader import load_text
from compiler.spec import Spec
from tests.conftest import ROOT

SCHEMA = json.loads((ROOT / schema.DEFAULT_PATH).read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

BASE = {
    "apiVersion": "infc/v1", "kind": "InferenceService",
    "metadata": {"name": "svc", "labels": {"team": "ml"}},
    "model": {"name": "m", "image": "vllm/vllm-openai:v0.6.3", "uri": "s3://bkt/m/", "port": 8000, "args": ["--x"],
              "env": {"A": "1"}},
    "hardware": {"accelerator": "nvidia-l4", "count": 1, "cpus": 8, "memory_gib": 32, "disk_gib": 100, "spot": False,
                 "arch": "x86_64", "instance_types": {"aws": "g6.2xlarge"}},
    "replicas": {"min": 1, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 50, "scale_out_delay": 60,
                                                   "scale_in_delay": "5m"}},
    "load_balancer": {"public": True, "allowed_cidrs": ["0.0.0.0/0"], "listeners": [
        {"port": 443, "protocol": "https"}, {"port": 80, "protocol": "http", "redirect_to": 443}],
        "idle_timeout": 240, "drain_timeout": "30s", "stickiness": False},
    "probes": {"readiness": {"path": "/health", "port": 8000, "timeout": 5, "interval": 15, "healthy_threshold": 2,
                             "unhealthy_threshold": 3, "success_codes": "200", "initial_delay": "10m"},
               "liveness": {"path": "/live", "port": 8000, "timeout": 5, "interval": 30, "failure_threshold": 5}},
    "targets": {
        "aws": {"region": "us-east-1", "certificate": "arn:aws:acm:us-east-1:1:certificate/x", "vpc_id": "vpc-0a",
                "subnet_ids": ["subnet-0a", "subnet-0b"], "image": "ami-0a", "replica_subnet_ids": ["subnet-0c"],
                "deletion_protection": False, "access_logs_bucket": "logs-bucket",
                "waf_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/acl/0a-1"},
        "azure": {"location": "eastus", "certificate": "https://kv.vault.azure.net/secrets/c", "resource_group": "rg",
                  "subnet_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/"
                               "subnets/s",
                  "image": "Canonical:ubuntu:22_04-lts:latest", "ssh_public_key": "ssh-ed25519 AAAAC3Nz me@host",
                  "encryption_at_host": False, "waf": "detection",
                  "waf_policy_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/"
                                   "ApplicationGatewayWebApplicationFirewallPolicies/p"},
        "gcp": {"project": "acme-ml", "region": "us-central1", "certificate": "projects/p/global/sslCertificates/c",
                "network": "default", "subnet": "default", "image": "my-image", "secure_boot": True,
                "private_replicas": False, "cloud_nat": True},
        "kubernetes": {"cpu_limit": 8, "liveness_from_readiness": True, "run_as_user": 1000,
                       "writable_dirs": ["/tmp"], "certificate": "tls", "namespace": "ml", "namespace_exists": False,
                       "node_selector": {"pool": "gpu"}, "host": "a.example.com", "ingress_class": "nginx"},
        "azureml": {"location": "eastus", "resource_group": "rg", "image": "acme.azurecr.io/m:1",
                    "container_registry_id": "/subscriptions/s/resourceGroups/rg/providers/"
                                             "Microsoft.ContainerRegistry/registries/r", "purge_protection": False},
        "gke": {"project": "acme-ml", "region": "us-central1", "certificate": "cert", "namespace": "ml",
                "host": "a.example.com", "master_authorized_cidrs": ["10.0.0.0/8"], "private_nodes": False,
                "cloud_nat": True, "binary_authorization": False, "security_group": "gke-security-groups@example.com",
                "cpu_limit": 8, "liveness_from_readiness": True, "run_as_user": 1000, "writable_dirs": ["/tmp"]},
        "eks": {"region": "us-east-1", "certificate": "arn:aws:acm:us-east-1:1:certificate/x", "vpc_id": "vpc-0a",
                "subnet_ids": ["subnet-0a", "subnet-0b"], "namespace": "ml", "host": "a.example.com",
                "public_access_cidrs": ["10.0.0.0/8"], "registry": True,
                "cpu_limit": 8, "liveness_from_readiness": True, "run_as_user": 1000, "writable_dirs": ["/tmp"]},
        "aks": {"location": "eastus", "certificate": "https://kv.vault.azure.net/certificates/c", "resource_group": "rg",
                "subnet_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/"
                             "subnets/s", "namespace": "ml", "host": "a.example.com",
                "key_vault_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv",
                "api_authorized_cidrs": ["10.0.0.0/8"], "registry": True,
                "container_registry_id": "/subscriptions/s/resourceGroups/rg/providers/"
                                         "Microsoft.ContainerRegistry/registries/r",
                "azureml_compute": {"workspace_id": "/subscriptions/s/resourceGroups/rg/providers/"
                                                    "Microsoft.MachineLearningServices/workspaces/w"},
                "cpu_limit": 8, "liveness_from_readiness": True, "run_as_user": 1000, "writable_dirs": ["/tmp"]},
        "aca": {"location": "westus3", "resource_group": "rg"},
    },
}

# Fields where the schema states only the shape (see the module docstring): infc accepting implies the schema does.
SUPERSET = {("load_balancer", "allowed_cidrs"), ("targets", "gke", "master_authorized_cidrs"),
            ("targets", "gcp", "proxy_subnet_cidr"), ("targets", "eks", "public_access_cidrs"),
            ("targets", "aks", "api_authorized_cidrs"),
            ("probes", "readiness", "success_codes")}

STRINGS = ["", "x", "-x", "--privileged", "a\n", "a\r\n", "\n", "a\u2028b", "a\x85b", "a\tb", "a\x00b", " a", "a ",
           "\U0001F600", "é", "a${x}", "%{x}", "３００s", "٣٠٠", " 300 s ", "300\n", "300", "5m", "1h", "1h30m",
           "999999999", "1000000000", "9999999m", "99999h", "100000h", "vllm/vllm-openai:v0.6.3", "Vllm/x:1",
           "x:" + "a" * 129, "a" * 255, "a" * 256, "a" * 2049, "10.0.0.0/8", "10.0.0.1/8", "::/0", "10.0.0.0/255.0.0.0",
           "10.0.0.0/33", "200", "200-299", "299-200", "200,204", "200, 204", "/health", "/a b", "/a\n", "health",
           "subnet-0a", "ami-0a", "vpc-0a", "eastus", "us-east-1", "us-central1", "acme-ml", "rg", "rg.", "rg\n",
           "ssh-ed25519 AAAA x", "ssh-ed25519 AAAA\nssh-rsa BBBB", "ecdsa-sha2-nistp256 AAAA", "g6.2xlarge",
           "${file(\"/etc/passwd\")}", "nvidia-l4", "none", "http", "https", "x86_64", "cpu_percent", "detection",
           "infc/v1", "InferenceService", "svc", "svc\n", "A", "A_1", "/tmp", "/tmp\n", "gke-security-groups@a.b",
           "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/é/0a", "https://kv.vault.azure.net/secrets/c d"]
# Floats that PyYAML writes as their repr (1e+300 it writes 1.0e+300, which reads back as a different text).
NUMBERS = [0, 1, -1, 2, 8, 100, 443, 8000, 65535, 65536, 2**31 - 1, 2**31, 10**21, 0.5, 1.5, 300.0, 8000.0, 1e6,
           1e6 + 1, 1048576, 1048577, 123456789012.0, -0.5]
OTHERS = [True, False, None, [], {}, ["x"], [1], {"a": "b"}, {"A_1": "x"}, {"1A": "x"}, {"a\n": "x"}, {"": "x"},
          {"k": "v\n"}, {"k": 5}, {"k": True}, {"k": None}, ["10.0.0.0/8", "10.0.0.1/8"], ["subnet-0a"],
          [{"port": 80, "protocol": "http"}]]
POOL = STRINGS + NUMBERS + OTHERS


def _fields(model: type[BaseModel], prefix: tuple = ()) -> list[tuple]:
    """Every field path of the spec models (lists and mappings of models stop at the list or mapping)."""
    out = []
    for name, field in model.model_fields.items():
        out.append(prefix + (name,))
        container = typing.get_origin(field.annotation) in (list, dict)
        inner = [] if container else [a for a in typing.get_args(field.annotation)
                                      if isinstance(a, type) and issubclass(a, BaseModel)]
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            inner = [field.annotation]
        for sub in inner:
            out += _fields(sub, prefix + (name,))
    return out


FIELDS = _fields(Spec) + [("load_balancer", "listeners", 0, key) for key in ("port", "protocol", "redirect_to")]


def _with(path: tuple, value) -> dict:
    doc = copy.deepcopy(BASE)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = copy.deepcopy(value)
    return doc


def read_by_infc(value):
    """`value` written by PyYAML and read by infc's loader, or None if the loader refuses it. The loader reads each
    node on its own, so reading the one changed value is reading it inside the whole document (BASE is plain data
    that it reads as is), at a fraction of the cost."""
    raw = yaml.safe_dump({"v": value}).encode()  # ASCII: with allow_unicode PyYAML writes U+0085 raw
    try:
        (loaded,) = load_text("doc.yaml", raw)
    except CompileError:
        return None
    assert loaded.data == {"v": value}, "PyYAML did not read back what it wrote: the comparison would not be fair"
    return loaded.data


def infc_accepts(path: tuple, value) -> bool:
    loaded = read_by_infc(value)
    if loaded is None:
        return False
    try:
        Spec.model_validate(_with(path, loaded["v"]))
    except ValidationError:
        return False
    return True


def schema_accepts(doc: dict) -> bool:
    return VALIDATOR.is_valid(doc)


def agree(path: tuple, value) -> str | None:
    """None when the two agree (as defined above) on BASE with `path` set to `value`; else what differs."""
    ours, theirs = infc_accepts(path, value), schema_accepts(_with(path, value))
    if ours == theirs or (path[:3] in SUPERSET or path[:2] in SUPERSET) and not ours:
        return None
    return f"{'.'.join(map(str, path))} = {value!r}: infc {'accepts' if ours else 'refuses'}, the schema " \
           f"{'accepts' if theirs else 'refuses'}"


def test_the_base_document_passes_both():
    assert infc_accepts(("metadata",), BASE["metadata"]) and schema_accepts(BASE)


@pytest.mark.parametrize("path", FIELDS, ids=[".".join(map(str, p)) for p in FIELDS])
def test_every_field_agrees_on_every_odd_value(path):
    found = [problem for value in POOL if (problem := agree(path, value))]
    assert found == []


# Text-like fields get drawn strings too: any Unicode (no lone surrogates: not text) and ASCII near their grammars.
TEXT_FIELDS = [("model", "name"), ("model", "image"), ("model", "uri"), ("hardware", "accelerator"),
               ("probes", "readiness", "path"), ("probes", "readiness", "interval"),
               ("probes", "readiness", "success_codes"), ("load_balancer", "idle_timeout"), ("targets", "aws", "region"),
               ("targets", "azure", "ssh_public_key"), ("targets", "gcp", "network"), ("metadata", "name"),
               ("targets", "azure", "resource_group"), ("targets", "kubernetes", "ingress_class")]
TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.text("aZ09-_./:@ \n\t$%{}sm", max_size=12)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEXT_FIELDS), TEXT)
def test_drawn_strings_agree(path, text):
    assert agree(path, text) is None


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.dictionaries(TEXT, TEXT | st.integers(-10**6, 10**6) | st.booleans(), max_size=3),
       st.sampled_from([("model", "env"), ("metadata", "labels"), ("targets", "kubernetes", "node_selector")]))
def test_drawn_mappings_agree(mapping, path):
    assert agree(path, mapping) is None

"""targets.<t>.backend: the Terraform backend each stack gets, its defaults, and real Terraform accepting it."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest
import yaml

from compiler import state_backend
from compiler.cli import main
from tests.conftest import spec_dict, terraform
S3 = {"type": "s3", "bucket": "acme-tf-state"}
GCS = {"type": "gcs", "bucket": "acme-tf-state"}
AZURERM = {"type": "azurerm", "resource_group_name": "tfstate", "storage_account_name": "acmetfstate",
           "container_name": "tfstate"}


@pytest.mark.parametrize("target, settings, expected", [
    ("aws", {"region": "eu-west-1"}, ("local", {"path": "terraform.tfstate"})),
    ("aws", {"region": "eu-west-1", "backend": {"type": "local", "path": "/srv/state/x.tfstate"}},
     ("local", {"path": "/srv/state/x.tfstate"})),
    ("aws", {"region": "eu-west-1", "backend": S3},
     ("s3", {"bucket": "acme-tf-state", "key": "infc/svc-aws/terraform.tfstate", "region": "eu-west-1",
             "use_lockfile": True, "encrypt": True})),
    ("gcp", {"backend": {**S3, "region": "us-east-2", "dynamodb_table": "locks", "key": "k"}},
     ("s3", {"bucket": "acme-tf-state", "key": "k", "region": "us-east-2", "dynamodb_table": "locks",
             "use_lockfile": False, "encrypt": True})),
    ("gcp", {"backend": GCS}, ("gcs", {"bucket": "acme-tf-state", "prefix": "infc/svc-gcp"})),
    ("azure", {"backend": {**AZURERM, "use_azuread_auth": False}},
     ("azurerm", {**{k: v for k, v in AZURERM.items() if k != "type"}, "key": "infc/svc-azure.tfstate",
                  "use_azuread_auth": False})),
])
def test_defaults_name_the_stack_and_lock_the_state(target, settings, expected):
    assert state_backend.resolve(f"svc-{target}", target, settings) == expected


def synthesized(tmp_path: pathlib.Path, targets: dict) -> dict[str, dict]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(hardware={"accelerator": "none"}, targets=targets)))
    assert main(["synth", str(spec), "--out", str(tmp_path / "out")]) == 0
    return {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "out" / "stacks").glob("*/cdk.tf.json")}


def test_every_target_emits_its_backend(tmp_path):
    stacks = synthesized(tmp_path, {
        "aws": {"region": "us-east-1", "backend": S3},
        "gcp": {"project": "acme-ml", "region": "us-central1", "backend": GCS},
        "kubernetes": {"backend": AZURERM},
        "azureml": {"location": "eastus", "backend": {"type": "local", "path": "../../state/ml.tfstate"}},
        "azure": {"location": "eastus"},
    })
    backends = {name: doc["terraform"]["backend"] for name, doc in stacks.items()}
    assert backends == {
        "svc-aws": {"s3": {"bucket": "acme-tf-state", "encrypt": True, "key": "infc/svc-aws/terraform.tfstate",
                           "region": "us-east-1", "use_lockfile": True}},
        "svc-gcp": {"gcs": {"bucket": "acme-tf-state", "prefix": "infc/svc-gcp"}},
        "svc-kubernetes": {"azurerm": {"container_name": "tfstate", "key": "infc/svc-kubernetes.tfstate",
                                       "resource_group_name": "tfstate", "storage_account_name": "acmetfstate",
                                       "use_azuread_auth": True}},
        "svc-azureml": {"local": {"path": "../../state/ml.tfstate"}},
        "svc-azure": {"local": {"path": "terraform.tfstate"}},
    }
    # S3-native locking needs Terraform 1.10: the stack requires it; the others require nothing.
    assert {n: d["terraform"].get("required_version") for n, d in stacks.items()} == {
        "svc-aws": ">= 1.10.0", "svc-gcp": None, "svc-kubernetes": None, "svc-azureml": None, "svc-azure": None}


@pytest.mark.parametrize("backend, message", [
    ({"type": "s3"}, "missing required key 'bucket' in targets.gcp.backend"),
    ({"type": "s3", "bucket": "acme-tf-state"}, "targets.gcp.backend: an s3 backend needs region"),
    ({"type": "gcz", "bucket": "x"}, "targets.gcp.backend.type: unknown type 'gcz'; did you mean 'gcs'?"),
    ({"type": "gcs", "bucket": "x", "prefx": "y"}, "unknown key 'prefx' in targets.gcp.backend; did you mean 'prefix'?"),
    ({"type": "s3", "bucket": "b", "region": "us-east-1", "secret_key": "x"}, "unknown key 'secret_key'"),
    ({"bucket": "x"}, "missing required key 'type' in targets.gcp.backend"),
])
def test_backend_mistakes_are_located_errors(tmp_path, capsys, backend, message):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(hardware={"accelerator": "none"}, targets={
        "gcp": {"project": "acme-ml", "region": "us-central1", "backend": backend}})))
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith(f"{spec}:"), err


def terraform_init(work: pathlib.Path, backend: dict, *extra: str) -> subprocess.CompletedProcess:
    work.mkdir(parents=True, exist_ok=True)
    (work / "main.tf.json").write_text(json.dumps({"terraform": {"backend": backend}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GOOGLE_", "ARM_", "TF_"))}
    env.update(TF_CLI_CONFIG_FILE=os.devnull, CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", HOME=str(work))
    return subprocess.run([terraform(), "init", "-input=false", "-no-color", *extra], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("target, backend, reached", [
    # Offline and without credentials, init gets past decoding the configuration and stops at the first call out.
    ("gcp", GCS, "could not find default credentials"),
    ("azure", AZURERM, "unable to build authorizer for Storage API"),
    ("aws", {**S3, "dynamodb_table": "locks"}, "No valid credential sources found"),
    ("aws", {"type": "local", "path": "state/x.tfstate"}, None),
])
def test_terraform_decodes_the_emitted_backend(tmp_path, target, backend, reached):
    """Terraform 1.11.4 itself reads each emitted backend block: no unknown, missing or mistyped argument."""
    settings = {"aws": {"region": "us-east-1"}, "gcp": {"project": "acme-ml", "region": "us-central1"},
                "azure": {"location": "eastus"}}[target]
    doc = synthesized(tmp_path, {target: {**settings, "backend": backend}})[f"svc-{target}"]
    result = terraform_init(tmp_path / "init", doc["terraform"]["backend"])
    text = result.stdout + result.stderr
    for config_error in ("Extraneous JSON object property", "Unsupported argument", "Missing required argument",
                         "Incorrect attribute value type", "Invalid backend configuration", "Unsupported block"):
        assert config_error not in text, text
    if reached is None:
        assert result.returncode == 0, text
    else:
        assert result.returncode != 0 and reached in text, text

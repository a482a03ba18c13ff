"""A private image through the VM boot path: on aws (ECR), gcp (Artifact Registry, gcr.io) and azure (ACR with a
registry id) the boot script signs docker in as the replica itself, pulls, signs out and starts the server, in the
sandbox of tests/replica_sandbox.py against its stub metadata servers and registry. No token reaches an argv (where
any user of the machine could read it); a registry that refuses the replica is retried, then the boot fails without
starting the server. The images are valid references that use every separator the grammar allows, a tag and a digest.
"""

from __future__ import annotations

import json

import pytest

from targets import delivery
from tests.conftest import synth_documents
from tests.replica_sandbox import CLIENT_ID, Sandbox, boot_script

DIGEST = "sha256:" + "0123456789abcdef" * 4
ACR_ID = "/subscriptions/0000/resourceGroups/images/providers/Microsoft.ContainerRegistry/registries/acme0"
# service name -> (target, its settings, model.image, registry user name)
CASES = {
    "pull-ecr": ("aws", {"region": "us-east-1"},
                 f"123456789012.dkr.ecr.us-west-2.amazonaws.com/a.b/c__d/e--f:T_.-9@{DIGEST}", "AWS"),
    "pull-ar": ("gcp", {"project": "acme-ml", "region": "us-central1"},
                f"europe-west4-docker.pkg.dev/acme-ml/m.o_d-e/l__m/x:1.0-rc_1@{DIGEST}", "oauth2accesstoken"),
    "pull-gcr": ("gcp", {"project": "acme-ml", "region": "us-central1"}, "eu.gcr.io/acme-ml/a--b.c:x",
                 "oauth2accesstoken"),
    "pull-acr": ("azure", {"location": "eastus", "container_registry_id": ACR_ID}, f"acme0.azurecr.io/a__b/c.d@{DIGEST}",
                 "00000000-0000-0000-0000-000000000000"),
}
# What only the replica's identity obtains: the registry's password (an ECR token, the Compute Engine access token, the
# ACR refresh token) and the Microsoft Entra token the ACR exchange takes.
PASSWORD, AAD_TOKEN = "s3cr3t-registry-password", "eyJ0eXAiOiJKV1QiLCJhbGciOi.aad-token.sig"


def doc(name: str) -> dict:
    target, settings, image, _ = CASES[name]
    return {"apiVersion": "infc/v1", "kind": "InferenceService", "metadata": {"name": name},
            "model": {"name": "m", "image": image, "args": ["--port", "8000"]},
            "hardware": {"accelerator": "none", "memory_gib": 16}, "targets": {target: settings}}


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    out = synth_documents(tmp_path_factory.mktemp("registry"), [doc(name) for name in CASES])
    return {name: json.loads((out / "stacks" / f"{name}-{target}" / "cdk.tf.json").read_text())
            for name, (target, *_) in CASES.items()}


def world(name: str, password: str = PASSWORD) -> dict:
    """The registry takes `password` from its user; the clouds hand the replica PASSWORD (and AAD_TOKEN)."""
    _, _, image, user = CASES[name]
    host = image.split("/")[0]
    return {"secrets": {}, "client_id": CLIENT_ID, "serve": False, "gpus": 0, "compute_capability": 0, "models": {},
            "registries": {host: {"user": user, "password": password}},
            "ecr": {"us-west-2": PASSWORD},
            "metadata": {"gcp_token": PASSWORD, "aad_token": AAD_TOKEN, "acr_refresh": PASSWORD},
            "tools": {"aws": delivery.AWS_CLI, "gcloud": delivery.GCLOUD, "az": delivery.AZURE_CLI,
                      "initializer": delivery.STORAGE_INITIALIZER}}


def boot(stacks, name: str, box: Sandbox):
    target = CASES[name][0]
    script, files = boot_script(stacks[name], target)
    for path, content in files.items():  # azure: cloud-init writes the identity's client id first
        file = box.root / path.lstrip("/")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(content)
    assert set(files) == ({"/etc/infc/identity"} if target == "azure" else set())
    return box.run(box.move(script))


@pytest.mark.parametrize("name", CASES)
def test_the_replica_signs_in_pulls_signs_out_and_starts_the_server(stacks, tmp_path, name):
    _, _, image, user = CASES[name]
    host = image.split("/")[0]
    box = Sandbox(tmp_path, world(name))
    run = boot(stacks, name, box)
    assert run.returncode == 0, run.stderr.decode()
    calls = box.calls()
    # The AWS CLI that prints the ECR token runs beside docker login (a pipeline): its place in the log varies.
    token = [c[1:] for c in calls if c[:2] == ["docker", "run"] and delivery.AWS_CLI in c]
    docker = [c[1:] for c in calls if c[0] == "docker" and c[1] != "container" and c[1:] not in token]
    logins = [c for c in docker if c[0] == "login"]
    assert logins == [["login", "--username", user, "--password-stdin", host]]
    at = docker.index(logins[0])
    assert docker[at + 1:at + 3] == [["pull", image], ["logout", host]]
    assert docker[-1][:2] == ["run", "--detach"] and docker[-1][-3:] == [image, "--port", "8000"]
    assert (box.path / "images").read_text() == image + "\n" and not list((box.path / "logins").iterdir())
    # Tokens travel through pipes and stdin only.
    assert not [c for c in calls if any(PASSWORD in a or AAD_TOKEN in a for a in c)]
    # ECR: a token for the image's region, not the stack's.
    assert token == ([["run", "--rm", delivery.AWS_CLI, "ecr", "get-login-password", "--region", "us-west-2"]]
                     if name == "pull-ecr" else [])


@pytest.mark.parametrize("name", CASES)
def test_a_registry_that_refuses_the_replica_fails_the_boot_after_ten_tries(stacks, tmp_path, name):
    """The grant has not taken effect (or never will): ten sign-ins 30 s apart, then the script fails; the server
    never starts and no login is left behind."""
    box = Sandbox(tmp_path, world(name, password="something-else"))
    run = boot(stacks, name, box)
    assert run.returncode != 0 and b"pulling the image failed (attempt 10 of 10)" in run.stderr
    calls = box.calls()
    assert len([c for c in calls if c[:2] == ["docker", "login"]]) == 10
    assert [c for c in calls if c[0] == "sleep"] == [["sleep", "30"]] * 9
    assert not [c for c in calls if c[:2] == ["docker", "run"] and "--detach" in c]
    assert not (box.path / "running").exists()

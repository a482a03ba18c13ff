"""Private registries on the VM targets (aws, gcp, azure): the pull grant for the replicas' identity on the repository
of model.image, the registry `registry: true` creates with its output, values read from the emitted JSON. The boot
script's sign-in runs in tests/test_boot_registry.py."""

from __future__ import annotations

import json
import pathlib

import pytest

from tests.conftest import spec_dict, synth_documents
from tests.replica_sandbox import boot_script

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/vllm:v1"
AR = "us-central1-docker.pkg.dev/acme-ml/models/vllm:v1"
GCR = "eu.gcr.io/other-project/vllm:v1"
ACR = "acme.azurecr.io/vllm:v1"
ACR_ID = "/subscriptions/0000/resourceGroups/images/providers/Microsoft.ContainerRegistry/registries/acme"
GCP = {"project": "acme-ml", "region": "us-central1"}
PUBLIC = "vllm/vllm-openai:v0.6.3"
# service name: (target, its settings, model.image)
SERVICES = {
    "ecr": ("aws", {"region": "us-east-1"}, ECR),
    "ecr-own": ("aws", {"region": "us-east-1", "registry": True}, ECR),
    "aws-own": ("aws", {"region": "us-east-1", "registry": True}, PUBLIC),
    "aws-public": ("aws", {"region": "us-east-1"}, PUBLIC),
    "ar": ("gcp", GCP, AR),
    "gcr": ("gcp", GCP, GCR),
    "ar-own": ("gcp", {**GCP, "registry": True}, "us-central1-docker.pkg.dev/acme-ml/ar-own/vllm:v1"),
    "gcp-public": ("gcp", GCP, PUBLIC),
    "acr": ("azure", {"location": "eastus", "container_registry_id": ACR_ID}, ACR),
    "acr-own": ("azure", {"location": "eastus", "registry": True}, ACR),
    "acr-unnamed": ("azure", {"location": "eastus"}, ACR),
}


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    docs = []
    for name, (target, settings, image) in SERVICES.items():
        doc = spec_dict(metadata={"name": name}, model={"name": "m", "image": image},
                        hardware={"accelerator": "none", "memory_gib": 16})
        doc["targets"] = {target: settings}
        docs.append(doc)
    out = synth_documents(tmp_path_factory.mktemp("vm-registry"), docs)

    def load(name: str) -> dict:
        return json.loads((pathlib.Path(out) / "stacks" / f"{name}-{SERVICES[name][0]}" / "cdk.tf.json").read_text())
    return load


PULL = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


@pytest.mark.parametrize("name, repositories", [
    ("ecr", ["arn:aws:ecr:us-east-1:123456789012:repository/team/vllm"]),
    ("ecr-own", ["${aws_ecr_repository.registry.arn}", "arn:aws:ecr:us-east-1:123456789012:repository/team/vllm"]),
    ("aws-own", ["${aws_ecr_repository.registry.arn}"]),
])
def test_aws_replicas_role_may_pull_from_the_repositories_only(stacks, name, repositories):
    doc = stacks(name)
    res = doc["resource"]
    policy = res["aws_iam_role_policy"]["image_pull"]
    assert policy["role"] == "${aws_iam_role.replica_role.id}"
    # A registry token is an action on no resource; pulls are on the repositories' ARNs only.
    assert json.loads(policy["policy"]) == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Effect": "Allow", "Action": PULL, "Resource": repositories}]}
    assert "aws_iam_role_policy.image_pull" in res["aws_autoscaling_group"]["autoscaling_group"]["depends_on"]
    own = "registry" in SERVICES[name][1]
    assert ("aws_ecr_repository" in res) == own == ("registry_url" in doc.get("output", {}))
    if own:
        repository = res["aws_ecr_repository"]["registry"]
        assert (repository["name"], repository["image_tag_mutability"]) == (name, "IMMUTABLE")
        assert doc["output"]["registry_url"]["value"] == "${aws_ecr_repository.registry.repository_url}"
    script, _ = boot_script(doc, "aws")
    login = "docker login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert (login in script) == (SERVICES[name][2] == ECR)


def test_aws_public_image_gets_no_pull_grant_and_no_login(stacks):
    doc = stacks("aws-public")
    assert "image_pull" not in doc["resource"].get("aws_iam_role_policy", {})
    assert "docker login" not in boot_script(doc, "aws")[0]


MEMBER = "serviceAccount:${google_service_account.replica_account.email}"


@pytest.mark.parametrize("name, repository", [
    ("ar", {"project": "acme-ml", "location": "us-central1", "repository": "models"}),
    ("gcr", {"project": "other-project", "location": "europe", "repository": "eu.gcr.io"}),
    ("ar-own", None),  # the image is in the repository infc creates: its reader grant covers it
])
def test_gcp_replicas_account_reads_the_images_repository_only(stacks, name, repository):
    doc = stacks(name)
    res = doc["resource"]
    members = res["google_artifact_registry_repository_iam_member"]
    group = res["google_compute_region_instance_group_manager"]["instance_group"]
    if repository:
        grant = members["replica_image_pull"]
        assert {k: grant[k] for k in ("project", "location", "repository", "role", "member")} == {
            **repository, "role": "roles/artifactregistry.reader", "member": MEMBER}
        assert "google_artifact_registry_repository_iam_member.replica_image_pull" in group["depends_on"]
    else:
        assert set(members) == {"registry_reader"}
        reader = members["registry_reader"]
        assert (reader["repository"], reader["role"], reader["member"]) == (
            "${google_artifact_registry_repository.registry.name}", "roles/artifactregistry.reader", MEMBER)
        created = res["google_artifact_registry_repository"]["registry"]
        assert (created["repository_id"], created["location"], created["format"]) == ("ar-own", "us-central1",
                                                                                      "DOCKER")
        assert doc["output"]["registry_url"]["value"] == \
            "${google_artifact_registry_repository.registry.registry_uri}"
        assert "google_artifact_registry_repository_iam_member.registry_reader" in group["depends_on"]
    host = SERVICES[name][2].split("/")[0]
    script, _ = boot_script(doc, "gcp")
    assert f"docker login --username oauth2accesstoken --password-stdin {host}\n" in script
    assert f"docker pull {SERVICES[name][2]};" in script


def test_gcp_public_image_gets_no_pull_grant_and_no_login(stacks):
    doc = stacks("gcp-public")
    assert "google_artifact_registry_repository_iam_member" not in doc["resource"]
    assert "docker login" not in boot_script(doc, "gcp")[0]


IDENTITY = "${azurerm_user_assigned_identity.replica_identity.principal_id}"


@pytest.mark.parametrize("name, construct_id, scope", [
    ("acr", "container_registry_pull", ACR_ID),
    ("acr-own", "registry_pull", "${azurerm_container_registry.registry.id}"),
])
def test_azure_replicas_identity_gets_acr_pull_and_signs_in(stacks, name, construct_id, scope):
    doc = stacks(name)
    res = doc["resource"]
    (assignment,) = res["azurerm_role_assignment"].values()
    assert {k: assignment[k] for k in ("scope", "role_definition_name", "principal_id", "principal_type")} == {
        "scope": scope, "role_definition_name": "AcrPull", "principal_id": IDENTITY,
        "principal_type": "ServicePrincipal"}
    assert list(res["azurerm_role_assignment"]) == [construct_id]
    scale_set = res["azurerm_linux_virtual_machine_scale_set"]["scale_set"]
    assert scale_set["identity"] == {"type": "UserAssigned",
                                     "identity_ids": ["${azurerm_user_assigned_identity.replica_identity.id}"]}
    assert f"azurerm_role_assignment.{construct_id}" in scale_set["depends_on"]
    script, files = boot_script(doc, "azure")
    assert "/etc/infc/identity" in files and "client_id=$(cat /etc/infc/identity)" in script
    assert "--data-urlencode service=acme.azurecr.io" in script and "https://acme.azurecr.io/oauth2/exchange" in script
    assert ("docker login --username 00000000-0000-0000-0000-000000000000 --password-stdin acme.azurecr.io\n"
            in script)
    if name == "acr-own":
        registry = res["azurerm_container_registry"]["registry"]
        assert (registry["sku"], registry["admin_enabled"]) == ("Basic", False)
        assert doc["output"]["registry_url"]["value"] == "${azurerm_container_registry.registry.login_server}"
        # Its name is unique across Azure: derived from the subscription, read once for the stack.
        assert "data.azurerm_client_config.client.subscription_id" in registry["name"]


def test_azure_acr_image_without_a_registry_id_gets_no_identity(stacks):
    """The registry's resource id is unknown (compile warns): no identity, no grant, no sign-in."""
    doc = stacks("acr-unnamed")
    assert "azurerm_user_assigned_identity" not in doc["resource"]
    assert "docker login" not in boot_script(doc, "azure")[0]

"""GKE backend, cluster side: secure defaults of the cluster and node pool, the targets.gke cluster options (emitted
arguments, invalid values, checkov)."""

from __future__ import annotations

import json
import pathlib

import pytest
import yaml

from compiler.cli import main
from targets.gke import limits as gke_limits
from tests.conftest import spec_dict, synth_documents

GKE = {"project": "acme-ml", "region": "us-central1"}
CLUSTER = ("google_container_cluster", "cluster")
NAT = ("google_compute_router_nat", "nat")
EXAMPLE_STACKS = ["llama70b-gke", "mistral-spot-gke"]


def stack(out: pathlib.Path, name: str) -> dict:
    return json.loads((out / "stacks" / name / "cdk.tf.json").read_text())


@pytest.mark.parametrize("name", EXAMPLE_STACKS)
def test_cluster_defaults_cost_nothing_and_pass_checkov(synth_for, name):
    res = stack(synth_for("gke"), name)["resource"]
    cluster = res["google_container_cluster"]["cluster"]
    assert cluster["master_auth"] == {"client_certificate_config": {"issue_client_certificate": False}}
    # Dataplane V2 enforces NetworkPolicy itself; the Calico addon must stay off beside it.
    assert (cluster["datapath_provider"], cluster["network_policy"]) == ("ADVANCED_DATAPATH", {"enabled": False})
    assert cluster["enable_intranode_visibility"] is True
    assert cluster["workload_identity_config"]["workload_pool"].endswith(".svc.id.goog")
    # The short-lived default pool runs as the nodes' account, with the GKE metadata server and secure boot.
    assert cluster["node_config"] == {
        "service_account": "${google_service_account.node_account.email}",
        "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
        "workload_metadata_config": {"mode": "GKE_METADATA"},
        "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True}}
    assert cluster["lifecycle"] == {"ignore_changes": ["node_config"]}
    assert cluster["depends_on"] == ["google_project_iam_member.node_role"]
    for absent in ("master_authorized_networks_config", "private_cluster_config", "binary_authorization",
                   "authenticator_groups_config"):
        assert absent not in cluster
    assert "google_compute_router_nat" not in res
    node = res["google_container_node_pool"]["node_pool"]["node_config"]
    assert node["guest_accelerator"][0]["gpu_driver_installation_config"] == {"gpu_driver_version": "LATEST"}
    assert node["shielded_instance_config"] == {"enable_secure_boot": True, "enable_integrity_monitoring": True}
    assert node["workload_metadata_config"] == {"mode": "GKE_METADATA"}


CIDRS = ["203.0.113.0/24", "198.51.100.7/32"]
OPTIONS = {
    # service name: (targets.gke settings, {(resource type, name, argument): expected value, None = absent})
    "authorized": ({"master_authorized_cidrs": CIDRS}, {
        (*CLUSTER, "master_authorized_networks_config"): {"cidr_blocks": [
            {"cidr_block": "203.0.113.0/24", "display_name": "infc 203.0.113.0/24"},
            {"cidr_block": "198.51.100.7/32", "display_name": "infc 198.51.100.7/32"}]},
        (*CLUSTER, "private_cluster_config"): None}),
    "private": ({"private_nodes": True}, {
        (*CLUSTER, "private_cluster_config"): {"enable_private_nodes": True, "enable_private_endpoint": False},
        ("google_compute_router", "router", "network"): "${data.google_compute_network.network.self_link}",
        ("google_compute_router", "router", "region"): "us-central1",
        (*NAT, "source_subnetwork_ip_ranges_to_nat"): "LIST_OF_SUBNETWORKS",
        (*NAT, "subnetwork"): [{"name": "${data.google_compute_subnetwork.subnet.self_link}",
                                "source_ip_ranges_to_nat": ["ALL_IP_RANGES"]}],
        (*NAT, "nat_ip_allocate_option"): "AUTO_ONLY",
        # The replicas' first image pull goes through the NAT: the nodes wait for it.
        ("google_container_node_pool", "node_pool", "depends_on"): [
            "google_project_iam_member.node_role", "google_compute_router_nat.nat"],
        (*CLUSTER, "master_authorized_networks_config"): None}),
    "private-own-nat": ({"private_nodes": True, "cloud_nat": False}, {
        (*CLUSTER, "private_cluster_config"): {"enable_private_nodes": True, "enable_private_endpoint": False},
        ("google_compute_router", "router", "name"): None,
        (*NAT, "name"): None,
        ("google_container_node_pool", "node_pool", "depends_on"): ["google_project_iam_member.node_role"]}),
    "binauthz": ({"binary_authorization": True}, {
        (*CLUSTER, "binary_authorization"): {"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"}}),
    "groups": ({"security_group": "gke-security-groups@acme.example"}, {
        (*CLUSTER, "authenticator_groups_config"): {"security_group": "gke-security-groups@acme.example"}}),
    "hardened": ({"master_authorized_cidrs": CIDRS, "private_nodes": True, "binary_authorization": True,
                  "security_group": "gke-security-groups@acme.example"}, {}),
}


@pytest.fixture(scope="module")
def options(tmp_path_factory) -> pathlib.Path:
    """One synth of a file with a service per OPTIONS row (labelled, so label checks pass); the output directory."""
    docs = [{**spec_dict(metadata={"name": name, "labels": {"team": "ml"}}, hardware={"memory_gib": 16}),
             "targets": {"gke": {**GKE, **settings}}} for name, (settings, _) in OPTIONS.items()]
    return synth_documents(tmp_path_factory.mktemp("gke-options"), docs)


@pytest.mark.parametrize("name", [n for n, (_, want) in OPTIONS.items() if want])
def test_option_emits_exactly_its_arguments(options, name):
    res = stack(options, f"{name}-gke")["resource"]
    for (kind, key, argument), value in OPTIONS[name][1].items():
        assert res.get(kind, {}).get(key, {}).get(argument) == value, (kind, key, argument)
    settings = OPTIONS[name][0]
    assert ("google_compute_router_nat" in res) is (settings.get("private_nodes", False)
                                                    and settings.get("cloud_nat", True))


INVALID = [
    # (targets.gke settings, expected error line)
    ({"master_authorized_cidrs": []},
     "targets.gke.master_authorized_cidrs: List should have at least 1 item after validation"),
    ({"master_authorized_cidrs": [f"10.0.{i}.0/24" for i in range(51)]},
     "targets.gke.master_authorized_cidrs: List should have at most 50 items after validation"),
    ({"master_authorized_cidrs": ["10.0.0.1/8"]},
     "targets.gke.master_authorized_cidrs[0]: '10.0.0.1/8' is not a CIDR block: 10.0.0.1/8 has host bits set"),
    ({"master_authorized_cidrs": ["203.0.113.0/24", "2001:db8::/32"]},
     "gke: targets.gke.master_authorized_cidrs has IPv6 ranges (2001:db8::/32); the cluster's control plane "
     f"endpoint is IPv4 only, so list IPv4 ranges (see {gke_limits._AUTHORIZED_DOC})"),
    ({"private_nodes": "yes"}, "targets.gke.private_nodes: Input should be a valid boolean, got 'yes'"),
    ({"cloud_nat": "no"}, "targets.gke.cloud_nat: Input should be a valid boolean, got 'no'"),
    ({"binary_authorization": "enforce"},
     "targets.gke.binary_authorization: Input should be a valid boolean, got 'enforce'"),
    ({"security_group": "admins@acme.example"},
     "targets.gke.security_group: 'admins@acme.example' does not have the form this field takes (pattern "
     "^gke-security-groups@"),
]


@pytest.mark.parametrize("settings, expected", INVALID)
def test_invalid_option_is_a_located_error(tmp_path, capsys, settings, expected):
    path = tmp_path / "spec.yaml"
    spec = {**spec_dict(hardware={"memory_gib": 16}), "targets": {"gke": {**GKE, **settings}}}
    path.write_text(yaml.safe_dump(spec, sort_keys=False, default_flow_style=False))  # a setting per line
    assert main(["validate", str(path)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1 and expected in errors[0], errors
    (key, value), = settings.items()  # the error points at the offending setting: a list at its first item
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith(f"{key}:"))
    assert errors[0].startswith(f"{path}:{line + bool(isinstance(value, list) and value)}:")


def test_cloud_nat_without_private_nodes_is_a_warning(tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    spec = {**spec_dict(hardware={"memory_gib": 16}), "targets": {"gke": {**GKE, "cloud_nat": False}}}
    path.write_text(yaml.safe_dump(spec, sort_keys=False, default_flow_style=False))
    assert main(["validate", str(path)]) == 0
    assert ("warning: gke: targets.gke.cloud_nat: false has no effect without targets.gke.private_nodes: true "
            "(nodes have external IPs and need no NAT)") in capsys.readouterr().err


# The cluster checks each option fixes (accepted with option= on the examples in tests/checkov_findings.py).
FIXED_BY_OPTIONS = {"CKV_GCP_20", "CKV_GCP_25", "CKV_GCP_64", "CKV_GCP_65", "CKV_GCP_66"}


def test_hardened_cluster_passes_every_gcp_check(options):
    from tests import checkov_findings as findings
    from tests.test_security import scan

    assert FIXED_BY_OPTIONS == {f.check for f in findings.ACCEPTED
                                if f.target == "gke" and f.check.startswith("CKV_GCP") and f.option}
    (report,) = [r for r in scan(options / "stacks" / "hardened-gke") if r["check_type"] == "terraform_json"]
    assert report["summary"]["passed"] > 0
    failed = {(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]}
    # The workload's CKV_K8S_* findings are the kubernetes workload's; nothing of Google Cloud fails.
    assert not {f for f in failed if f[0].startswith("CKV_GCP")}, failed


@pytest.mark.parametrize("image, expected", [
    ("us-central1-docker.pkg.dev/acme-ml/models/vllm:v1", ("acme-ml", "us-central1", "models")),
    ("europe-docker.pkg.dev/other-proj/images/sub/tgi@sha256:" + "a" * 64, ("other-proj", "europe", "images")),
    ("gcr.io/acme-ml/vllm:v1", ("acme-ml", "us", "gcr.io")),
    ("eu.gcr.io/acme-ml/vllm:v1", ("acme-ml", "europe", "eu.gcr.io")),
    ("asia.gcr.io/acme-ml/team/vllm:v1", ("acme-ml", "asia", "asia.gcr.io")),
    ("vllm/vllm-openai:v0.6.3", None),
    ("ghcr.io/huggingface/text-generation-inference:2.4.0", None),
    ("us-central1-docker.pkg.dev/acme-ml/vllm:v1", None),  # no repository part: not an Artifact Registry path
])
def test_image_repository_names_the_repository_to_read(image, expected):
    from targets.gcp.registry import image_repository
    assert image_repository(image) == expected


def test_seed_registry_cluster_carries_every_part(synth_for):
    """examples/gke-registry.yaml: GKE + registry + deployment + load balancer."""
    doc = stack(synth_for("gke"), "qwen-chat-gke")
    res = doc["resource"]
    repository = res["google_artifact_registry_repository"]["registry"]
    assert (repository["repository_id"], repository["format"], repository["location"], repository["project"]) == \
        ("qwen-chat", "DOCKER", "us-central1", "acme-ml")
    assert repository["docker_config"] == {"immutable_tags": True}
    reader = res["google_artifact_registry_repository_iam_member"]
    # model.image is in that repository: one grant, on it alone, not the project.
    assert list(reader) == ["registry_reader"]
    assert reader["registry_reader"]["repository"] == "${google_artifact_registry_repository.registry.name}"
    assert reader["registry_reader"]["role"] == "roles/artifactregistry.reader"
    assert reader["registry_reader"]["member"] == "serviceAccount:${google_service_account.node_account.email}"
    assert list(res["google_project_iam_member"]) == ["node_role"]
    assert "google_artifact_registry_repository_iam_member.registry_reader" in \
        res["google_container_node_pool"]["node_pool"]["depends_on"]
    assert doc["output"]["registry_url"]["value"] == "${google_artifact_registry_repository.registry.registry_uri}"
    container = res["kubernetes_deployment_v1"]["deployment"]["spec"]["template"]["spec"]["container"][0]
    assert container["image"] == "us-central1-docker.pkg.dev/acme-ml/qwen-chat/vllm-qwen:v0.6.3"
    service = res["kubernetes_service_v1"]["service"]["spec"]
    assert service["type"] == "LoadBalancer" and service["port"][0]["port"] == 80


def test_an_image_in_another_repository_gets_read_on_that_repository(tmp_path):
    doc = spec_dict(targets={"gke": GKE}, model={"image": "gcr.io/shared-images/vllm:v1"})
    res = stack(synth_documents(tmp_path, [doc], "gke"), "svc-gke")["resource"]
    pull = res["google_artifact_registry_repository_iam_member"]["node_image_pull"]
    assert (pull["project"], pull["location"], pull["repository"], pull["role"]) == \
        ("shared-images", "us", "gcr.io", "roles/artifactregistry.reader")
    assert "google_artifact_registry_repository" not in res

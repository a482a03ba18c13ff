"""The accelerators added by the catalog audit (T4G, B200, H100 NVL, V100 by memory) synthesize on every target that
sells them, with the instance type, capacity model and Kubernetes node affinity each needs."""

from __future__ import annotations

import json
import pathlib

import pytest

from tests.conftest import spec_dict, synth_documents

K8S = {"namespace": "ml"}
GCP = {"project": "acme-ml", "region": "us-central1"}
SERVICES = {
    "t4g": ({"accelerator": "nvidia-t4g", "arch": "arm64"}, {"aws": {"region": "us-east-1"}, "kubernetes": K8S}),
    "b200": ({"accelerator": "nvidia-b200", "count": 8, "spot": True},
             {"aws": {"region": "us-east-1"}, "gcp": GCP, "gke": GCP, "kubernetes": K8S}),
    "nvl": ({"accelerator": "nvidia-h100-nvl"}, {"azure": {"location": "eastus"}, "kubernetes": K8S}),
    "v100": ({"accelerator": "nvidia-v100-32gb", "count": 8}, {"aws": {"region": "us-east-1"}, "kubernetes": K8S}),
}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> pathlib.Path:
    docs = [{**spec_dict(metadata={"name": name}, hardware={**hardware, "memory_gib": 16}), "targets": targets}
            for name, (hardware, targets) in SERVICES.items()]
    return synth_documents(tmp_path_factory.mktemp("new-accelerators"), docs)


def resource(synthesized: pathlib.Path, stack: str, kind: str) -> dict:
    found = json.loads((synthesized / "stacks" / stack / "cdk.tf.json").read_text())["resource"][kind]
    (only,) = found.values()
    return only


@pytest.mark.parametrize("stack, instance_type, market", [
    ("t4g-aws", "g5g.2xlarge", None),  # 16 GiB: g5g.xlarge has 8
    ("b200-aws", "p6-b200.48xlarge", {"market_type": "spot"}),
    ("v100-aws", "p3dn.24xlarge", None),
])
def test_aws_launch_template(synthesized, stack, instance_type, market):
    template = resource(synthesized, stack, "aws_launch_template")
    assert template["instance_type"] == instance_type
    assert template.get("instance_market_options") == market


def test_gcp_b200_is_an_a4_spot_vm(synthesized):
    template = resource(synthesized, "b200-gcp", "google_compute_region_instance_template")
    assert template["machine_type"] == "a4-highgpu-8g" and "guest_accelerator" not in template
    assert template["scheduling"]["provisioning_model"] == "SPOT"
    assert template["disk"][0]["disk_type"] == "hyperdisk-balanced"  # A4 boots only from Hyperdisk


def test_gke_b200_pool_is_spot_with_googles_accelerator_name(synthesized):
    pool = resource(synthesized, "b200-gke", "google_container_node_pool")
    config = pool["node_config"]
    assert (config["machine_type"], config["spot"]) == ("a4-highgpu-8g", True)


def test_azure_h100_nvl_scale_set(synthesized):
    assert resource(synthesized, "nvl-azure", "azurerm_linux_virtual_machine_scale_set")["sku"] == \
        "Standard_NC40ads_H100_v5"


@pytest.mark.parametrize("stack, products", [
    ("t4g-kubernetes", ["NVIDIA-T4G"]),
    ("b200-kubernetes", ["NVIDIA-B200"]),
    ("nvl-kubernetes", ["NVIDIA-H100-NVL"]),
    ("v100-kubernetes", ["Tesla-V100-SXM2-32GB", "Tesla-V100-PCIE-32GB"]),
])
def test_kubernetes_replicas_require_the_gpu_product(synthesized, stack, products):
    pod = resource(synthesized, stack, "kubernetes_deployment_v1")["spec"]["template"]["spec"]
    term = pod["affinity"]["node_affinity"]["required_during_scheduling_ignored_during_execution"]
    assert term["node_selector_term"][0]["match_expressions"] == [
        {"key": "nvidia.com/gpu.product", "operator": "In", "values": products}]

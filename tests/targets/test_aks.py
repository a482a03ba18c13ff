"""AKS backend: limits and warnings, values read from the emitted JSON (cluster, pools, identities, registry, the Azure
Load Balancer's probe, the Azure ML attach), and snapshots."""

from __future__ import annotations

import json
import pathlib

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from compiler.driver import compile_files
from compiler.lower import lower
from compiler.spec import Spec
from targets import aks
from targets.aks import limits as aks_limits
from tests.conftest import examples_naming, spec_dict

AKS = {"location": "eastus"}
CERT = "https://acme-kv.vault.azure.net/certificates/svc-tls"
HTTPS = {"listeners": [{"port": 443, "protocol": "https"}]}
PREFIX = "service.beta.kubernetes.io/azure-load-balancer-"


@pytest.fixture(scope="module")
def synthesized(synth_for) -> pathlib.Path:
    return synth_for("aks")


STACKS = [(path.stem, f"{c.service.name}-aks") for path in examples_naming("aks")
          for c in compile_files([str(path)], ["aks"])[0]]


def stack(synthesized: pathlib.Path, name: str) -> dict:
    return json.loads((synthesized / "stacks" / name / "cdk.tf.json").read_text())


def diagnostics(settings: dict | None = None, **overrides) -> list[tuple[str, str]]:
    overrides["hardware"] = {"accelerator": "nvidia-t4", "memory_gib": 8, **overrides.get("hardware", {})}
    spec = Spec.model_validate(spec_dict(targets={"aks": settings or AKS}, **overrides))
    service, diags = lower(spec, ["aks"])
    assert service is not None and not [d for d in diags if d.severity == "error"], diags
    return [(d.severity, d.message) for d in aks.check(service, service.target("aks"))]


def errors(settings: dict | None = None, **overrides) -> list[str]:
    return [m for severity, m in diagnostics(settings, **overrides) if severity == "error"]


def warnings(settings: dict | None = None, **overrides) -> list[str]:
    return [m for severity, m in diagnostics(settings, **overrides) if severity == "warning"]


def readiness(**values) -> dict:
    return {"readiness": {"interval": 10, "timeout": 5, **values}}


def test_minimal_gpu_spec_is_accepted_without_warnings():
    assert diagnostics() == []


PROBE = aks_limits._PROBE_DOC
LIMIT_CASES = [
    (AKS, {}, None),
    (AKS, {"probes": readiness(interval=60, unhealthy_threshold=2)}, None),  # 120 s of probes: the most
    (AKS, {"probes": readiness(interval=50, unhealthy_threshold=3)},
     "aks: probes.readiness.unhealthy_threshold is 3; with interval 50s that is 150s of probes, and an AKS load "
     f"balancer health probe's probes must fit in 120s (see {PROBE})"),
    (AKS, {"probes": readiness(unhealthy_threshold=1)},
     "aks: probes.readiness.unhealthy_threshold is 1; an AKS load balancer health probe takes at least 2 probes "
     f"(see {PROBE})"),
    (AKS, {"load_balancer": {"idle_timeout": 270}},
     "aks: load_balancer.idle_timeout is 270s; an AKS load balancer TCP idle timeout is whole minutes "
     f"(see {aks_limits._LB_DOC})"),
    ({**AKS, "certificate": CERT}, {"load_balancer": {**HTTPS, "public": False}},
     "aks: the https listener is the application routing add-on's NGINX Ingress, whose load balancer is public and "
     "open to all: an internal or source-restricted one is an NginxIngressController resource, which cannot be "
     "planned before the cluster exists; use http listeners (the Service's load balancer takes both) or allow "
     f"0.0.0.0/0 (see {aks_limits._APP_ROUTING_DOC})"),
    ({**AKS, "certificate": "https://acme-kv.vault.azure.net/secrets/svc-tls"}, {"load_balancer": HTTPS},
     "aks: targets.aks.certificate 'https://acme-kv.vault.azure.net/secrets/svc-tls' is not a Key Vault certificate "
     "URI (https://<vault>.vault.azure.net/certificates/<name>), which the application routing add-on reads the "
     f"https certificate from (see {aks_limits._APP_ROUTING_DOC})"),
    # The http Service carries the IPv4 ranges alone: none left would admit every address.
    (AKS, {"load_balancer": {"allowed_cidrs": ["2001:db8::/32"]}},
     "aks: load_balancer.allowed_cidrs has only IPv6 ranges (2001:db8::/32), but the cluster and its load balancer "
     "are IPv4 only: no client could reach it; list IPv4 ranges"),
    ({**AKS, "api_authorized_cidrs": ["2001:db8::/32"]}, {},
     "aks: targets.aks.api_authorized_cidrs has IPv6 ranges (2001:db8::/32); the API server's authorized IP ranges "
     f"are IPv4 (see {aks_limits._AUTHORIZED_DOC})"),
]


@pytest.mark.parametrize("settings, overrides, expected", LIMIT_CASES)
def test_limits(settings, overrides, expected):
    assert errors(settings, **overrides) == ([expected] if expected else [])


def test_the_load_balancer_probes_the_model_port():
    found = warnings(probes=readiness(port=9000))
    assert found == ["aks: probes.readiness.port is 9000, but the Azure Load Balancer probes the Service's target "
                     "port, model.port 8000: it checks /health there (the pods' readiness probe still checks the "
                     "readiness port)"]


ACR = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acme"


@pytest.mark.parametrize("settings, expected", [
    (AKS, ["aks: model.image is in the Azure Container Registry acme.azurecr.io, but the nodes get no pull access to "
           "it: set targets.aks.container_registry_id to its resource id (AcrPull for the kubelet identity), or the "
           "pods fail with ErrImagePull unless the registry allows anonymous pull"]),
    ({**AKS, "container_registry_id": ACR}, []),
    ({**AKS, "registry": True}, []),
])
def test_an_acr_image_without_a_registry_id_warns(settings, expected):
    assert warnings(settings, model={"image": "acme.azurecr.io/vllm:v1"}) == expected


@pytest.mark.parametrize("vcpus, memory_gib, cpus, memory", [
    # The page's table: 4 cores keep 140m; 8 cores 180m; memory min(20 MiB x 110 + 50 MiB, 25%) + 100 MiB.
    (4, 28, 4 - 0.14, 28 - 2250 / 1024 - 100 / 1024),
    (8, 4, 8 - 0.18, 4 - 1 - 100 / 1024),
])
def test_allocatable_follows_aks_reservations(vcpus, memory_gib, cpus, memory):
    assert aks.allocatable(vcpus, memory_gib) == pytest.approx((cpus, memory))


def test_seed_inference_cluster_carries_every_part(synthesized):
    """examples/aks-azureml-inference.yaml: Azure ML workspace + AKS inference cluster + Azure Load Balancer."""
    doc = stack(synthesized, "sentiment-aks")
    res = doc["resource"]
    assert res["azurerm_kubernetes_cluster"]["cluster"]["workload_identity_enabled"] is True
    pool = res["azurerm_kubernetes_cluster_node_pool"]["node_pool"]
    # T4 x1, 24 GiB, disk 128, replicas 2-4: one replica per node.
    assert (pool["vm_size"], pool["gpu_driver"], pool["os_disk_size_gb"], pool["mode"]) == \
        ("Standard_NC4as_T4_v3", "Install", 128, "User")
    assert (pool["min_count"], pool["max_count"], pool["auto_scaling_enabled"]) == (2, 4, True)
    extension = res["azurerm_kubernetes_cluster_extension"]["azureml_extension"]
    assert (extension["extension_type"], extension["cluster_id"]) == \
        ("Microsoft.AzureML.Kubernetes", "${azurerm_kubernetes_cluster.cluster.id}")
    assert extension["configuration_settings"]["enableInference"] == "True"
    assert extension["configuration_settings"]["installNvidiaDevicePlugin"] == "False"  # the stack runs one
    compute = res["azapi_resource"]["azureml_compute"]
    assert compute["type"].startswith("Microsoft.MachineLearningServices/workspaces/computes@")
    assert compute["parent_id"] == "${azurerm_machine_learning_workspace.workspace.id}"
    assert compute["body"]["properties"]["computeType"] == "Kubernetes"
    assert compute["body"]["properties"]["resourceId"] == "${azurerm_kubernetes_cluster.cluster.id}"
    assert compute["depends_on"] == ["azurerm_kubernetes_cluster_extension.azureml_extension"]
    # The Azure Load Balancer: the Service's rule on 80 -> 8080, an HTTP probe of /health every 10 s, 3 probes.
    service = res["kubernetes_service_v1"]["service"]
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["port"] == [{"name": "http-80", "port": 80, "protocol": "TCP", "target_port": "8080"}]
    annotations = service["metadata"]["annotations"]
    assert {k.removeprefix(PREFIX): v for k, v in annotations.items() if k.startswith(PREFIX)} == {
        "health-probe-interval": "10", "health-probe-num-of-probe": "3", "health-probe-request-path": "/health",
        "tcp-idle-timeout": "10"}
    assert annotations["service.beta.kubernetes.io/port_80_health-probe_protocol"] == "http"
    registry = res["azurerm_container_registry"]["registry"]
    assert (registry["sku"], registry["admin_enabled"]) == ("Basic", False)
    assert res["azurerm_role_assignment"]["registry_pull"] == {
        **{k: v for k, v in res["azurerm_role_assignment"]["registry_pull"].items() if k == "//"},
        "scope": "${azurerm_container_registry.registry.id}", "role_definition_name": "AcrPull",
        "principal_id": "${azurerm_kubernetes_cluster.cluster.kubelet_identity[0].object_id}",
        "skip_service_principal_aad_check": True}
    assert set(doc["output"]) >= {"registry_url", "azureml_compute_id", "endpoint", "workload_principal_id"}


def test_workload_identity_federates_the_replicas_service_account(synthesized):
    res = stack(synthesized, "sentiment-aks")["resource"]
    credential = res["azurerm_federated_identity_credential"]["workload_federation"]
    account = res["kubernetes_service_account_v1"]["service_account"]["metadata"]
    assert credential["subject"] == f"system:serviceaccount:sentiment:{account['name']}"
    assert credential["issuer"] == "${azurerm_kubernetes_cluster.cluster.oidc_issuer_url}"
    assert account["annotations"] == {
        "azure.workload.identity/client-id": "${azurerm_user_assigned_identity.workload_identity.client_id}"}
    pod = res["kubernetes_deployment_v1"]["deployment"]["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["node_selector"]["kubernetes.azure.com/agentpool"] == "model"


def test_a100_https_is_the_app_routing_ingress(synthesized):
    doc = stack(synthesized, "llama70b-aks")
    res = doc["resource"]
    assert res["azurerm_kubernetes_cluster_node_pool"]["node_pool"]["vm_size"] == "Standard_ND96amsr_A100_v4"
    cluster = res["azurerm_kubernetes_cluster"]["cluster"]
    assert cluster["web_app_routing"] == {"dns_zone_ids": []}
    assert cluster["default_node_pool"]["only_critical_addons_enabled"] is True
    ingress = res["kubernetes_ingress_v1"]["ingress"]
    assert ingress["spec"]["ingress_class_name"] == "webapprouting.kubernetes.azure.com"
    assert ingress["metadata"]["annotations"]["kubernetes.azure.com/tls-cert-keyvault-uri"] == \
        "https://acme-kv.vault.azure.net/certificates/llama70b-tls"
    grant = res["azurerm_role_assignment"]["ingress_certificate"]
    assert grant["role_definition_name"] == "Key Vault Secrets User"
    assert grant["scope"].endswith("/providers/Microsoft.KeyVault/vaults/acme-kv")
    assert "kubernetes_daemon_set_v1" in res  # the NVIDIA device plugin on the GPU pool


@pytest.mark.parametrize("example, name", STACKS, ids=[n for _, n in STACKS])
def test_snapshot(synthesized, snapshot, example, name):
    assert stack(synthesized, name) == snapshot(extension_class=JSONSnapshotExtension)

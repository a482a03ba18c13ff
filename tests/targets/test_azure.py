"""Azure backend: limits as a table (value -> accepted or the exact error), emitted semantics, snapshots."""

from __future__ import annotations

import base64
import copy
import json
import pathlib
import shlex
import subprocess
import sys

import pytest
import yaml
from syrupy.extensions.json import JSONSnapshotExtension

from compiler.cli import main
from compiler.driver import compile_files
from compiler.errors import CompileError
from compiler.lower import lower
from compiler.spec import Spec
from targets import azure
from targets.azure import autoscale as azure_autoscale
from targets.azure import gateway as gw
from targets.azure import limits as azure_limits
from targets.azure import resources as azure_resources
from tests.conftest import ROOT, examples_naming, spec_dict, synth_documents
from tests.replica_sandbox import CLIENT_ID, boot_script

def _errors(path: pathlib.Path) -> list[str]:
    try:
        compile_files([str(path)], ["azure"])
    except CompileError as exc:
        return [d.message for d in exc.diagnostics if d.severity == "error"]
    return []


EXAMPLES = examples_naming("azure")

# Variants cover what the examples do not: a private
# Application Gateway for stickiness with spot GPUs, liveness and CPU autoscaling in a given resource group, and a
# public layer-4 LB in a given subnet with a given image.
VARIANTS = {
    "chat-private": {
        "apiVersion": "infc/v1", "kind": "InferenceService",
        "metadata": {"name": "chat-private", "labels": {"team": "ml"}},
        "model": {"name": "m", "image": "vllm/vllm-openai:v0.6.3", "port": 8000},
        "hardware": {"accelerator": "nvidia-t4", "spot": True},
        "replicas": {"min": 1, "max": 4, "autoscale": {"metric": "cpu_percent", "target": 60, "scale_out_delay": "90s",
                                                       "scale_in_delay": "10m"}},
        "load_balancer": {"public": False, "allowed_cidrs": ["10.1.0.0/16", "fd00::/8"], "stickiness": True,
                          "listeners": [{"port": 8080, "protocol": "http"}], "idle_timeout": "5m", "drain_timeout": 0},
        "probes": {"readiness": {"path": "/ready", "port": 8001, "interval": 10, "timeout": 4, "healthy_threshold": 1,
                                 "unhealthy_threshold": 2, "success_codes": "200-299", "initial_delay": "20m"},
                   "liveness": {"path": "/live", "interval": 20, "failure_threshold": 4}},
        "targets": {"azure": {"location": "westus2", "resource_group": "ml-shared"}},
    },
    "given-subnet": {
        "apiVersion": "infc/v1", "kind": "InferenceService",
        "metadata": {"name": "given-subnet"},
        "model": {"name": "m", "image": "ghcr.io/acme/server:1", "port": 9000},
        "hardware": {"accelerator": "none", "cpus": 8},
        "replicas": {"min": 2, "max": 6, "autoscale": {"metric": "cpu_percent", "target": 70}},
        "load_balancer": {"listeners": [{"port": 80, "protocol": "http"}, {"port": 8080, "protocol": "http"}],
                          "idle_timeout": "10m", "drain_timeout": 0},
        "probes": {"readiness": {"healthy_threshold": 2, "unhealthy_threshold": 2, "timeout": 14, "interval": 15}},
        "targets": {"azure": {"location": "eastus", "resource_group": "apps",
                              "image": "Canonical:ubuntu-24_04-lts:server:latest",
                              "subnet_id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/net/"
                                           "providers/Microsoft.Network/virtualNetworks/vnet/subnets/apps"}},
    },
}

# https with targets.azure.key_vault_id: the gateway's read access to its certificate is granted in the stack.
KEY_VAULT_ID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/certs/providers/"
                "Microsoft.KeyVault/vaults/acme-kv")
VARIANTS["kv-https"] = {
    "apiVersion": "infc/v1", "kind": "InferenceService", "metadata": {"name": "kv-https"},
    "model": {"name": "m", "image": "vllm/vllm-openai:v0.6.3"},
    "hardware": {"accelerator": "nvidia-t4"},
    "load_balancer": {"listeners": [{"port": 443, "protocol": "https"}], "idle_timeout": "4m"},
    "targets": {"azure": {"location": "eastus", "certificate": "https://acme-kv.vault.azure.net/secrets/chat-tls",
                          "key_vault_id": KEY_VAULT_ID}},
}

STACKS = sorted({f"{c.service.name}-azure" for e in EXAMPLES for c in compile_files([str(e)], ["azure"])[0]}
                | {f"{name}-azure" for name in VARIANTS})


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> pathlib.Path:
    """Every azure example that compiles plus the variants, through the real CLI in one run. (The shared
    synth_for("azure") asserts that every example naming azure compiles, which embeddings-cpu does not.)"""
    return synth_documents(tmp_path_factory.mktemp("azure"), list(VARIANTS.values()), "azure", files=EXAMPLES)


def stack(synthesized: pathlib.Path, name: str) -> dict:
    return json.loads((synthesized / "stacks" / name / "cdk.tf.json").read_text())


def one(doc: dict, kind: str) -> dict:
    (resource,) = doc["resource"][kind].values()
    return resource


# --- limits: the same IR gives the expected error or none -------------------------------------------------------

L4 = {"hardware": {"accelerator": "none"}, "targets": {"azure": {"location": "eastus"}},
      "load_balancer": {"idle_timeout": "4m"}}
L7 = {**L4, "targets": {"azure": {"location": "eastus", "certificate": "https://kv.vault.azure.net/secrets/tls"}},
      "load_balancer": {"idle_timeout": "4m", "listeners": [{"port": 443, "protocol": "https"}]}}


def checked(base: dict, **overrides) -> list[str]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    spec = Spec.model_validate(spec_dict(**merged))
    service, diags = lower(spec, ["azure"])
    assert not [d for d in diags if d.severity == "error"]
    return [d.message for d in azure.check(service, service.target("azure")) if d.severity == "error"]


def readiness(**values) -> dict:
    return {"readiness": {"interval": 30, "timeout": 5, **values}}


def autoscale(**values) -> dict:
    return {"min": 1, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 50, **values}}


LB_IDLE = (f"azure: load_balancer.idle_timeout is {{}}s; an Azure Load Balancer rule idle timeout must be a whole "
           f"number of minutes from 4 to 100 (240-6000s) (see {gw._LB_RULE_TF})")
GW_IDLE = (f"azure: load_balancer.idle_timeout is {{}}s; the TCP idle timeout of an Application Gateway public IP "
           f"must be a whole number of minutes from 4 to 30 (240-1800s) (see {gw._AGW_FAQ})")
COOLDOWN = ("azure: replicas.autoscale.{} is {}s; an Azure autoscale cooldown must be 60-604800s "
            f"(see {azure_limits._AUTOSCALE_DOC})")
EXT_INTERVAL = ("azure: probes.{}.interval is {}s; the application health extension's probe interval "
                f"(intervalInSeconds) must be 5-60s (see {azure_limits._HEALTH_EXT_SCHEMA})")
LIVE = {"liveness": {"path": "/live"}}
LIMIT_CASES = [
    # (base, spec overrides, expected error or None)
    (L4, {"probes": readiness(interval=5, timeout=2)}, None),
    (L4, {"probes": readiness(interval=4, timeout=2)},
     f"azure: probes.readiness.interval is 4s; an Azure Load Balancer probe interval must be at least 5s "
     f"(see {gw._LB_PROBE_TF})"),
    (L4, {"probes": readiness(unhealthy_threshold=100)}, None),
    (L4, {"probes": readiness(unhealthy_threshold=101)},
     f"azure: probes.readiness.unhealthy_threshold is 101; an Azure Load Balancer probe threshold must be 1-100 "
     f"(see {gw._LB_PROBE_TF})"),
    (L4, {"probes": readiness(port=25)},
     "azure: probes.readiness.port is 25; Azure Load Balancer HTTP probes cannot use ports 19, 21, 25, 70, 110, 119, "
     f"143, 220, 993 (see {gw._LB_PROBE_DOC})"),
    (L4, {"probes": readiness(success_codes="200-299")},
     "azure: probes.readiness.success_codes is 200-299; an Azure Load Balancer HTTP probe counts only 200 as healthy "
     f"(see {gw._LB_PROBE_DOC}); use \"200\", or an https listener (Application Gateway), whose probes match status "
     "codes"),
    (L4, {"load_balancer": {"idle_timeout": "100m"}}, None),
    (L4, {"load_balancer": {"idle_timeout": "60s"}}, LB_IDLE.format(60)),
    (L4, {"load_balancer": {"idle_timeout": "270s"}}, LB_IDLE.format(270)),
    (L4, {"load_balancer": {"idle_timeout": "101m"}}, LB_IDLE.format(6060)),
    (L4, {"load_balancer": {"idle_timeout": "4m", "listeners": [{"port": 65534, "protocol": "http"}]}}, None),
    (L4, {"load_balancer": {"idle_timeout": "4m", "listeners": [{"port": 65535, "protocol": "http"}]}},
     f"azure: load_balancer.listeners[0].port is 65535; an Azure Load Balancer frontend port must be 1-65534 "
     f"(see {gw._LB_RULE_TF})"),
    (L4, {"replicas": {"min": 1, "max": 2, "autoscale": {"metric": "requests_per_replica", "target": 5}}},
     "azure: replicas.autoscale.metric requests_per_replica needs a per-replica request metric, and the layer-4 "
     "Standard Load Balancer emitted for this service (http listeners only, no redirect, no stickiness) has none; use "
     "metric: cpu_percent (Percentage CPU of the scale set)"),
    (L4, {"replicas": autoscale(scale_out_delay="60s", scale_in_delay="168h")}, None),
    (L4, {"replicas": autoscale(scale_out_delay="30s")}, COOLDOWN.format("scale_out_delay", 30)),
    (L4, {"replicas": autoscale(scale_in_delay="169h")}, COOLDOWN.format("scale_in_delay", 608400)),
    (L4, {"replicas": {"min": 0, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 50}}},
     f"azure: replicas.min: 0 is not supported: {azure.SCALE_TO_ZERO}; use min: 1, or the aws or aca "
     "target, which scale to zero"),
    (L4, {"replicas": {"min": 1, "max": 1000}}, None),
    (L4, {"replicas": {"min": 1, "max": 1001}},
     f"azure: replicas.max is 1001; the instance count of an Azure VM scale set must be 1-1000 "
     f"(see {azure_limits._VMSS_SIZE_DOC})"),
    (L4, {"hardware": {"accelerator": "none", "disk_gib": 4095}}, None),
    (L4, {"hardware": {"accelerator": "none", "disk_gib": 4096}},
     f"azure: hardware.disk_gib is 4096GiB; an Azure OS disk must be at most 4095GiB (see {azure_limits._DISK_DOC})"),
    (L4, {"probes": readiness(initial_delay="90m")}, None),
    (L4, {"probes": readiness(initial_delay="2m")}, None),  # raised to 10 minutes, with a warning
    (L4, {"probes": readiness(initial_delay="91m")},
     "azure: probes.readiness.initial_delay is 5460s; the automatic instance repair grace period of an Azure VM "
     f"scale set must be 10-90 minutes (600-5400s) (see {azure_limits._REPAIR_DOC})"),
    (L4, {"targets": {"azure": {"location": "eastus", "ssh_public_key": "ecdsa-sha2-nistp256 AAAA x"}}},
     "azure: targets.azure.ssh_public_key is an ECDSA key; Azure VMs accept ssh-rsa (2048 bits or more) or "
     f"ssh-ed25519 keys (see {azure_limits._SSH_DOC})"),
    (L7, {"replicas": {"min": 1, "max": 2, "autoscale": {"metric": "requests_per_replica", "target": 5}}}, None),
    # The gateway's own probe ranges; liveness keeps the application health extension off the readiness probe.
    (L7, {"probes": {**readiness(interval=86400, timeout=86399, unhealthy_threshold=20), **LIVE}}, None),
    (L7, {"load_balancer": {"idle_timeout": "4m", "listeners": [{"port": 443, "protocol": "https"},
                                                                {"port": 65200, "protocol": "https"}]}},
     f"azure: load_balancer.listeners[1].port is 65200; an Application Gateway v2 listener port must be 1-65199 "
     f"(see {gw._AGW_PORTS_DOC})"),
    (L7, {"probes": {**readiness(interval=86401, timeout=5), **LIVE}},
     f"azure: probes.readiness.interval is 86401s; an Application Gateway probe interval must be 1-86400s "
     f"(see {gw._AGW_TF})"),
    (L7, {"probes": readiness(unhealthy_threshold=21)},
     f"azure: probes.readiness.unhealthy_threshold is 21; an Application Gateway unhealthy threshold must be 1-20 "
     f"(see {gw._AGW_TF})"),
    (L7, {"load_balancer": {"idle_timeout": "4m", "drain_timeout": 0,
                            "listeners": [{"port": 443, "protocol": "https"}]}}, None),
    (L7, {"load_balancer": {"idle_timeout": "4m", "drain_timeout": "61m",
                            "listeners": [{"port": 443, "protocol": "https"}]}},
     f"azure: load_balancer.drain_timeout is 3660s; an Application Gateway connection draining timeout must be "
     f"0-3600s (see {gw._AGW_TF})"),
    (L7, {"load_balancer": {"idle_timeout": "30m", "listeners": [{"port": 443, "protocol": "https"}]}}, None),
    (L7, {"load_balancer": {"idle_timeout": "31m", "listeners": [{"port": 443, "protocol": "https"}]}},
     GW_IDLE.format(1860)),
    (L7, {"load_balancer": {"idle_timeout": "5m", "public": False, "listeners": [{"port": 443, "protocol": "https"}]}},
     None),
    (L7, {"load_balancer": {"idle_timeout": "4m", "public": False, "listeners": [{"port": 443, "protocol": "https"}]}},
     "azure: load_balancer.idle_timeout is 240s; an Application Gateway private frontend (public: false) has a fixed "
     f"TCP idle timeout of 300s (see {gw._AGW_FAQ})"),
    (L7, {"targets": {"azure": {"location": "eastus", "certificate": "https://kv.vault.azure.net/secrets/tls",
                                "subnet_id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/"
                                             "virtualNetworks/v/subnets/a"}}},
     "azure: targets.azure.subnet_id is set, but this service needs an Application Gateway (an https listener on 443), "
     f"which needs a subnet of its own (see {gw._AGW_SUBNET_DOC}) that infc cannot carve out of a given network; "
     "remove subnet_id to let infc create the network"),
    (L7, {"probes": readiness(success_codes="200-299")},
     "azure: probes.readiness.success_codes is 200-299; behind an Application Gateway the scale set repairs replicas "
     "from the readiness path through the application health extension, which counts only 200 as healthy "
     f"(see {gw._HEALTH_EXT_DOC}); use \"200\" or add probes.liveness on a path that returns 200"),
    (L7, {"probes": {**readiness(success_codes="200-299"), "liveness": {"path": "/live"}}}, None),
    # The application health extension (intervalInSeconds 5-60, numberOfProbes 1-24: Azure/applicationhealth-
    # extension-linux main/schema.go) watches readiness behind a gateway without liveness, else liveness.
    (L7, {"probes": readiness(interval=60)}, None),
    (L7, {"probes": readiness(interval=90)}, EXT_INTERVAL.format("readiness", 90)),
    (L7, {"probes": readiness(interval=5, timeout=4)}, None),
    (L7, {"probes": readiness(interval=4, timeout=3)}, EXT_INTERVAL.format("readiness", 4)),
    (L4, {"probes": readiness(interval=90)}, None),  # the load balancer's probe, no extension
    (L4, {"probes": {**readiness(interval=90), "liveness": {"path": "/live", "interval": 60, "failure_threshold": 24}}},
     None),
    (L4, {"probes": {"liveness": {"path": "/live", "interval": 61}}}, EXT_INTERVAL.format("liveness", 61)),
    (L7, {"probes": {"liveness": {"path": "/live", "failure_threshold": 25}}},
     "azure: probes.liveness.failure_threshold is 25; the application health extension's number of probes "
     f"(numberOfProbes) must be 1-24 (see {azure_limits._HEALTH_EXT_SCHEMA})"),
]


@pytest.mark.parametrize("base, overrides, expected", LIMIT_CASES)
def test_limits(base, overrides, expected):
    assert checked(base, **overrides) == ([expected] if expected else [])


GRID = ("azure: hardware.accelerator is nvidia-a10, which Azure sells only as virtual GPUs (the NVadsA10 v5 family, "
        "here Standard_NV36ads_A10_v5) that need NVIDIA's GRID driver (see "
        "https://github.com/Azure/azhpc-extensions/blob/master/NvidiaGPU/Nvidia-GPU-Linux-Resources.json); infc's "
        "default GPU image, Ubuntu-HPC 22.04, carries the data-center driver, which cannot use them: set "
        "targets.azure.image to an image with the GRID driver, Docker and the NVIDIA container toolkit, or choose "
        "another accelerator")


def test_a10_needs_a_grid_image_of_the_users():
    """Issue 13 item 5: NVadsA10 v5 sizes are vGPUs (Azure's GPU driver extension installs GRID on them), which the
    HPC image's data-center driver cannot use; without targets.azure.image it is a refusal naming the family."""
    assert checked(L4, hardware={"accelerator": "nvidia-a10"}) == [GRID]
    assert checked(L4, hardware={"accelerator": "nvidia-a10"}, targets={"azure": {
        "location": "eastus", "image": "acme:grid-ubuntu:2204:latest"}}) == []


@pytest.mark.parametrize("accelerator, instance_type, image", [
    ("nvidia-t4", None, ("microsoft-dsvm", "ubuntu-hpc", "2204", "latest")),
    ("nvidia-a100-80gb", None, ("microsoft-dsvm", "ubuntu-hpc", "2204", "latest")),
    ("nvidia-h100-nvl", None, ("microsoft-dsvm", "ubuntu-hpc", "2204", "latest")),
    # V100 needs NVIDIA's proprietary kernel modules: Azure/azhpc-images publishes ubuntu-hpc:2204-v100 for it.
    ("nvidia-v100-16gb", "Standard_NC6s_v3", ("microsoft-dsvm", "ubuntu-hpc", "2204-v100", "latest")),
    ("nvidia-v100-32gb", "Standard_ND40rs_v2", ("microsoft-dsvm", "ubuntu-hpc", "2204-v100", "latest")),
    ("none", None, ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "latest")),
])
def test_default_image_per_gpu_family(accelerator, instance_type, image):
    hardware = {"accelerator": accelerator, **({"instance_types": {"azure": instance_type}} if instance_type else {})}
    spec = Spec.model_validate(spec_dict(**{**L4, "hardware": hardware}))
    service, _ = lower(spec, ["azure"])
    assert azure.check(service, service.target("azure")) == [] or all(
        d.severity == "warning" for d in azure.check(service, service.target("azure")))
    assert azure_limits.IMAGES[azure_limits.image_key(service)] == image


def test_v100_scale_set_boots_the_v100_image(tmp_path):
    doc = spec_dict(**{**L4, "metadata": {"name": "v100"},
                       "hardware": {"accelerator": "nvidia-v100-16gb", "instance_types": {"azure": "Standard_NC6s_v3"}}})
    out = synth_documents(tmp_path, [doc], "azure")
    scale_set = one(stack(out, "v100-azure"), "azurerm_linux_virtual_machine_scale_set")
    assert scale_set["source_image_reference"] == {"publisher": "microsoft-dsvm", "offer": "ubuntu-hpc",
                                                   "sku": "2204-v100", "version": "latest"}


# replicas.min -> (max_unhealthy_instance_percent, max_unhealthy_upgraded_instance_percent); batches are 20 %.
ROLLING = [(1, 100, 100), (2, 50, 100), (3, 34, 100), (4, 25, 100), (5, 20, 100), (9, 20, 100), (10, 20, 50),
           (20, 20, 25), (25, 20, 20), (1000, 20, 20)]


@pytest.mark.parametrize("instances, unhealthy, upgraded", ROLLING, ids=[f"{r[0]}" for r in ROLLING])
def test_rolling_upgrade_admits_one_unhealthy_instance(instances, unhealthy, upgraded):
    """Issue 13 item 8: with Azure's 20 %, one unhealthy instance of 1-4 (100, 50, 33.3, 25 %) aborted every
    upgrade. Now one unhealthy instance of the set, and of a batch (20 %, at least one instance), stays within."""
    spec = Spec.model_validate(spec_dict(**{**L4, "replicas": {"min": instances, "max": instances}}))
    service, _ = lower(spec, ["azure"])
    policy = azure_resources.rolling_thresholds(service)
    assert policy == {"max_batch_instance_percent": 20, "max_unhealthy_instance_percent": unhealthy,
                      "max_unhealthy_upgraded_instance_percent": upgraded}
    batch = max(instances * 20 // 100, 1)
    assert 100 / instances <= unhealthy and 100 / batch <= upgraded  # one unhealthy instance does not abort
    assert 100 * 2 / instances > unhealthy or unhealthy == 20  # ... and two do, wherever Azure's 20 % does not rule
    assert 5 <= unhealthy <= 100 and 0 <= upgraded <= 100  # RollingUpgradePolicy's ranges


def test_rolling_upgrade_policy_in_the_stack(synthesized):
    """chat-private runs replicas.min 1: both thresholds 100 %, the rest as before."""
    policy = one(stack(synthesized, "chat-private-azure"), "azurerm_linux_virtual_machine_scale_set")[
        "rolling_upgrade_policy"]
    assert policy == {"max_batch_instance_percent": 20, "max_unhealthy_instance_percent": 100,
                      "max_unhealthy_upgraded_instance_percent": 100, "pause_time_between_batches": "PT0S",
                      "maximum_surge_instances_enabled": True, "prioritize_unhealthy_instances_enabled": True}


def test_key_vault_id_grants_the_gateway_its_certificate_in_one_apply(synthesized):
    """Issue 13 item 9: the role assignment (RBAC vault) or the access policy (access-policy vault), one of them by the
    vault's own rbac_authorization_enabled, before the gateway that reads the certificate."""
    doc = stack(synthesized, "kv-https-azure")
    vault = doc["data"]["azurerm_key_vault"]["certificate_vault"]
    assert (vault["name"], vault["resource_group_name"]) == ("acme-kv", "certs")
    (precondition,) = vault["lifecycle"]["precondition"]
    assert precondition["condition"] == ('${lower(data.azurerm_client_config.client.subscription_id) == '
                                         'lower("00000000-0000-0000-0000-000000000000")}')
    rbac = "data.azurerm_key_vault.certificate_vault.rbac_authorization_enabled"
    role = one(doc, "azurerm_role_assignment")
    assert {k: role[k] for k in ("count", "scope", "role_definition_name", "principal_id", "principal_type")} == {
        "count": f"${{{rbac} ? 1 : 0}}", "scope": "${data.azurerm_key_vault.certificate_vault.id}",
        "role_definition_name": "Key Vault Secrets User",
        "principal_id": "${azurerm_user_assigned_identity.gateway_identity.principal_id}",
        "principal_type": "ServicePrincipal"}
    policy = one(doc, "azurerm_key_vault_access_policy")
    assert {k: policy[k] for k in ("count", "key_vault_id", "object_id", "tenant_id", "secret_permissions")} == {
        "count": f"${{{rbac} ? 0 : 1}}", "key_vault_id": "${data.azurerm_key_vault.certificate_vault.id}",
        "object_id": "${azurerm_user_assigned_identity.gateway_identity.principal_id}",
        "tenant_id": "${azurerm_user_assigned_identity.gateway_identity.tenant_id}", "secret_permissions": ["Get"]}
    assert one(doc, "azurerm_application_gateway")["depends_on"][-2:] == [
        "azurerm_role_assignment.gateway_certificate_role", "azurerm_key_vault_access_policy.gateway_certificate_policy"]
    # without key_vault_id the gateway is granted nothing (llama's role assignments are its replicas' HF_TOKEN
    # secret): the two-apply path stays, and the output says how
    llama = stack(synthesized, "llama70b-azure")
    assert "gateway_certificate_role" not in llama["resource"].get("azurerm_role_assignment", {})
    assert "azurerm_key_vault_access_policy" not in llama["resource"]
    assert "azurerm_key_vault" not in llama.get("data", {})
    assert "terraform apply -target" in llama["output"]["gateway_identity_principal_id"]["description"]


def test_key_vault_id_must_name_the_certificates_vault():
    other = KEY_VAULT_ID.replace("acme-kv", "other-kv")
    assert checked(L7, targets={"azure": {"location": "eastus", "certificate": "https://kv.vault.azure.net/secrets/tls",
                                          "key_vault_id": other}}) == [
        "azure: targets.azure.key_vault_id names the vault 'other-kv', but targets.azure.certificate is in "
        "'kv.vault.azure.net': name the vault that holds the certificate "
        "(see https://learn.microsoft.com/en-us/azure/application-gateway/key-vault-certs)"]
    assert checked(L7, targets={"azure": {"location": "eastus", "certificate": "https://KV1.vault.azure.net/secrets/t",
                                          "key_vault_id": KEY_VAULT_ID.replace("acme-kv", "kv1")}}) == []
    assert "targets.azure.key_vault_id has no effect without an https listener" in " ".join(warnings(
        L4, targets={"azure": {"location": "eastus", "key_vault_id": KEY_VAULT_ID}}))


def test_the_issues_health_extension_cases_are_errors_at_their_fields():
    """Issue 13 item 4: a 90 s readiness interval behind a gateway, and a 120 s / 30-failure liveness, used to be
    emitted as extension settings the scale set then fails on."""
    assert checked(L7, probes=readiness(interval=90)) == [EXT_INTERVAL.format("readiness", 90)]
    assert checked(L4, probes={"liveness": {"path": "/live", "interval": 120, "failure_threshold": 30}}) == [
        EXT_INTERVAL.format("liveness", 120),
        "azure: probes.liveness.failure_threshold is 30; the application health extension's number of probes "
        f"(numberOfProbes) must be 1-24 (see {azure_limits._HEALTH_EXT_SCHEMA})"]


def test_layer7_is_chosen_by_https_redirect_or_stickiness():
    def reasons(**lb) -> list[str]:
        spec = Spec.model_validate(spec_dict(**{**L4, "load_balancer": {**L4["load_balancer"], **lb}}))
        return gw.layer7_reasons(lower(spec, ["azure"])[0])
    assert reasons() == []
    assert reasons(stickiness=True) == ["stickiness"]
    assert reasons(listeners=[{"port": 443, "protocol": "https"}, {"port": 80, "protocol": "http", "redirect_to": 443}]
                   ) == ["an https listener on 443", "a redirect from 80"]


def warnings(base: dict, **overrides) -> list[str]:
    spec = Spec.model_validate(spec_dict(**{**base, **overrides}))
    service, _ = lower(spec, ["azure"])
    return [d.message for d in azure.check(service, service.target("azure")) if d.severity == "warning"]


def test_values_azure_has_no_setting_for_are_warnings_not_silent_drops():
    probes = {"readiness": {"interval": 10, "timeout": 3, "healthy_threshold": 2, "unhealthy_threshold": 3,
                            "initial_delay": "150s"}}
    assert warnings(L4, probes=probes, load_balancer={"idle_timeout": "4m", "drain_timeout": "30s"}) == [
        "azure: probes.readiness.timeout (3s) has no Azure Load Balancer setting: an HTTP probe fails when no response "
        f"arrives within min(interval, 30s) = 10s (see {gw._LB_PROBE_DOC})",
        "azure: probes.readiness.healthy_threshold (2) cannot differ from unhealthy_threshold on an Azure Load "
        "Balancer probe: its probe_threshold (3) counts successes and failures alike, so a replica gets traffic "
        f"after 3 successful checks (see {gw._LB_PROBE_TF})",
        "azure: load_balancer.drain_timeout (30s) has no Azure Load Balancer setting: connections to a replica whose "
        "probe fails go on until they close or idle out, and a replica removed by scale-in or repair is deleted "
        "without draining",
        "azure: probes.readiness.initial_delay is 150s; the scale set's repair grace period is whole minutes from 10 "
        f"to 90, so replicas get 10 minutes before they are repaired (see {azure_limits._REPAIR_DOC})",
    ]
    assert warnings(L7, probes={"readiness": {"healthy_threshold": 2, "initial_delay": "10m"},
                                "liveness": {"path": "/live", "timeout": 2}},
                    model={"name": "m", "image": "i", "uri": "s3://bucket/m/"}) == [
        f"azure: probes.readiness.healthy_threshold (2) has no Application Gateway setting: a replica gets traffic "
        f"again after one successful probe (see {gw._AGW_PROBE_DOC})",
        "azure: probes.liveness.timeout (2s) has no setting on the scale set's application health extension, which "
        "watches probes.liveness for repairs; path, port, interval and failure_threshold are carried "
        f"(see {azure_limits._HEALTH_EXT_DOC})",
        "azure: model.uri is an S3 bucket, which azure replicas read without credentials (infc can grant them only "
        "their own cloud's storage): only a public one can be read; a copy in this cloud's storage, set as "
        "targets.azure.model_uri, is also nearer to the replicas",
    ]


def test_repair_grace_is_whole_minutes_never_shorter():
    assert [azure.grace_minutes(s) for s in (0, 120, 600, 601, 1800, 5400)] == [10, 10, 10, 11, 30, 90]
    assert [azure_autoscale.iso_duration(s) for s in (0, 60, 90, 900, 5400, 604800)] == [
        "PT0S", "PT1M", "PT1M30S", "PT15M", "PT1H30M", "PT168H"]


@pytest.mark.parametrize("example", sorted(examples_naming("azure")), ids=lambda e: e.stem)
def test_every_example_naming_azure_compiles(example):
    assert _errors(example) == []


def test_check_needs_no_cdk():
    code = ("import sys, targets.azure, targets.azure.gateway; "
            "sys.exit(any(m.split('.')[0].startswith(('cdktn', 'jsii', 'constructs')) for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# --- what the synthesized stacks say ------------------------------------------------------------------------------

def test_https_redirect_tls_and_key_vault_identity(synthesized):
    doc = stack(synthesized, "llama70b-azure")
    gateway = one(doc, "azurerm_application_gateway")
    assert gateway["sku"] == {"name": "Standard_v2", "tier": "Standard_v2"}
    assert gateway["redirect_configuration"] == [{"name": "redirect-80", "redirect_type": "Permanent",
                                                  "target_listener_name": "listener-443", "include_path": True,
                                                  "include_query_string": True}]
    rules = {r["name"]: r for r in gateway["request_routing_rule"]}
    assert rules["rule-80"]["redirect_configuration_name"] == "redirect-80"
    assert "backend_address_pool_name" not in rules["rule-80"]
    assert (rules["rule-443"]["backend_address_pool_name"], rules["rule-443"]["priority"]) == ("replicas", 20)
    https = next(x for x in gateway["http_listener"] if x["name"] == "listener-443")
    assert (https["protocol"], https["ssl_certificate_name"]) == ("Https", "tls")
    assert gateway["ssl_certificate"] == [
        {"name": "tls", "key_vault_secret_id": "https://acme-kv.vault.azure.net/secrets/llama70b-tls"}]
    assert gateway["ssl_policy"] == {"policy_type": "Predefined", "policy_name": gw.TLS_POLICY}
    assert gateway["identity"] == {"type": "UserAssigned",
                                   "identity_ids": ["${azurerm_user_assigned_identity.gateway_identity.id}"]}
    assert doc["output"]["gateway_identity_principal_id"]["value"] == (
        "${azurerm_user_assigned_identity.gateway_identity.principal_id}")
    assert doc["output"]["endpoint"]["value"] == "https://${azurerm_public_ip.frontend_ip.ip_address}"


def test_gateway_probe_settings_and_draining_carry_the_spec(synthesized):
    gateway = one(stack(synthesized, "llama70b-azure"), "azurerm_application_gateway")
    assert gateway["probe"] == [{"name": "readiness", "protocol": "Http", "host": "127.0.0.1", "path": "/health",
                                 "port": 8000, "interval": 30, "timeout": 10, "unhealthy_threshold": 3,
                                 "match": {"status_code": ["200"]}}]
    (settings,) = gateway["backend_http_settings"]
    assert settings["connection_draining"] == {"enabled": True, "drain_timeout_sec": 60}
    assert (settings["request_timeout"], settings["cookie_based_affinity"]) == (300, "Disabled")
    ips = stack(synthesized, "llama70b-azure")["resource"]["azurerm_public_ip"]
    assert (ips["frontend_ip"]["sku"], ips["frontend_ip"]["idle_timeout_in_minutes"]) == ("Standard", 5)


def test_request_autoscaling_is_per_minute_on_the_gateway_metric(synthesized):
    doc = stack(synthesized, "llama70b-azure")
    (profile,) = one(doc, "azurerm_monitor_autoscale_setting")["profile"]
    assert profile["capacity"] == {"minimum": 1, "maximum": 3, "default": 1}
    out, scale_in = profile["rule"]
    for rule in (out, scale_in):
        trigger = rule["metric_trigger"]
        assert trigger["metric_name"] == "AvgRequestCountPerHealthyHost"
        assert trigger["metric_resource_id"] == "${azurerm_application_gateway.gateway.id}"
        assert trigger["threshold"] == 4 * 60  # spec: 4 requests/s per replica; the metric counts per minute
    assert (out["metric_trigger"]["operator"], out["scale_action"]) == (
        "GreaterThan", {"direction": "Increase", "type": "ChangeCount", "value": 1, "cooldown": "PT15M"})
    assert (scale_in["metric_trigger"]["operator"], scale_in["scale_action"]["cooldown"]) == ("LessThan", "PT10M")
    assert one(doc, "azurerm_linux_virtual_machine_scale_set")["lifecycle"] == {"ignore_changes": ["instances"]}


def test_gpu_scale_set_size_image_repair_and_health(synthesized):
    doc = stack(synthesized, "llama70b-azure")
    vmss = one(doc, "azurerm_linux_virtual_machine_scale_set")
    assert vmss["sku"] == "Standard_ND96amsr_A100_v4"
    assert vmss["source_image_reference"] == {"publisher": "microsoft-dsvm", "offer": "ubuntu-hpc", "sku": "2204",
                                              "version": "latest"}
    assert "plan" not in vmss  # first-party image: no marketplace terms to accept
    assert vmss["automatic_instance_repair"] == {"enabled": True, "action": "Replace", "grace_period": "PT30M"}
    assert "health_probe_id" not in vmss  # behind a gateway: the application health extension is the health source
    (extension,) = vmss["extension"]
    assert (extension["publisher"], extension["type"], extension["type_handler_version"]) == (
        "Microsoft.ManagedServices", "ApplicationHealthLinux", "1.0")
    assert json.loads(extension["settings"]) == {"protocol": "http", "port": 8000, "requestPath": "/health",
                                                 "intervalInSeconds": 30, "numberOfProbes": 3}
    assert vmss["os_disk"]["disk_size_gb"] == 500
    assert (vmss["upgrade_mode"], vmss["overprovision"]) == ("Rolling", False)
    assert vmss["rolling_upgrade_policy"]["maximum_surge_instances_enabled"] is True
    (ip,) = vmss["network_interface"][0]["ip_configuration"]
    assert ip["application_gateway_backend_address_pool_ids"] == [
        "${azurerm_application_gateway.gateway.id}/backendAddressPools/replicas"]


def test_ssh_is_key_only_and_a_generated_key_is_a_sensitive_output(synthesized):
    doc = stack(synthesized, "llama70b-azure")
    vmss = one(doc, "azurerm_linux_virtual_machine_scale_set")
    assert vmss["disable_password_authentication"] is True and "admin_password" not in vmss
    assert vmss["admin_ssh_key"] == [{"username": "azureuser",
                                      "public_key": "${tls_private_key.ssh_key.public_key_openssh}"}]
    assert one(doc, "tls_private_key")["algorithm"] == "ED25519"
    assert doc["output"]["ssh_private_key"]["sensitive"] is True
    assert doc["terraform"]["required_providers"] == {
        "azurerm": {"source": "hashicorp/azurerm", "version": ">= 5.10.0, < 6.0.0"},
        "tls": {"source": "hashicorp/tls", "version": ">= 4.4.1, < 5.0.0"}}
    given = stack(synthesized, "embed-azure")
    assert one(given, "azurerm_linux_virtual_machine_scale_set")["admin_ssh_key"][0]["public_key"].startswith(
        "ssh-ed25519 ")
    assert "tls_private_key" not in given["resource"] and "tls" not in given["terraform"]["required_providers"]


def test_custom_data_runs_the_container_with_gpus(synthesized):
    doc = stack(synthesized, "llama70b-azure")
    vmss = one(doc, "azurerm_linux_virtual_machine_scale_set")
    assert vmss["identity"] == {"type": "UserAssigned",
                                "identity_ids": ["${azurerm_user_assigned_identity.replica_identity.id}"]}
    # cloud-init writes the identity's client id, which Terraform joins into the user data, then runs the script.
    script, files = boot_script(doc, "azure")
    assert files == {"/etc/infc/identity": CLIENT_ID}
    run = shlex.split(script.rstrip("\n").rsplit("\n", 1)[-1])
    assert run[:2] == ["docker", "run"] and run[run.index("--gpus") + 1] == "all"
    assert run[-9:] == ["vllm/vllm-openai:v0.6.3", "--model", "/mnt/models", "--served-model-name",
                        "llama-3.1-70b-instruct", "--tensor-parallel-size", "8", "--max-model-len", "16384"]


def test_gateway_subnet_nsg_has_what_the_v2_sku_requires(synthesized):
    rules = {r["name"]: r for r in stack(synthesized, "llama70b-azure")["resource"]["azurerm_network_security_rule"]
             .values() if r["network_security_group_name"].endswith("gateway_security_group.name}")}
    assert (rules["gateway-manager"]["source_address_prefix"], rules["gateway-manager"]["destination_port_range"]) == (
        "GatewayManager", "65200-65535")
    assert rules["azure-load-balancer"]["source_address_prefix"] == "AzureLoadBalancer"
    listeners = [rules[f"listener-{port}-ipv4"] for port in (80, 443)]
    assert [(r["destination_port_range"], r["source_address_prefix"]) for r in listeners] == [
        ("80", "0.0.0.0/0"), ("443", "0.0.0.0/0")]
    assert (rules["deny-all-inbound"]["access"], rules["deny-all-inbound"]["priority"]) == ("Deny", 4096)


def test_replicas_admit_only_the_front_end(synthesized):
    def replica_rules(name: str) -> dict:
        return {r["name"]: r for r in stack(synthesized, name)["resource"]["azurerm_network_security_rule"].values()
                if r["network_security_group_name"].endswith("replica_security_group.name}")}
    assert replica_rules("llama70b-azure").keys() == {"gateway", "deny-all-inbound"}
    assert replica_rules("llama70b-azure")["gateway"]["source_address_prefix"] == gw.NETWORK["gateway"]
    sticky = replica_rules("chat-private-azure")["gateway"]
    assert sticky["destination_port_ranges"] == ["8000", "8001"]  # model port and readiness port
    l4 = replica_rules("embed-azure")
    assert l4.keys() == {"model-80-ipv4", "health-probes", "deny-all-inbound"}
    assert l4["health-probes"]["source_address_prefix"] == "AzureLoadBalancer"
    assert l4["model-80-ipv4"]["source_address_prefix"] == "10.0.0.0/16"  # layer 4 keeps client addresses


def test_internal_layer4_load_balancer(synthesized):
    doc = stack(synthesized, "embed-azure")
    lb = one(doc, "azurerm_lb")
    assert lb["sku"] == "Standard"
    assert lb["frontend_ip_configuration"] == [{"name": "frontend", "private_ip_address_allocation": "Dynamic",
                                                "subnet_id": "${azurerm_subnet.replicas_subnet.id}"}]
    probe = one(doc, "azurerm_lb_probe")
    assert {k: probe[k] for k in ("protocol", "port", "request_path", "interval_in_seconds", "probe_threshold")} == {
        "protocol": "Http", "port": 80, "request_path": "/health", "interval_in_seconds": 10, "probe_threshold": 3}
    assert "number_of_probes" not in probe  # deprecated by Azure in favour of probe_threshold
    rule = doc["resource"]["azurerm_lb_rule"]["rule_80"]
    assert (rule["frontend_port"], rule["backend_port"], rule["idle_timeout_in_minutes"], rule["probe_id"]) == (
        80, 80, 4, "${azurerm_lb_probe.readiness_probe.id}")
    assert "disable_outbound_snat" not in rule  # internal frontends do no SNAT
    vmss = one(doc, "azurerm_linux_virtual_machine_scale_set")
    assert vmss["health_probe_id"] == "${azurerm_lb_probe.readiness_probe.id}" and "extension" not in vmss
    assert vmss["automatic_instance_repair"]["grace_period"] == "PT10M"  # 2m raised to Azure's minimum
    assert vmss["source_image_reference"]["publisher"] == "Canonical"
    assert "azurerm_monitor_autoscale_setting" not in doc["resource"] and "lifecycle" not in vmss
    assert vmss["instances"] == 2
    assert doc["output"]["endpoint"]["value"] == "http://${azurerm_lb.load_balancer.private_ip_address}"
    assert "azurerm_lb_rule.rule_80" in vmss["depends_on"]


def test_created_network_has_private_replicas_with_nat_outbound(synthesized):
    doc = stack(synthesized, "embed-azure")
    subnets = doc["resource"]["azurerm_subnet"]
    assert subnets.keys() == {"replicas_subnet"}  # no gateway subnet without a gateway
    assert subnets["replicas_subnet"]["default_outbound_access_enabled"] is False
    assert one(doc, "azurerm_subnet_nat_gateway_association")["subnet_id"] == "${azurerm_subnet.replicas_subnet.id}"
    assert "azurerm_subnet_nat_gateway_association.nat_subnet_association" in one(
        doc, "azurerm_linux_virtual_machine_scale_set")["depends_on"]


def test_private_sticky_gateway_with_spot_liveness_and_cpu_autoscaling(synthesized):
    doc = stack(synthesized, "chat-private-azure")
    gateway = one(doc, "azurerm_application_gateway")
    assert gateway["frontend_ip_configuration"][1] == {
        "name": "private", "subnet_id": "${azurerm_subnet.gateway_subnet.id}", "private_ip_address": "10.0.16.254",
        "private_ip_address_allocation": "Static"}
    assert [x["frontend_ip_configuration_name"] for x in gateway["http_listener"]] == ["private"]
    (settings,) = gateway["backend_http_settings"]
    assert settings["cookie_based_affinity"] == "Enabled" and "connection_draining" not in settings
    assert gateway["probe"][0]["match"] == {"status_code": ["200-299"]}
    assert "ssl_certificate" not in gateway and "identity" not in gateway
    assert gateway["ssl_policy"]["policy_name"] == gw.TLS_POLICY  # set without https too: old defaults are retired
    assert "azurerm_user_assigned_identity" not in doc["resource"]
    assert "azurerm_resource_group" not in doc["resource"] and gateway["resource_group_name"] == "ml-shared"
    vmss = one(doc, "azurerm_linux_virtual_machine_scale_set")
    assert (vmss["priority"], vmss["eviction_policy"], vmss["max_bid_price"]) == ("Spot", "Delete", -1)
    assert vmss["sku"] == "Standard_NC4as_T4_v3"
    assert json.loads(vmss["extension"][0]["settings"]) == {"protocol": "http", "port": 8000, "requestPath": "/live",
                                                            "intervalInSeconds": 20, "numberOfProbes": 4}
    (profile,) = one(doc, "azurerm_monitor_autoscale_setting")["profile"]
    trigger = profile["rule"][0]["metric_trigger"]
    assert (trigger["metric_name"], trigger["threshold"], trigger["metric_resource_id"]) == (
        "Percentage CPU", 60, "${azurerm_linux_virtual_machine_scale_set.scale_set.id}")
    assert [r["scale_action"]["cooldown"] for r in profile["rule"]] == ["PT1M30S", "PT10M"]
    rules = doc["resource"]["azurerm_network_security_rule"]
    assert rules["gateway_security_group_listener_8080_ipv6"]["source_address_prefix"] == "fd00::/8"
    assert rules["gateway_security_group_listener_8080_ipv4"]["source_address_prefix"] == "10.1.0.0/16"
    assert doc["output"]["endpoint"]["value"] == "http://10.0.16.254:8080"


def test_given_subnet_keeps_its_network_and_gets_the_nsg_on_the_nics(synthesized):
    doc = stack(synthesized, "given-subnet-azure")
    res = doc["resource"]
    assert not {"azurerm_virtual_network", "azurerm_subnet", "azurerm_nat_gateway",
                "azurerm_subnet_network_security_group_association"} & res.keys()
    vmss = one(doc, "azurerm_linux_virtual_machine_scale_set")
    (nic,) = vmss["network_interface"]
    assert nic["network_security_group_id"] == "${azurerm_network_security_group.replica_security_group.id}"
    assert nic["ip_configuration"][0]["subnet_id"].endswith("/virtualNetworks/vnet/subnets/apps")
    assert vmss["source_image_reference"] == {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server",
                                              "version": "latest"}
    assert sorted(res["azurerm_lb_rule"]) == ["rule_80", "rule_8080"]  # one rule per listener, ids from ports
    assert {r["backend_port"] for r in res["azurerm_lb_rule"].values()} == {9000}
    assert one(doc, "azurerm_lb")["frontend_ip_configuration"][0]["public_ip_address_id"] == (
        "${azurerm_public_ip.frontend_ip.id}")


def test_labels_are_tags_on_every_resource_that_takes_them(synthesized):
    taggable = {"azurerm_resource_group", "azurerm_virtual_network", "azurerm_network_security_group",
                "azurerm_public_ip", "azurerm_nat_gateway", "azurerm_lb", "azurerm_application_gateway",
                "azurerm_user_assigned_identity", "azurerm_linux_virtual_machine_scale_set",
                "azurerm_monitor_autoscale_setting"}
    for name, labels in (("llama70b-azure", {"team": "ml-platform", "env": "prod"}),
                         ("embed-azure", {"team": "search"}), ("chat-private-azure", {"team": "ml"})):
        res = stack(synthesized, name)["resource"]
        for kind in taggable & res.keys():
            for key, resource in res[kind].items():
                assert resource["tags"] == labels, (name, kind, key)


def test_provider_block_has_features(synthesized):
    for name in STACKS:
        assert stack(synthesized, name)["provider"]["azurerm"] == [{"features": [{}]}]



def test_output_is_deterministic(synthesized, tmp_path):
    example = str(ROOT / "examples" / "llama-70b-a100.yaml")
    assert main(["synth", example, "--target", "azure", "--out", str(tmp_path / "again")]) == 0
    again = tmp_path / "again" / "stacks" / "llama70b-azure" / "cdk.tf.json"
    assert again.read_bytes() == (synthesized / "stacks" / "llama70b-azure" / "cdk.tf.json").read_bytes()


@pytest.mark.parametrize("name", STACKS)
def test_snapshot(synthesized, snapshot, name):
    assert stack(synthesized, name) == snapshot(extension_class=JSONSnapshotExtension)


# --- secure defaults and the security options (issue 5) -----------------------------------------------------------

WAF_POLICY = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sec/providers/Microsoft.Network/"
              "ApplicationGatewayWebApplicationFirewallPolicies/central")
WAF_LAYER4 = ("azure: targets.azure.{0} is set, but this service is served by a layer-4 Standard Load Balancer (http "
              "listeners only, no redirect, no stickiness), which has no WAF; a WAF needs an Application Gateway "
              f"(see {gw._WAF_DOC}): add an https listener, or remove {{0}}")
SECURITY_CASES = [
    # (base, targets.azure settings, expected error or None)
    (L7, {"waf": "prevention"}, None),
    (L7, {"waf_policy_id": WAF_POLICY}, None),
    (L4, {"encryption_at_host": True}, None),
    (L4, {"waf": "detection"}, WAF_LAYER4.format("waf")),
    (L4, {"waf_policy_id": WAF_POLICY}, WAF_LAYER4.format("waf_policy_id")),
    (L7, {"waf": "detection", "waf_policy_id": WAF_POLICY},
     "azure: targets.azure.waf and targets.azure.waf_policy_id are both set; an Application Gateway takes one WAF "
     "policy: set waf to create one, or waf_policy_id to attach an existing one"),
]


@pytest.mark.parametrize("base, settings, expected", SECURITY_CASES)
def test_security_options_need_what_they_act_on(base, settings, expected):
    azure_settings = {**base["targets"]["azure"], **settings}
    assert checked(base, targets={"azure": azure_settings}) == ([expected] if expected else [])


@pytest.mark.parametrize("settings, message", [
    ("waf: block", "targets.azure.waf"),
    ("encryption_at_host: yes please", "targets.azure.encryption_at_host"),
    ("waf_policy_id: /subscriptions/s/resourceGroups/g/providers/Microsoft.Network/publicIPAddresses/ip",
     "targets.azure.waf_policy_id"),
])
def test_invalid_security_options_are_located_errors(tmp_path, capsys, settings, message):
    spec = tmp_path / "bad.yaml"
    text = yaml.safe_dump(spec_dict(**L7), sort_keys=False)
    text = text.replace("  azure:\n", f"  azure:\n    {settings}\n", 1)
    spec.write_text(text)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"{spec}:{text.splitlines().index(f'    {settings}') + 1}:" in err and ": error: " in err, err
    assert message in err


SECURE_SPEC = {**spec_dict(**L7), "metadata": {"name": "secure"}}
# (targets.azure settings) -> what the stack must say: scale set encryption at host, gateway SKU, firewall policy id,
# and the WAF policy resource infc creates (None: none created).
OPTION_CASES = {
    "defaults": ({}, False, "Standard_v2", None, None),
    "waf-detection": ({"waf": "detection", "encryption_at_host": True}, True, "WAF_v2",
                      "${azurerm_web_application_firewall_policy.waf_policy.id}", "Detection"),
    "waf-prevention": ({"waf": "prevention"}, False, "WAF_v2",
                       "${azurerm_web_application_firewall_policy.waf_policy.id}", "Prevention"),
    "waf-given": ({"waf_policy_id": WAF_POLICY}, False, "WAF_v2", WAF_POLICY, None),
}


@pytest.fixture(scope="module")
def option_stacks(tmp_path_factory) -> pathlib.Path:
    """One spec per OPTION_CASES row (service name = row name), synthesized through the CLI."""
    docs = []
    for name, (settings, *_) in OPTION_CASES.items():
        doc = copy.deepcopy(SECURE_SPEC)
        doc["metadata"]["name"] = name
        doc["targets"]["azure"].update(settings)
        docs.append(doc)
    return synth_documents(tmp_path_factory.mktemp("azure-options"), docs, "azure")


@pytest.mark.parametrize("name", OPTION_CASES)
def test_security_options_emit_exactly_their_arguments(option_stacks, name):
    _, at_host, tier, policy_id, mode = OPTION_CASES[name]
    doc = stack(option_stacks, f"{name}-azure")
    assert one(doc, "azurerm_linux_virtual_machine_scale_set")["encryption_at_host_enabled"] is at_host
    gateway = one(doc, "azurerm_application_gateway")
    assert gateway["sku"] == {"name": tier, "tier": tier}
    assert gateway.get("firewall_policy_id") == policy_id
    assert "waf_configuration" not in gateway  # the retired in-gateway WAF config: policies only
    policies = doc["resource"].get("azurerm_web_application_firewall_policy", {})
    if mode is None:
        assert not policies
        return
    assert policies["waf_policy"] == {
        "//": policies["waf_policy"]["//"], "name": f"{name}-waf", "location": "eastus",
        "resource_group_name": "${azurerm_resource_group.resource_group.name}",
        "policy_settings": {"enabled": True, "mode": mode, "request_body_check": True,
                            "max_request_body_size_in_kb": 2000},
        "managed_rules": {"managed_rule_set": [{"type": "Microsoft_DefaultRuleSet", "version": "2.1"}]}}


def test_security_options_pass_their_checkov_checks(option_stacks):
    from tests.test_security import scan
    failed = {name: set() for name in OPTION_CASES}
    for report in scan(option_stacks / "stacks"):
        for check in report["results"]["failed_checks"]:
            failed[pathlib.PurePosixPath(check["file_path"]).parent.name.removesuffix("-azure")].add(check["check_id"])
    assert {"CKV_AZURE_97", "CKV_AZURE_120"} <= failed["defaults"]
    assert not {"CKV_AZURE_97", "CKV_AZURE_120"} & failed["waf-detection"]
    assert "CKV_AZURE_120" not in failed["waf-prevention"]
    # An existing policy is invisible to checkov (it only follows policies in the same configuration).
    assert "CKV_AZURE_120" in failed["waf-given"]


@pytest.mark.parametrize("name, check", [
    # password login off, key only
    ("llama70b-azure", lambda doc: one(doc, "azurerm_linux_virtual_machine_scale_set")[
        "disable_password_authentication"] is True),
    ("embed-azure", lambda doc: one(doc, "azurerm_linux_virtual_machine_scale_set")[
        "disable_password_authentication"] is True),
    # an NSG on every subnet infc creates
    ("embed-azure", lambda doc: {a["subnet_id"] for a in doc["resource"][
        "azurerm_subnet_network_security_group_association"].values()} == {"${azurerm_subnet.replicas_subnet.id}"}),
    ("llama70b-azure", lambda doc: {a["subnet_id"] for a in doc["resource"][
        "azurerm_subnet_network_security_group_association"].values()} == {
        "${azurerm_subnet.replicas_subnet.id}", "${azurerm_subnet.gateway_subnet.id}"}),
    # a given subnet keeps its NSG: ours goes on the NICs
    ("given-subnet-azure", lambda doc: one(doc, "azurerm_linux_virtual_machine_scale_set")["network_interface"][0][
        "network_security_group_id"] == "${azurerm_network_security_group.replica_security_group.id}"),
    # a Standard LB is closed by default: clients (allowed_cidrs) to the model port, AzureLoadBalancer to the probe
    ("embed-azure", lambda doc: {(r["source_address_prefix"], r.get("destination_port_range"), r["access"])
                                 for r in doc["resource"]["azurerm_network_security_rule"].values()} == {
        ("10.0.0.0/16", "80", "Allow"), ("AzureLoadBalancer", "80", "Allow"), ("*", "*", "Deny")}),
    # the Application Gateway v2 subnet admits GatewayManager on the infrastructure ports
    ("llama70b-azure", lambda doc: any(
        r["source_address_prefix"] == "GatewayManager" and r["destination_port_range"] == "65200-65535"
        and r["access"] == "Allow" for r in doc["resource"]["azurerm_network_security_rule"].values())),
    # TLS 1.2+ on the gateway, even without https listeners
    ("chat-private-azure", lambda doc: one(doc, "azurerm_application_gateway")["ssl_policy"] == {
        "policy_type": "Predefined", "policy_name": "AppGwSslPolicy20220101S"}),
    # encryption at host and WAF stay off unless asked (they need a subscription feature, or cost money)
    ("llama70b-azure", lambda doc: one(doc, "azurerm_linux_virtual_machine_scale_set")[
        "encryption_at_host_enabled"] is False and "firewall_policy_id" not in one(doc, "azurerm_application_gateway")),
])
def test_secure_defaults_that_cost_nothing(synthesized, name, check):
    assert check(stack(synthesized, name))

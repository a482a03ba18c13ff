"""GKE backend: limits as a table (value -> accepted or exact error), warnings, node sizing, emitted JSON, snapshots."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import subprocess
import sys

import pytest
import yaml
from syrupy.extensions.json import JSONSnapshotExtension

from compiler.driver import compile_files
from compiler.lower import lower
from compiler.spec import Spec
from targets import gke
from targets.gcp import limits as gcp_limits
from targets.gke import limits as gke_limits
from tests.conftest import ROOT, examples_naming, spec_dict

GKE = {"project": "acme-ml", "region": "us-central1", "namespace": "ml"}
HTTPS = {"listeners": [{"port": 443, "protocol": "https"}]}
CERT = {**GKE, "certificate": "svc-cert"}

@pytest.fixture(scope="module")
def synthesized(synth_for) -> pathlib.Path:
    return synth_for("gke")


def _stacks() -> list[tuple[str, str]]:
    return [(path.stem, f"{c.service.name}-gke") for path in examples_naming("gke")
            for c in compile_files([str(path)], ["gke"])[0]]


STACKS = _stacks()


def stack(synthesized: pathlib.Path, name: str) -> dict:
    return json.loads((synthesized / "stacks" / name / "cdk.tf.json").read_text())


def lowered(settings: dict | None = None, **overrides):
    """MINIMAL with memory_gib 8 (without it, a warning about the workload's default memory limit)."""
    overrides["hardware"] = {"memory_gib": 8, **overrides.get("hardware", {})}
    spec = Spec.model_validate(spec_dict(targets={"gke": settings or GKE}, **overrides))
    service, diags = lower(spec, ["gke"])
    assert service is not None and not [d for d in diags if d.severity == "error"], diags
    return service, service.target("gke")


def diagnostics(settings: dict | None = None, **overrides) -> list[tuple[str, str]]:
    service, target = lowered(settings, **overrides)
    return [(d.severity, d.message) for d in gke.check(service, target)]


def errors(settings: dict | None = None, **overrides) -> list[str]:
    return [message for severity, message in diagnostics(settings, **overrides) if severity == "error"]


def warnings(settings: dict | None = None, **overrides) -> list[str]:
    return [message for severity, message in diagnostics(settings, **overrides) if severity == "warning"]


def readiness(**values) -> dict:
    return {"readiness": {"interval": 30, "timeout": 5, **values}}


HC, ALLOC = gke_limits._INGRESS_HC_DOC, gke_limits._ALLOCATABLE_DOC
LIMIT_CASES = [
    # (target settings, spec overrides, expected error or None)
    (GKE, {}, None),
    (GKE, {"hardware": {"accelerator": "nvidia-l4", "disk_gib": 10}}, None),
    (GKE, {"hardware": {"accelerator": "nvidia-l4", "disk_gib": 9}},
     f"gke: hardware.disk_gib is 9 GiB; a GKE node boot disk (disk_size_gb) must be 10-65536 GiB "
     f"(see {gke_limits._DISK_DOC})"),
    (GKE, {"replicas": {"min": 0, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 50}}},
     "gke: replicas.min: 0 is not supported: an HPA's minReplicas 0 needs the alpha feature gate HPAScaleToZero and an "
     "Object or External metric (see https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/"
     "horizontal-pod-autoscaler-v2/), and while no pod runs nothing holds the requests: that takes a scaler with a "
     "request proxy in the cluster, such as the KEDA HTTP add-on, which infc does not emit; use min: 1, or the aws "
     "or aca target, which scale to zero"),
    (GKE, {"metadata": {"name": "svc", "labels": {"Team": "ml"}}},
     f"gke: label key 'Team' is not a Google Cloud label key: 1-63 lowercase letters, digits, '_' or '-', starting "
     f"with a letter (see {gcp_limits._LABEL_DOC})"),
    # Node allocatable: g2-standard-4 (4 vCPUs, 16 GiB) leaves 3.92 vCPUs and 13.30 GiB to pods.
    (GKE, {"hardware": {"accelerator": "nvidia-l4", "cpus": 3, "memory_gib": 13}}, None),
    (GKE, {"hardware": {"accelerator": "nvidia-l4", "cpus": 4}},
     f"gke: hardware.cpus is 4; a g2-standard-4 node (4 vCPUs) leaves 3.92 for pods after GKE's reservations "
     f"(see {ALLOC}); set hardware.instance_types.gke: g2-standard-8 or request at most 3"),
    (GKE, {"hardware": {"accelerator": "nvidia-l4", "memory_gib": 14}},
     f"gke: hardware.memory_gib is 14; a g2-standard-4 node (16 GiB) leaves 13.30 GiB for pods after GKE's "
     f"reservations and eviction threshold (see {ALLOC}); set hardware.instance_types.gke: g2-standard-8 or request "
     "at most 13.3"),
    (GKE, {"hardware": {"accelerator": "nvidia-l4", "cpus": 4, "instance_types": {"gke": "g2-standard-8"}}}, None),
    (GKE, {"hardware": {"accelerator": "nvidia-l4", "count": 8, "cpus": 96}},
     f"gke: hardware.cpus is 96; a g2-standard-96 node (96 vCPUs) leaves 95.69 for pods after GKE's reservations "
     f"(see {ALLOC}); request at most 95"),
    (GKE, {"hardware": {"accelerator": "nvidia-l4", "instance_types": {"gke": "g9-l4-1g"}}},
     "gke: hardware.instance_types.gke 'g9-l4-1g' is not in the catalog, so infc does not know Google's accelerator "
     "type for nvidia-l4, which the node pool's guest_accelerator needs; pick a catalog type"),
    # https: a GKE Ingress whose health check GKE infers from the readiness probe.
    (CERT, {"load_balancer": HTTPS, "probes": readiness(interval=300, timeout=1)}, None),
    (CERT, {"load_balancer": HTTPS, "probes": readiness(interval=301)},
     f"gke: probes.readiness.interval is 301s; a health-check interval (checkIntervalSec) must be 1-300s "
     f"(see {gcp_limits._HC_DOC})"),
    (GKE, {"probes": readiness(interval=301)}, None),  # no Ingress, no Google health check
    (CERT, {"load_balancer": HTTPS, "probes": readiness(success_codes="200-299")},
     f"gke: probes.readiness.success_codes is \"200-299\"; the GKE Ingress health check passes only on HTTP 200, "
     f"which cannot be changed (see {HC}); use \"200\""),
    (CERT, {"load_balancer": HTTPS, "probes": readiness(port=9000)},
     f"gke: probes.readiness.port is 9000; the GKE Ingress infers its health check from the readiness probe only on "
     f"the serving port (model.port 8000), and checks GET / otherwise (see {HC})"),
    (GKE, {"probes": readiness(port=9000)}, None),
    (CERT, {"load_balancer": {**HTTPS, "public": False}},
     "gke: load_balancer.public: false with an https listener is not supported on gke: an internal Ingress (class "
     "gce-internal) needs a proxy-only subnet and a regional certificate, which infc does not emit "
     f"(see {gke_limits._INTERNAL_INGRESS_DOC})"),
    (CERT, {"load_balancer": {**HTTPS, "allowed_cidrs": ["0.0.0.0/0", "::/0"]}}, None),
    (CERT, {"load_balancer": {**HTTPS, "allowed_cidrs": ["10.0.0.0/8"]}},
     "gke: load_balancer.allowed_cidrs cannot restrict the https Ingress on gke: its load balancer takes source "
     "ranges only from a Cloud Armor policy attached through a BackendConfig, which cannot be planned before the "
     f"cluster exists (see {gke_limits._ARMOR_DOC})"),
    ({**GKE, "certificate": "svc-cert,svc-cert-2"}, {"load_balancer": HTTPS}, None),
    ({**GKE, "certificate": "projects/acme-ml/global/sslCertificates/svc"}, {"load_balancer": HTTPS},
     "gke: targets.gke.certificate 'projects/acme-ml/global/sslCertificates/svc' is not the name of a Compute Engine "
     "SSL certificate (1-63 lowercase letters, digits and '-', starting with a letter; several separated by ','): the "
     f"Ingress's pre-shared-cert annotation takes names, not paths (see {gke_limits._PRE_SHARED_DOC})"),
    # issue 13 item 6: the IPv4-only cluster's Service carries IPv4 ranges; with none, nobody could reach it
    (GKE, {"load_balancer": {"allowed_cidrs": ["2001:db8::/32"]}},
     "gke: load_balancer.allowed_cidrs has only IPv6 ranges (2001:db8::/32), but the cluster and its Service load "
     f"balancer are IPv4 only: no client could reach it; list IPv4 ranges (see {gke_limits._STACK_DOC})"),
    (CERT, {"load_balancer": {"listeners": [{"port": 8443, "protocol": "https"}]}},
     "gke: load_balancer.listeners[0].port is 8443; an https listener terminates on a Kubernetes Ingress, which "
     "serves HTTPS on port 443 only (see https://kubernetes.io/docs/concepts/services-networking/ingress/#tls)"),
]


@pytest.mark.parametrize("settings, overrides, expected", LIMIT_CASES)
def test_limits(settings, overrides, expected):
    assert errors(settings, **overrides) == ([expected] if expected else [])


def test_minimal_gpu_spec_is_accepted_without_warnings():
    assert diagnostics() == []


TIMEOUT = ("gke: the GKE Ingress keeps its backend service's default 30s response timeout (only a BackendConfig's "
           "timeoutSec changes it, which infc cannot plan with the cluster): a response that takes longer, e.g. a "
           f"long non-streamed completion, fails with 502 (see {gke_limits._TIMEOUT_DOC})")
WARNING_CASES = [
    # (target settings, spec overrides, the warnings expected)
    (CERT, {"load_balancer": HTTPS, "probes": readiness(unhealthy_threshold=2)}, [TIMEOUT]),
    (CERT, {"load_balancer": HTTPS, "probes": readiness(unhealthy_threshold=5)},
     ["gke: the GKE Ingress health check takes a replica out after 2 failed checks, which GKE fixes when it infers "
      f"the check from the readiness probe, sooner than probes.readiness.unhealthy_threshold 5 (see {HC})", TIMEOUT]),
    ({**CERT, "host": "svc.example.com"},
     {"load_balancer": {"listeners": [{"port": 443, "protocol": "https"},
                                      {"port": 80, "protocol": "http", "redirect_to": 443}]},
      "probes": readiness(unhealthy_threshold=2)},
     [TIMEOUT, "gke: load_balancer.listeners[1].redirect_to: the GKE Ingress redirects HTTP to HTTPS only through a "
               "FrontendConfig, which cannot be planned before the cluster exists; infc turns plain HTTP off on the "
               "Ingress (kubernetes.io/ingress.allow-http: false), so http://svc.example.com is refused, not "
               f"redirected (see {gke_limits._FRONTENDCONFIG_DOC})"]),
    (CERT, {"load_balancer": {**HTTPS, "stickiness": True}, "probes": readiness(unhealthy_threshold=2)},
     ["gke: load_balancer.stickiness pins each client by IP (Service sessionAffinity ClientIP, 3 hours), not by "
      "cookie: clients behind one NAT share a replica", TIMEOUT,
      "gke: load_balancer.stickiness is not carried on the https Ingress: its session affinity is a BackendConfig "
      f"setting (see {gke_limits._AFFINITY_DOC})"]),
    (GKE, {"load_balancer": {"allowed_cidrs": ["203.0.113.0/24", "2001:db8::/32"]}},
     ["gke: load_balancer.allowed_cidrs has IPv6 ranges (2001:db8::/32), but the cluster and its Service load "
      "balancer are IPv4 only: they are left out of the Service's source ranges (one firewall rule cannot mix IPv4 "
      "and IPv6), and clients reach it over IPv4 from the IPv4 ranges alone "
      f"(see {gke_limits._STACK_DOC})"]),
    (GKE, {"hardware": {"accelerator": "nvidia-t4"}},
     ["gke: n1-standard-4 takes nvidia-t4 as an attached GPU, which not every zone offers: the node pool uses the "
      "regional cluster's default zones, and creating it fails if one lacks nvidia-tesla-t4 "
      f"(see {gke_limits._GPU_ZONES_DOC})"]),
    (GKE, {"hardware": {"accelerator": "nvidia-l4", "disk_gib": 500}}, []),  # carried: the nodes' boot disks
]


@pytest.mark.parametrize("settings, overrides, expected", WARNING_CASES)
def test_warnings(settings, overrides, expected):
    assert errors(settings, **overrides) == []
    assert warnings(settings, **overrides) == expected


@pytest.mark.parametrize("vcpus, memory_gib, cpus, memory", [
    (1, 3.75, 0.94, 3.75 - 0.25 * 3.75 - 100 / 1024),  # the n1-standard-1 example of GKE's documentation
    (4, 16, 3.92, 16 - 2.6 - 100 / 1024),
    (8, 32, 7.91, 32 - 3.56 - 100 / 1024),
    (96, 1360, 95.69, 1360 - 33.96 - 100 / 1024),
    (2, 0.5, 1.93, 0.5 - 255 / 1024 - 100 / 1024),
])
def test_allocatable_follows_gkes_reservation_tiers(vcpus, memory_gib, cpus, memory):
    assert gke.allocatable(vcpus, memory_gib) == pytest.approx((cpus, memory))


@pytest.mark.parametrize("replicas, replica_gpus, node_gpus, expected", [
    ((1, 3), 8, 8, gke.NodeBounds(1, 1, 3)),  # one replica uses all of a node's GPUs: nodes = replicas
    ((2, 6), 1, 1, gke.NodeBounds(1, 2, 6)),
    ((1, 9), 2, 8, gke.NodeBounds(4, 1, 3)),  # four replicas per 8-GPU node: ceil(1/4), ceil(9/4)
    ((4, 4), 2, 8, gke.NodeBounds(4, 1, 1)),
])
def test_node_bounds_count_replicas_per_node(replicas, replica_gpus, node_gpus, expected):
    service, target = lowered(hardware={"accelerator": "nvidia-l4"},
                              replicas={"min": replicas[0], "max": replicas[1],
                                        "autoscale": {"metric": "cpu_percent", "target": 50}})
    service = dataclasses.replace(service, accelerator_count=replica_gpus)
    target = dataclasses.replace(target, machine=dataclasses.replace(target.machine, accelerator_count=node_gpus))
    assert gke.node_bounds(service, target) == expected


@pytest.mark.parametrize("settings, namespace", [(GKE, "ml"), ({**GKE, "namespace": None}, "svc")])
def test_workload_namespace_defaults_to_the_service_name(settings, namespace):
    service, target = lowered({k: v for k, v in settings.items() if v is not None})
    assert gke.workload_settings(service, target)["namespace"] == namespace


WORKLOAD = {"cpu_limit": 6, "liveness_from_readiness": False, "run_as_user": 1000, "writable_dirs": ["/tmp"]}


def test_workload_settings_pass_through_like_kubernetes():
    service, target = lowered({**GKE, **WORKLOAD})
    settings = gke.workload_settings(service, target)
    assert {key: settings[key] for key in WORKLOAD} == WORKLOAD
    defaults = gke.workload_settings(*lowered(GKE))
    assert defaults.get("liveness_from_readiness", True) is True and "writable_dirs" not in defaults


def test_workload_settings_are_checked_like_kubernetes():
    assert any("cpu_limit" in message for message in errors({**GKE, "cpu_limit": 0.5}, hardware={"cpus": 2}))


def test_check_needs_no_cdk_runtime():
    code = ("import sys, targets.gke; "
            "print([m for m in sys.modules if m.split('.')[0] in ('jsii', 'cdktn', 'constructs') "
            "or m.startswith('cdktn_provider')])")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


def test_providers_are_wired_to_the_new_cluster(synthesized):
    doc = stack(synthesized, "llama70b-gke")
    assert doc["provider"]["google"] == [{"project": "acme-ml", "region": "us-central1"}]
    assert doc["provider"]["kubernetes"] == [{
        "host": "https://${google_container_cluster.cluster.endpoint}",
        "token": "${data.google_client_config.client_config.access_token}",
        "cluster_ca_certificate":
            "${base64decode(google_container_cluster.cluster.master_auth[0].cluster_ca_certificate)}"}]
    assert doc["terraform"]["required_providers"] == {
        "google": {"source": "hashicorp/google", "version": ">= 8.7.0, < 9.0.0"},
        "kubernetes": {"source": "hashicorp/kubernetes", "version": ">= 3.0.0, < 4.0.0"}}


def test_regional_cluster_without_default_pool(synthesized):
    cluster = stack(synthesized, "llama70b-gke")["resource"]["google_container_cluster"]["cluster"]
    assert (cluster["location"], cluster["remove_default_node_pool"], cluster["initial_node_count"]) == \
        ("us-central1", True, 1)
    assert cluster["deletion_protection"] is False
    assert cluster["workload_identity_config"] == {"workload_pool": "acme-ml.svc.id.goog"}
    assert cluster["release_channel"] == {"channel": "REGULAR"}
    assert (cluster["networking_mode"], cluster["ip_allocation_policy"]) == ("VPC_NATIVE", {})


def test_a100_node_pool(synthesized):
    res = stack(synthesized, "llama70b-gke")["resource"]
    pool = res["google_container_node_pool"]["node_pool"]
    config = pool["node_config"]
    assert config["machine_type"] == "a2-ultragpu-8g"
    assert config["guest_accelerator"] == [{"type": "nvidia-a100-80gb", "count": 8,
                                            "gpu_driver_installation_config": {"gpu_driver_version": "LATEST"}}]
    assert (config["disk_size_gb"], config["disk_type"], config["spot"]) == (500, "pd-balanced", False)
    assert pool["autoscaling"] == {"total_min_node_count": 1, "total_max_node_count": 3, "location_policy": "ANY"}
    assert "initial_node_count" not in pool and "node_count" not in pool
    assert config["service_account"] == "${google_service_account.node_account.email}"
    assert config["workload_metadata_config"] == {"mode": "GKE_METADATA"}
    assert res["google_project_iam_member"]["node_role"]["role"] == "roles/container.defaultNodeServiceAccount"
    assert pool["depends_on"] == ["google_project_iam_member.node_role"]
    assert "taint" not in config  # the only pool: system pods run there too


def test_node_pool_zones_are_those_offering_the_machine_type(synthesized):
    doc = stack(synthesized, "llama70b-gke")
    types = doc["data"]["google_compute_machine_types"]["machine_types"]
    assert types["for_each"] == "${toset(data.google_compute_zones.zones.names)}"
    assert (types["zone"], types["filter"]) == ("${each.key}", 'name = "a2-ultragpu-8g"')
    zones = doc["data"]["google_compute_zones"]["zones"]
    assert (zones["region"], zones["status"]) == ("us-central1", "UP")
    offering = ("[for zone, types in data.google_compute_machine_types.machine_types : "
                "zone if length(types.machine_types) > 0]")
    pool = doc["resource"]["google_container_node_pool"]["node_pool"]
    assert pool["node_locations"] == "${" + offering + "}"
    assert pool["lifecycle"]["precondition"][0]["condition"] == "${length(" + offering + ") > 0}"


def test_replicas_select_gkes_accelerator_label_and_wait_for_the_pool(synthesized):
    res = stack(synthesized, "llama70b-gke")["resource"]
    pod = res["kubernetes_deployment_v1"]["deployment"]["spec"]["template"]["spec"]
    assert pod["node_selector"] == {"cloud.google.com/gke-accelerator": "nvidia-a100-80gb",
                                    "kubernetes.io/arch": "amd64"}
    assert "affinity" not in pod  # not GPU Feature Discovery's label: GKE nodes do not carry it
    for kind, objects in res.items():
        if kind.startswith("kubernetes_"):
            for obj in objects.values():
                assert "google_container_node_pool.node_pool" in obj["depends_on"], kind


def test_https_is_a_gke_ingress_with_the_pre_shared_certificate(synthesized):
    doc = stack(synthesized, "llama70b-gke")
    ingress = doc["resource"]["kubernetes_ingress_v1"]["ingress"]
    assert ingress["metadata"]["annotations"] == {
        "kubernetes.io/ingress.class": "gce",
        "kubernetes.io/ingress.global-static-ip-name": "${google_compute_global_address.address.name}",
        "ingress.gcp.kubernetes.io/pre-shared-cert": "llama70b-cert",
        "kubernetes.io/ingress.allow-http": "false"}
    assert "ingress_class_name" not in ingress["spec"] and "tls" not in ingress["spec"]
    assert ingress["depends_on"] == ["kubernetes_deployment_v1.deployment", "google_container_node_pool.node_pool"]
    rule = ingress["spec"]["rule"][0]
    service = doc["resource"]["kubernetes_service_v1"]["service"]
    assert rule["host"] == "llama70b.ml.acme.example"
    assert rule["http"]["path"][0]["backend"]["service"] == {"name": "llama70b", "port": {"number": 8000}}
    # The health check comes from the readiness probe: same port as the container port the Service targets.
    assert service["metadata"]["annotations"] == {"cloud.google.com/neg": '{"ingress": true}'}
    assert service["spec"]["type"] == "ClusterIP" and service["spec"]["port"][0]["port"] == 8000
    probe = doc["resource"]["kubernetes_deployment_v1"]["deployment"]["spec"]["template"]["spec"]["container"][0]
    assert probe["readiness_probe"]["http_get"] == {"path": "/health", "port": "8000", "scheme": "HTTP"}
    assert doc["output"]["endpoint"]["value"] == "https://llama70b.ml.acme.example"
    assert doc["output"]["ingress_address"]["value"] == "${google_compute_global_address.address.address}"
    assert doc["output"]["cluster_name"]["value"] == "${google_container_cluster.cluster.name}"


def test_l4_spot_http_service(synthesized):
    doc = stack(synthesized, "mistral-spot-gke")
    res = doc["resource"]
    pool = res["google_container_node_pool"]["node_pool"]
    assert pool["node_config"]["spot"] is True
    assert pool["node_config"]["guest_accelerator"][0]["type"] == "nvidia-l4"
    assert pool["autoscaling"] == {"total_min_node_count": 2, "total_max_node_count": 6, "location_policy": "ANY"}
    assert "kubernetes_ingress_v1" not in res and "google_compute_global_address" not in res
    assert res["kubernetes_service_v1"]["service"]["spec"]["type"] == "LoadBalancer"
    assert doc["output"]["endpoint"]["value"] == \
        "http://${kubernetes_service_v1.service.status[0].load_balancer[0].ingress[0].ip}"


def test_labels_with_dashes_survive_on_cluster_and_nodes(synthesized):
    res = stack(synthesized, "mistral-spot-gke")["resource"]
    labels = {"team": "research", "cost-center": "4711"}
    assert res["google_container_cluster"]["cluster"]["resource_labels"] == labels
    assert res["google_container_node_pool"]["node_pool"]["node_config"]["resource_labels"] == labels


@pytest.mark.parametrize("example, name", STACKS, ids=[n for _, n in STACKS])
def test_snapshot(synthesized, snapshot, example, name):
    assert stack(synthesized, name) == snapshot(extension_class=JSONSnapshotExtension)


def test_service_carries_the_ipv4_ranges_of_a_mixed_list(synthesized):
    """Issue 13 item 6: GKE's L4 controller writes the Service's source ranges into one firewall rule, which cannot
    mix IPv4 and IPv6 (the Service would never get an address): the IPv4-only cluster's Service keeps the IPv4 ones."""
    spec = stack(synthesized, "mistral-spot-gke")["resource"]["kubernetes_service_v1"]["service"]["spec"]
    cidrs = yaml.safe_load((ROOT / "examples" / "mistral-l4-spot.yaml").read_text())["load_balancer"]["allowed_cidrs"]
    assert cidrs == ["203.0.113.0/24", "2001:db8::/32"]
    assert (spec["ip_families"], spec["ip_family_policy"]) == (["IPv4"], "SingleStack")
    assert spec["load_balancer_source_ranges"] == ["203.0.113.0/24"]

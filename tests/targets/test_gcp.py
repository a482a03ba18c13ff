"""Google Cloud backend: limits as a table (value -> accepted or the exact error), emitted semantics, snapshots."""

from __future__ import annotations

import json
import pathlib

import pytest
import yaml
from syrupy.extensions.json import JSONSnapshotExtension

from compiler.cli import main
from compiler.driver import compile_files
from compiler.lower import lower
from compiler.spec import Spec
from targets import gcp
from targets.gcp import lb as gcp_lb
from targets.gcp import limits as gcp_limits
from targets.gcp import resources as gcp_resources
from tests.conftest import examples_naming, spec_dict, synth_documents

GCP = {"gcp": {"project": "acme-ml", "region": "us-central1"}}

STACKS = [(example.stem, f"{c.service.name}-gcp")
          for example in examples_naming("gcp") for c in compile_files([str(example)], ["gcp"])[0]]

# What no example covers: N1 + attached T4, spot, stickiness, liveness, CPU autoscaling, a Cloud Armor allowlist
# longer than one rule (IPv4 and IPv6), a given network and subnet, a gs:// model.
EXTRA = spec_dict(
    metadata={"name": "t4-spot", "labels": {"team": "ml", "cost-center": "4711"}},
    model={"name": "m", "image": "vllm/vllm-openai:v0.6.3", "uri": "gs://acme-models/m/"},
    hardware={"accelerator": "nvidia-t4", "count": 2, "cpus": 8, "spot": True},
    replicas={"min": 1, "max": 4, "autoscale": {"metric": "cpu_percent", "target": 65, "scale_out_delay": "3m",
                                                "scale_in_delay": "20m"}},
    load_balancer={"allowed_cidrs": [f"198.51.100.{i}/32" for i in range(11)] + ["2001:db8::/32"],
                   "listeners": [{"port": 8080, "protocol": "http"}], "stickiness": True},
    probes={"liveness": {"path": "/live", "port": 9000, "interval": 20, "timeout": 4, "failure_threshold": 6}},
)
EXTRA["targets"] = {"gcp": {**GCP["gcp"], "network": "prod-vpc", "subnet": "prod-us"}}

# Issue 13 item 10: two more internal services in one network and region; the first creates the proxy-only subnet
# with its own range, the second names it.
INTERNAL_LB = {"public": False, "listeners": [{"port": 80, "protocol": "http"}]}
OWN_RANGE = spec_dict(metadata={"name": "first"}, load_balancer=INTERNAL_LB)
OWN_RANGE["targets"] = {"gcp": {**GCP["gcp"], "network": "prod-vpc", "proxy_subnet_cidr": "10.200.0.0/24"}}
SHARED = spec_dict(metadata={"name": "second"}, load_balancer=INTERNAL_LB)
SHARED["targets"] = {"gcp": {**GCP["gcp"], "network": "projects/acme-ml/global/networks/prod-vpc",
                             "proxy_subnet": "first-proxy-only"}}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> pathlib.Path:
    """Every example naming gcp plus EXTRA, OWN_RANGE and SHARED, in one synth through the real CLI."""
    return synth_documents(tmp_path_factory.mktemp("synth-gcp"), [EXTRA, OWN_RANGE, SHARED], "gcp",
                           files=examples_naming("gcp"))


def stack(synthesized: pathlib.Path, name: str) -> dict:
    return json.loads((synthesized / "stacks" / name / "cdk.tf.json").read_text())


def diagnostics(severity: str = "error", **overrides) -> list[str]:
    data = spec_dict(**overrides)
    data["targets"] = overrides.get("targets", GCP)
    service, diags = lower(Spec.model_validate(data), ["gcp"])
    assert not [d for d in diags if d.severity == "error"]
    return [d.message for d in gcp.check(service, service.target("gcp")) if d.severity == severity]


def readiness(**values) -> dict:
    return {"readiness": {"interval": 30, "timeout": 5, **values}}


HC = gcp_limits._HC_DOC
LIMIT_CASES = [
    # (spec overrides, expected error (or errors) or None)
    ({"probes": readiness(interval=1, timeout=1)}, None),
    ({"probes": readiness(interval=300, healthy_threshold=1, unhealthy_threshold=10)}, None),
    ({"probes": readiness(interval=301)},
     f"gcp: probes.readiness.interval is 301s; a health-check interval (checkIntervalSec) must be 1-300s (see {HC})"),
    ({"probes": readiness(interval=400, timeout=301)},
     [f"gcp: probes.readiness.interval is 400s; a health-check interval (checkIntervalSec) must be 1-300s (see {HC})",
      f"gcp: probes.readiness.timeout is 301s; a health-check timeout (timeoutSec) must be 1-300s (see {HC})"]),
    ({"probes": readiness(healthy_threshold=11)},
     f"gcp: probes.readiness.healthy_threshold is 11; a health-check healthy threshold must be 1-10 (see {HC})"),
    ({"probes": readiness(unhealthy_threshold=11)},
     f"gcp: probes.readiness.unhealthy_threshold is 11; a health-check unhealthy threshold must be 1-10 (see {HC})"),
    ({"probes": readiness(success_codes="200")}, None),
    ({"probes": readiness(success_codes="200,204")},
     f"gcp: probes.readiness.success_codes is \"200,204\"; a Google Cloud HTTP health check passes only on HTTP 200 "
     f"(see {HC}); use \"200\""),
    ({"probes": readiness(initial_delay="1h")}, None),
    ({"probes": readiness(initial_delay=3601)},
     f"gcp: probes.readiness.initial_delay is 3601s; a managed instance group auto-healing initial delay "
     f"(initial_delay_sec) must be 0-3600s (see {gcp_limits._MIG_DOC})"),
    ({"probes": {"liveness": {"failure_threshold": 11}}},
     f"gcp: probes.liveness.failure_threshold is 11; an auto-healing health-check unhealthy threshold must be 1-10 "
     f"(see {HC})"),
    ({"load_balancer": {"drain_timeout": "1h"}}, None),
    ({"load_balancer": {"drain_timeout": 3601}},
     f"gcp: load_balancer.drain_timeout is 3601s; a backend service connection draining timeout must be 0-3600s "
     f"(see {gcp_limits._DRAIN_DOC})"),
    ({"load_balancer": {"idle_timeout": "20m"}}, None),
    ({"load_balancer": {"idle_timeout": 1201}},
     f"gcp: load_balancer.idle_timeout is 1201s; the HTTP keepalive timeout of a global external Application Load "
     f"Balancer must be 5-1200s (see {gcp_limits._PROXY_DOC})"),
    ({"load_balancer": {"idle_timeout": 4}},
     f"gcp: load_balancer.idle_timeout is 4s; the HTTP keepalive timeout of a global external Application Load "
     f"Balancer must be 5-1200s (see {gcp_limits._PROXY_DOC})"),
    ({"load_balancer": {"public": False, "idle_timeout": 600}}, None),
    ({"load_balancer": {"public": False, "idle_timeout": 601}},
     f"gcp: load_balancer.idle_timeout is 601s; the HTTP keepalive timeout of a regional internal Application Load "
     f"Balancer must be 5-600s (see {gcp_limits._REGION_PROXY_DOC})"),
    ({"replicas": {"min": 1, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 100}}}, None),
    ({"replicas": {"min": 0, "max": 2, "autoscale": {"metric": "requests_per_replica", "target": 5}}},
     f"gcp: replicas.min: 0 is not supported: {gcp.SCALE_TO_ZERO}; use min: 1, or the aws or aca "
     "target, which scale to zero"),
    ({"metadata": {"name": "svc", "labels": {"team": "ml", "cost_center": "4711", "empty": ""}}}, None),
    ({"metadata": {"name": "svc", "labels": {"Team": "ml"}}},
     f"gcp: label key 'Team' is not a Google Cloud label key: 1-63 lowercase letters, digits, '_' or '-', starting "
     f"with a letter (see {gcp_limits._LABEL_DOC})"),
    ({"metadata": {"name": "svc", "labels": {"team": "ML Platform"}}},
     f"gcp: label 'team' has value 'ML Platform'; Google Cloud label values are 0-63 lowercase letters, digits, '_' "
     f"or '-' (see {gcp_limits._LABEL_DOC})"),
    ({"load_balancer": {"listeners": [{"port": 8443, "protocol": "https"},
                                      {"port": 80, "protocol": "http", "redirect_to": 8443}]},
      "targets": {"gcp": {**GCP["gcp"], "certificate": "projects/acme-ml/global/sslCertificates/c"}}},
     f"gcp: listener 80 redirects to https 8443; a Google Cloud URL map redirect only switches http to https on "
     f"port 443 (no port redirect; see {gcp_limits._REDIRECT_DOC})"),
    ({"load_balancer": {"public": False, "listeners": [{"port": 443, "protocol": "https"}]},
      "targets": {"gcp": {**GCP["gcp"], "certificate": "projects/acme-ml/global/sslCertificates/c"}}},
     f"gcp: targets.gcp.certificate 'projects/acme-ml/global/sslCertificates/c' is a global SSL certificate; an "
     f"internal regional Application Load Balancer needs a regional one (projects/P/regions/R/sslCertificates/N; "
     f"see {gcp_limits._INTERNAL_CERT_DOC})"),
    ({"load_balancer": {"public": False, "listeners": [{"port": 443, "protocol": "https"}]},
      "targets": {"gcp": {**GCP["gcp"], "certificate": "projects/acme-ml/regions/us-central1/sslCertificates/c"}}},
     None),
    ({"hardware": {"accelerator": "nvidia-l4", "instance_types": {"gcp": "c3-highcpu-8"}}},
     f"gcp: machine type 'c3-highcpu-8' cannot carry nvidia-l4: GPUs attach only to N1 types or come with the "
     f"a2, a3, a4, a4x, g2, g4 families (see {gcp_limits._GPU_DOC})"),
]


@pytest.mark.parametrize("overrides, expected", LIMIT_CASES)
def test_limits(overrides, expected):
    assert diagnostics(**overrides) == ([expected] if isinstance(expected, str) else expected or [])


def test_internal_allowed_cidrs_are_a_warning_not_a_silent_drop():
    assert diagnostics("warning", load_balancer={"public": False, "allowed_cidrs": ["10.0.0.0/16"]}) == [
        "gcp: load_balancer.allowed_cidrs is not enforced on an internal Application Load Balancer: VPC firewall "
        "rules do not apply to its forwarding rule and Cloud Armor attaches only to external ones, so every client "
        f"in the VPC network's region can connect (see {gcp_limits._ARMOR_DOC})"]
    assert diagnostics("warning", load_balancer={"public": False}) == []


def test_success_code_ranges_cannot_be_expressed():
    assert diagnostics(probes={"readiness": {"success_codes": "200-299"}}) == [
        f"gcp: probes.readiness.success_codes is \"200-299\"; a Google Cloud HTTP health check passes only on "
        f"HTTP 200 (see {gcp_limits._HC_DOC}); use \"200\""]


def test_bundled_gpus_terminate_on_maintenance_without_guest_accelerator(synthesized):
    doc = stack(synthesized, "llama70b-gcp")
    template = doc["resource"]["google_compute_region_instance_template"]["instance_template"]
    assert template["machine_type"] == "a2-ultragpu-8g" and "guest_accelerator" not in template
    assert template["scheduling"] == {"automatic_restart": True, "on_host_maintenance": "TERMINATE",
                                      "provisioning_model": "STANDARD"}
    disk = template["disk"][0]
    assert (disk["boot"], disk["disk_size_gb"], disk["source_image"]) == (True, 500, gcp.IMAGES[("gpu", "x86_64")])
    assert template["lifecycle"] == {"create_before_destroy": True} and template["name_prefix"] == "llama70b-"
    group = doc["resource"]["google_compute_region_instance_group_manager"]["instance_group"]
    assert group["distribution_policy_target_shape"] == "BALANCED"
    assert group["update_policy"]["instance_redistribution_type"] == "NONE"


def test_https_with_certificate_and_redirect_on_one_address(synthesized):
    res = stack(synthesized, "llama70b-gcp")["resource"]
    https = res["google_compute_target_https_proxy"]["proxy_443"]
    assert https["ssl_certificates"] == ["projects/acme-ml/global/sslCertificates/llama70b"]
    assert https["url_map"] == "${google_compute_url_map.url_map.id}"
    redirect = res["google_compute_target_http_proxy"]["proxy_80"]
    assert redirect["url_map"] == "${google_compute_url_map.redirect_url_map.id}"
    assert res["google_compute_url_map"]["redirect_url_map"]["default_url_redirect"] == {
        "https_redirect": True, "redirect_response_code": "MOVED_PERMANENTLY_DEFAULT", "strip_query": False}
    rules = res["google_compute_global_forwarding_rule"]
    assert {r["port_range"] for r in rules.values()} == {"80", "443"}
    assert {r["ip_address"] for r in rules.values()} == {"${google_compute_global_address.address.address}"}
    assert {r["load_balancing_scheme"] for r in rules.values()} == {"EXTERNAL_MANAGED"}
    assert stack(synthesized, "llama70b-gcp")["output"]["endpoint"]["value"] == \
        "https://${google_compute_global_address.address.address}"


def test_request_autoscaling_holds_the_spec_rate_per_replica(synthesized):
    res = stack(synthesized, "llama70b-gcp")["resource"]
    policy = res["google_compute_region_autoscaler"]["autoscaler"]["autoscaling_policy"]
    backend = res["google_compute_backend_service"]["backend_service"]["backend"][0]
    assert backend["balancing_mode"] == "RATE"
    assert backend["max_rate_per_instance"] * policy["load_balancing_utilization"]["target"] == pytest.approx(4)
    assert (policy["min_replicas"], policy["max_replicas"]) == (1, 3)
    # Issue 13 item 7: a VM initializes until its model has loaded (initial_delay 30m), longer than the 15m
    # scale-out delay, which was the initialization period before, so still-loading VMs counted as serving.
    assert (policy["cooldown_period"], policy["stabilization_period"]) == (1800, 600)
    assert "target_size" not in res["google_compute_region_instance_group_manager"]["instance_group"]


def test_backend_service_carries_timeouts_and_health_check(synthesized):
    res = stack(synthesized, "llama70b-gcp")["resource"]
    backend = res["google_compute_backend_service"]["backend_service"]
    assert (backend["timeout_sec"], backend["connection_draining_timeout_sec"]) == (300, 60)
    assert backend["session_affinity"] == "NONE" and "security_policy" not in backend
    check = res["google_compute_health_check"]["readiness"]
    assert (check["check_interval_sec"], check["timeout_sec"], check["healthy_threshold"],
            check["unhealthy_threshold"]) == (30, 10, 2, 3)
    assert check["http_health_check"] == {"port": 8000, "port_specification": "USE_FIXED_PORT",
                                          "request_path": "/health"}
    healing = res["google_compute_region_instance_group_manager"]["instance_group"]["auto_healing_policies"]
    assert healing == {"health_check": "${google_compute_health_check.readiness.id}", "initial_delay_sec": 1800}


def startup_script(doc: dict) -> str:
    template = doc["resource"]["google_compute_region_instance_template"]["instance_template"]
    script = template["metadata"]["startup-script"]
    assert script.startswith("#!/bin/bash\n")
    return script


def test_gpu_startup_script_runs_the_container_with_gpus(synthesized):
    script = startup_script(stack(synthesized, "llama70b-gcp"))
    assert ("docker run --detach --name model --restart unless-stopped --env-file /etc/infc/model.env --env-file "
            "/etc/infc/secrets.env --gpus all --ipc host --publish 8000:8000 --volume "
            "/var/lib/infc/models:/mnt/models:ro vllm/vllm-openai:v0.6.3 --model /mnt/models --served-model-name "
            "llama-3.1-70b-instruct --tensor-parallel-size 8 --max-model-len 16384\n") in script
    assert ("MODEL_URI=hf://meta-llama/Llama-3.1-70B-Instruct\nMODEL_DIR=/mnt/models\nVLLM_LOGGING_LEVEL=INFO\n"
            in script)
    assert "nvidia-container-toolkit" in script


def test_cpu_service_behind_internal_load_balancer(synthesized):
    doc = stack(synthesized, "embed-gcp")
    res = doc["resource"]
    assert "--gpus" not in startup_script(doc) and "nvidia" not in startup_script(doc)
    template = res["google_compute_region_instance_template"]["instance_template"]
    assert template["disk"][0]["source_image"] == gcp.IMAGES[("cpu", "x86_64")]
    assert template["scheduling"]["on_host_maintenance"] == "MIGRATE"
    assert res["google_compute_region_instance_group_manager"]["instance_group"]["target_size"] == 2
    assert "google_compute_region_autoscaler" not in res
    subnet = res["google_compute_subnetwork"]["proxy_subnet"]
    assert (subnet["purpose"], subnet["role"], subnet["ip_cidr_range"]) == (
        "REGIONAL_MANAGED_PROXY", "ACTIVE", gcp_lb.PROXY_SUBNET_CIDR)
    rule = res["google_compute_forwarding_rule"]["forwarding_rule_80"]
    assert rule["load_balancing_scheme"] == "INTERNAL_MANAGED"
    assert rule["depends_on"] == ["google_compute_subnetwork.proxy_subnet"]
    backend = res["google_compute_region_backend_service"]["backend_service"]
    assert backend["load_balancing_scheme"] == "INTERNAL_MANAGED"
    assert res["google_compute_firewall"]["allow_load_balancer"]["source_ranges"] == [gcp_lb.PROXY_SUBNET_CIDR]
    assert doc["data"]["google_compute_network"]["network"]["name"] == "default"
    subnet = doc["data"]["google_compute_subnetwork"]["subnet"]
    assert (subnet["name"], subnet["region"]) == ("default", "europe-west1")
    assert doc["output"]["endpoint"]["value"] == "http://${google_compute_address.address.address}"


def test_n1_spot_gets_attached_gpus_and_spot_scheduling(synthesized):
    res = stack(synthesized, "t4-spot-gcp")["resource"]
    template = res["google_compute_region_instance_template"]["instance_template"]
    assert template["machine_type"].startswith("n1-")
    assert template["guest_accelerator"] == [{"count": 2, "type": "nvidia-tesla-t4"}]
    assert template["scheduling"] == {"automatic_restart": False, "instance_termination_action": "DELETE",
                                      "on_host_maintenance": "TERMINATE", "preemptible": True,
                                      "provisioning_model": "SPOT"}
    assert template["network_interface"][0]["network"] == "prod-vpc"
    assert template["network_interface"][0]["subnetwork"] == "prod-us"


def test_given_network_is_not_looked_up(synthesized):
    doc = stack(synthesized, "t4-spot-gcp")
    assert "data" not in doc
    assert {r["network"] for r in doc["resource"]["google_compute_firewall"].values()} == {"prod-vpc"}


def test_cpu_autoscaling_stickiness_and_gs_model(synthesized):
    res = stack(synthesized, "t4-spot-gcp")["resource"]
    policy = res["google_compute_region_autoscaler"]["autoscaler"]["autoscaling_policy"]
    assert policy["cpu_utilization"] == {"target": 0.65}
    # initial_delay is the spec default, 10 minutes: longer than the 3m scale-out delay
    assert (policy["cooldown_period"], policy["stabilization_period"]) == (600, 1200)
    backend = res["google_compute_backend_service"]["backend_service"]
    assert backend["backend"][0]["balancing_mode"] == "UTILIZATION"
    assert (backend["session_affinity"], backend["affinity_cookie_ttl_sec"]) == ("GENERATED_COOKIE", 86400)
    member = res["google_storage_bucket_iam_member"]["model_read"]
    assert (member["bucket"], member["role"]) == ("acme-models", "roles/storage.objectViewer")


def test_liveness_drives_auto_healing_and_readiness_the_load_balancer(synthesized):
    res = stack(synthesized, "t4-spot-gcp")["resource"]
    live = res["google_compute_health_check"]["liveness"]
    assert (live["check_interval_sec"], live["timeout_sec"], live["unhealthy_threshold"], live["healthy_threshold"]) \
        == (20, 4, 6, 1)
    assert live["http_health_check"]["request_path"] == "/live" and live["http_health_check"]["port"] == 9000
    group = res["google_compute_region_instance_group_manager"]["instance_group"]
    assert group["auto_healing_policies"]["health_check"] == "${google_compute_health_check.liveness.id}"
    assert res["google_compute_backend_service"]["backend_service"]["health_checks"] == [
        "${google_compute_health_check.readiness.id}"]
    assert res["google_compute_firewall"]["allow_health_checks"]["allow"][0]["ports"] == ["8000", "9000"]


def test_external_allowed_cidrs_become_a_cloud_armor_allowlist(synthesized):
    res = stack(synthesized, "t4-spot-gcp")["resource"]
    policy = res["google_compute_security_policy"]["client_allowlist"]
    rules = {r["priority"]: r for r in policy["rule"]}
    assert sorted(rules) == [1000, 1001, gcp_lb.ARMOR_DEFAULT_PRIORITY]
    ranges = [rules[p]["match"]["config"]["src_ip_ranges"] for p in (1000, 1001)]
    assert len(ranges[0]) == 10 and ranges[0] + ranges[1] == EXTRA["load_balancer"]["allowed_cidrs"]
    assert {rules[p]["action"] for p in (1000, 1001)} == {"allow"}
    assert rules[gcp_lb.ARMOR_DEFAULT_PRIORITY]["action"] == "deny(403)"
    assert res["google_compute_backend_service"]["backend_service"]["security_policy"] == \
        "${google_compute_security_policy.client_allowlist.id}"


def test_every_stack_admits_health_checks_and_labels_everything(synthesized):
    for name in [n for _, n in STACKS] + ["t4-spot-gcp"]:
        doc = stack(synthesized, name)
        firewall = doc["resource"]["google_compute_firewall"]
        assert firewall["allow_health_checks"]["source_ranges"] == list(gcp_lb.HEALTH_CHECK_RANGES)
        assert all(r["target_tags"] == [name.removesuffix("-gcp")] for r in firewall.values())
        labels = doc["provider"]["google"][0]["default_labels"]
        template = doc["resource"]["google_compute_region_instance_template"]["instance_template"]
        assert template["labels"] == labels == template["disk"][0]["labels"]
        assert doc["terraform"]["required_providers"]["google"] == {"source": "hashicorp/google",
                                                                    "version": ">= 8.7.0, < 9.0.0"}


def test_resource_names_fit_rfc1035(synthesized):
    for path in synthesized.rglob("cdk.tf.json"):
        for kind, resources in json.loads(path.read_text())["resource"].items():
            for resource in resources.values():
                name = resource.get("name") or resource.get("name_prefix", "x")
                assert len(name) <= 63 and name[0].isalpha(), (kind, name)



@pytest.mark.parametrize("example, name", STACKS, ids=[n for _, n in STACKS])
def test_snapshot(synthesized, snapshot, example, name):
    assert stack(synthesized, name) == snapshot(extension_class=JSONSnapshotExtension)


T = "google_compute_region_instance_template"


def test_replicas_block_project_ssh_keys_and_are_shielded(synthesized):
    secure_boot = {"embed-gcp": True, "llama70b-gcp": False, "t4-spot-gcp": False}  # CPU only, by default
    for name in [n for _, n in STACKS] + ["t4-spot-gcp"]:
        template = stack(synthesized, name)["resource"][T]["instance_template"]
        assert template["metadata"]["block-project-ssh-keys"] == "TRUE"
        assert template["shielded_instance_config"] == {
            "enable_secure_boot": secure_boot.get(name, template["shielded_instance_config"]["enable_secure_boot"]),
            "enable_vtpm": True, "enable_integrity_monitoring": True}
        # No private_replicas: a public IP for egress, and no NAT.
        assert template["network_interface"][0]["access_config"] == [{}]
        assert "google_compute_router" not in stack(synthesized, name)["resource"]


NAT = ("google_compute_router_nat", "nat")
OPTIONS = {
    # service name: (targets.gcp settings, {(resource type, name, argument): expected value, None = absent})
    "private": ({"private_replicas": True, "network": "prod-vpc", "subnet": "prod-us"}, {
        (T, "instance_template", "network_interface"): [{"network": "prod-vpc", "subnetwork": "prod-us"}],
        ("google_compute_router", "router", "network"): "prod-vpc",
        ("google_compute_router", "router", "region"): "us-central1",
        (*NAT, "router"): "${google_compute_router.router.name}",
        (*NAT, "nat_ip_allocate_option"): "AUTO_ONLY",
        (*NAT, "source_subnetwork_ip_ranges_to_nat"): "LIST_OF_SUBNETWORKS",
        (*NAT, "subnetwork"): [{"name": "prod-us", "source_ip_ranges_to_nat": ["ALL_IP_RANGES"]}],
        (*NAT, "log_config"): {"enable": True, "filter": "ERRORS_ONLY"},
        # Replicas pull the image on first boot: the group waits for the NAT.
        ("google_compute_region_instance_group_manager", "instance_group", "depends_on"): [
            "google_compute_router_nat.nat"]}),
    "private-default": ({"private_replicas": True}, {
        (*NAT, "subnetwork"): [{"name": "${data.google_compute_subnetwork.subnet.self_link}",
                                "source_ip_ranges_to_nat": ["ALL_IP_RANGES"]}],
        ("google_compute_router", "router", "network"): "${data.google_compute_network.network.self_link}"}),
    "private-auto-mode": ({"private_replicas": True, "network": "auto-vpc"}, {  # no subnet: every subnet
        (*NAT, "source_subnetwork_ip_ranges_to_nat"): "ALL_SUBNETWORKS_ALL_IP_RANGES",
        (*NAT, "subnetwork"): None}),
    "private-own-nat": ({"private_replicas": True, "cloud_nat": False}, {
        (T, "instance_template", "network_interface"): [{
            "network": "${data.google_compute_network.network.self_link}",
            "subnetwork": "${data.google_compute_subnetwork.subnet.self_link}"}],
        ("google_compute_router", "router", "name"): None,
        (*NAT, "name"): None,
        ("google_compute_region_instance_group_manager", "instance_group", "depends_on"): None}),
    "secure-gpu": ({"secure_boot": True}, {
        (T, "instance_template", "shielded_instance_config"): {
            "enable_secure_boot": True, "enable_vtpm": True, "enable_integrity_monitoring": True}}),
    "insecure-cpu": ({"secure_boot": False}, {
        (T, "instance_template", "shielded_instance_config"): {
            "enable_secure_boot": False, "enable_vtpm": True, "enable_integrity_monitoring": True}}),
}


@pytest.fixture(scope="module")
def options(tmp_path_factory) -> pathlib.Path:
    """One synth of a file with a service per OPTIONS row (labelled, so label checks pass); the output directory."""
    docs = [{**spec_dict(metadata={"name": name, "labels": {"team": "ml"}},
                         **({"hardware": {"accelerator": "none", "cpus": 4}} if name == "insecure-cpu" else {})),
             "targets": {"gcp": {**GCP["gcp"], **settings}}} for name, (settings, _) in OPTIONS.items()]
    return synth_documents(tmp_path_factory.mktemp("gcp-options"), docs)


@pytest.mark.parametrize("name", OPTIONS)
def test_option_emits_exactly_its_arguments(options, name):
    res = stack(options, f"{name}-gcp")["resource"]
    for (kind, key, argument), value in OPTIONS[name][1].items():
        assert res.get(kind, {}).get(key, {}).get(argument) == value, (kind, key, argument)
    private = OPTIONS[name][0].get("private_replicas", False)
    assert ("access_config" in res[T]["instance_template"]["network_interface"][0]) is not private
    assert ("google_compute_router_nat" in res) is (private and OPTIONS[name][0].get("cloud_nat", True))


INVALID = [
    # (targets.gcp settings, expected error line)
    ({"private_replicas": "yes"}, "targets.gcp.private_replicas: Input should be a valid boolean, got 'yes'"),
    ({"cloud_nat": "no"}, "targets.gcp.cloud_nat: Input should be a valid boolean, got 'no'"),
    ({"secure_boot": 1}, "targets.gcp.secure_boot: Input should be a valid boolean, got 1"),
]


@pytest.mark.parametrize("settings, expected", INVALID)
def test_invalid_option_is_a_located_error(tmp_path, capsys, settings, expected):
    path = tmp_path / "spec.yaml"
    spec = {**spec_dict(), "targets": {"gcp": {**GCP["gcp"], **settings}}}
    path.write_text(yaml.safe_dump(spec, sort_keys=False, default_flow_style=False))  # a setting per line
    assert main(["validate", str(path)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1 and expected in errors[0]
    key = next(iter(settings))  # the error points at the offending setting in the file
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith(f"{key}:"))
    assert errors[0].startswith(f"{path}:{line}:")


def test_cloud_nat_without_private_replicas_is_a_warning():
    assert diagnostics("warning", targets={"gcp": {**GCP["gcp"], "cloud_nat": False}}) == [
        "gcp: targets.gcp.cloud_nat: false has no effect without targets.gcp.private_replicas: true (replicas have "
        "external IPs and need no NAT)"]
    assert diagnostics("warning", targets={"gcp": {**GCP["gcp"], "cloud_nat": False, "private_replicas": True}}) == []


def test_options_pass_checkov(options):
    from tests.test_security import scan

    for report in scan(options / "stacks"):
        if report["check_type"] == "terraform_json":
            assert report["summary"]["passed"] > 0
            assert [(c["check_id"], c["resource"], c["file_path"]) for c in report["results"]["failed_checks"]] == []


@pytest.mark.parametrize("initial_delay, scale_out_delay, period", [
    ("30m", "15m", 1800),  # llama70b: the load time, not the scale-out delay
    (60, "5m", 300),  # a model that loads in a minute: the spec's scale-out delay still holds new VMs' data back
    (0, 0, 0),
])
def test_initialization_period_covers_the_model_load(initial_delay, scale_out_delay, period):
    """Issue 13 item 7: cooldown_period is the autoscaler's initialization period (google provider docs): data from a
    VM younger than it is not used, so it must cover probes.readiness.initial_delay."""
    spec = Spec.model_validate(spec_dict(
        hardware={"accelerator": "none"}, targets={"gcp": {"project": "acme-ml", "region": "us-central1"}},
        probes={"readiness": {"initial_delay": initial_delay}},
        replicas={"min": 1, "max": 3, "autoscale": {"metric": "cpu_percent", "target": 60,
                                                    "scale_out_delay": scale_out_delay}}))
    service, _ = lower(spec, ["gcp"])
    assert gcp_resources.initialization_period(service) == period


def test_proxy_only_subnet_takes_its_range_from_the_spec(synthesized):
    """Issue 13 item 10: proxy_subnet_cidr is the range of the subnet infc creates, which the firewall admits and the
    proxy_subnet_name output names for the next internal service."""
    doc = stack(synthesized, "first-gcp")
    res, cidr = doc["resource"], OWN_RANGE["targets"]["gcp"]["proxy_subnet_cidr"]
    subnet = res["google_compute_subnetwork"]["proxy_subnet"]
    assert (subnet["name"], subnet["network"], subnet["purpose"], subnet["role"], subnet["ip_cidr_range"]) == (
        "first-proxy-only", "prod-vpc", "REGIONAL_MANAGED_PROXY", "ACTIVE", cidr)
    assert res["google_compute_firewall"]["allow_load_balancer"]["source_ranges"] == [cidr]
    assert doc["output"]["proxy_subnet_name"]["value"] == "${google_compute_subnetwork.proxy_subnet.name}"


def test_a_second_internal_service_reads_the_networks_proxy_only_subnet(synthesized):
    """Issue 13 item 10: a network has one active proxy-only subnet per region (Google's proxy-only subnets page), so
    the second service reads the first one's (by name), admits its range and creates none; a postcondition refuses a
    subnet of another network (names are unique per project and region, not per network)."""
    doc = stack(synthesized, "second-gcp")
    res = doc["resource"]
    assert "google_compute_subnetwork" not in res and "proxy_subnet_name" not in doc["output"]
    data = doc["data"]["google_compute_subnetwork"]["proxy_subnet"]
    assert (data["name"], data["region"]) == ("first-proxy-only", "us-central1")
    (check,) = data["lifecycle"]["postcondition"]
    assert check["condition"] == '${endswith(self.network, "/networks/prod-vpc")}'
    assert res["google_compute_firewall"]["allow_load_balancer"]["source_ranges"] == [
        "${data.google_compute_subnetwork.proxy_subnet.ip_cidr_range}"]
    assert "depends_on" not in res["google_compute_forwarding_rule"]["forwarding_rule_80"]


PROXY_ONLY = gcp_limits._PROXY_ONLY_DOC
PROXY_SUBNET_CASES = [
    # (load balancer, targets.gcp settings, severity, expected)
    (INTERNAL_LB, {"proxy_subnet_cidr": "10.200.0.0/26"}, "error", []),
    (INTERNAL_LB, {"proxy_subnet_cidr": "10.200.0.0/27"}, "error", [
        "gcp: targets.gcp.proxy_subnet_cidr is 10.200.0.0/27; a proxy-only subnet is an IPv4 range of at least 64 "
        f"addresses (/26 or larger; /23 recommended) (see {PROXY_ONLY})"]),
    (INTERNAL_LB, {"proxy_subnet_cidr": "fd00::/64"}, "error", [
        "gcp: targets.gcp.proxy_subnet_cidr is fd00::/64; a proxy-only subnet is an IPv4 range of at least 64 "
        f"addresses (/26 or larger; /23 recommended) (see {PROXY_ONLY})"]),
    (INTERNAL_LB, {"proxy_subnet_cidr": "10.200.0.0/23", "proxy_subnet": "shared"}, "error", [
        "gcp: targets.gcp.proxy_subnet_cidr is the range of a new proxy-only subnet, but targets.gcp.proxy_subnet "
        "names an existing one ('shared'); a network has one active per region, so give one of the two "
        f"(see {PROXY_ONLY})"]),
    ({}, {"proxy_subnet": "shared", "proxy_subnet_cidr": "10.200.0.0/23"}, "warning", [
        "gcp: targets.gcp.proxy_subnet has no effect with load_balancer.public: true (only an internal load balancer "
        "has a proxy-only subnet)",
        "gcp: targets.gcp.proxy_subnet_cidr has no effect with load_balancer.public: true (only an internal load "
        "balancer has a proxy-only subnet)"]),
]


@pytest.mark.parametrize("lb, settings, severity, expected", PROXY_SUBNET_CASES)
def test_proxy_subnet_settings_are_checked(lb, settings, severity, expected):
    targets = {"gcp": {**GCP["gcp"], **settings}}
    assert diagnostics(severity, load_balancer=lb, targets=targets) == expected

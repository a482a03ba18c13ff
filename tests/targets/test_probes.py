"""Readiness on another path and port than the model, liveness on a third, non-default timings: every backend carries
them exactly (read from the variant stacks of tests/targets/variants.py), or says, as an error or a warning at the
field, what it cannot carry."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from compiler.driver import compile_files
from compiler.errors import CompileError
from tests.targets.variants import GCP, VARIANTS, seconds, spec, strip


@pytest.fixture(scope="module")
def resources(variant_stacks):
    def get(name: str) -> dict:
        (target,) = VARIANTS[name]["targets"]
        return strip(variant_stacks(name, target))["resource"]
    return get


def probes(name: str) -> tuple[dict, dict | None]:
    doc = VARIANTS[name]["probes"]
    return doc["readiness"], doc.get("liveness")


def test_aws_target_group_health_check_is_the_readiness_probe(resources):
    for name in ("v-aws", "v-aws-cpu", "v-aws-a100"):
        ready, _ = probes(name)
        res = resources(name)
        assert res["aws_lb_target_group"]["target_group"]["health_check"] == {
            "enabled": True, "protocol": "HTTP", "path": ready["path"], "port": str(ready["port"]),
            "interval": ready["interval"], "timeout": ready["timeout"], "healthy_threshold": ready["healthy_threshold"],
            "unhealthy_threshold": ready["unhealthy_threshold"], "matcher": ready.get("success_codes", "200")}
        asg = res["aws_autoscaling_group"]["autoscaling_group"]
        assert (asg["health_check_type"], asg["health_check_grace_period"]) == ("ELB", seconds(ready["initial_delay"]))


def test_azure_load_balancer_probe_and_liveness_extension(resources):
    ready, live = probes("v-azlb")
    res = resources("v-azlb")
    assert res["azurerm_lb_probe"]["readiness_probe"] == {
        "name": "readiness", "loadbalancer_id": "${azurerm_lb.load_balancer.id}", "protocol": "Http",
        "port": ready["port"], "request_path": ready["path"], "interval_in_seconds": ready["interval"],
        "probe_threshold": ready["unhealthy_threshold"]}
    scale_set = res["azurerm_linux_virtual_machine_scale_set"]["scale_set"]
    # probes.liveness drives repairs through the application health extension (only one health source may be on).
    assert "health_probe_id" not in scale_set
    (extension,) = scale_set["extension"]
    assert json.loads(extension["settings"]) == {"protocol": "http", "port": live["port"], "requestPath": live["path"],
                                                 "intervalInSeconds": live["interval"],
                                                 "numberOfProbes": live["failure_threshold"]}
    assert scale_set["automatic_instance_repair"] == {"enabled": True, "action": "Replace",
                                                      "grace_period": f"PT{seconds(ready['initial_delay']) // 60}M"}


def test_azure_gateway_probe(resources):
    ready, live = probes("v-azgw")
    gateway = resources("v-azgw")["azurerm_application_gateway"]["gateway"]
    assert gateway["probe"] == [{
        "name": "readiness", "protocol": "Http", "host": "127.0.0.1", "path": ready["path"], "port": ready["port"],
        "interval": ready["interval"], "timeout": ready["timeout"], "unhealthy_threshold": ready["unhealthy_threshold"],
        "match": {"status_code": ready["success_codes"].split(",")}}]
    assert gateway["backend_http_settings"][0]["probe_name"] == "readiness"
    (extension,) = resources("v-azgw")["azurerm_linux_virtual_machine_scale_set"]["scale_set"]["extension"]
    assert (json.loads(extension["settings"])["port"], json.loads(extension["settings"])["requestPath"]) == (
        live["port"], live["path"])


@pytest.mark.parametrize("name, kind", [("v-gcp", "google_compute_health_check"),
                                        ("v-gcp-internal", "google_compute_region_health_check")])
def test_gcp_health_checks_and_auto_healing(resources, name, kind):
    ready, live = probes(name)
    res = resources(name)
    check = res[kind]["readiness"]
    assert (check["check_interval_sec"], check["timeout_sec"], check["healthy_threshold"],
            check["unhealthy_threshold"]) == (ready["interval"], ready["timeout"], ready["healthy_threshold"],
                                              ready["unhealthy_threshold"])
    assert check["http_health_check"] == {"port": ready["port"], "port_specification": "USE_FIXED_PORT",
                                          "request_path": ready["path"]}
    backend = next(iter(res.get("google_compute_backend_service", res.get("google_compute_region_backend_service"))
                        .values()))
    assert backend["health_checks"] == [f"${{{kind}.readiness.id}}"]
    # Liveness drives auto-healing: its own check, healthy after one success (no success threshold in the spec).
    live_check = res["google_compute_health_check"]["liveness"]
    assert (live_check["check_interval_sec"], live_check["timeout_sec"], live_check["unhealthy_threshold"],
            live_check["healthy_threshold"]) == (live["interval"], live["timeout"], live["failure_threshold"], 1)
    assert live_check["http_health_check"] == {"port": live["port"], "port_specification": "USE_FIXED_PORT",
                                               "request_path": live["path"]}
    healing = res["google_compute_region_instance_group_manager"]["instance_group"]["auto_healing_policies"]
    assert healing == {"health_check": "${google_compute_health_check.liveness.id}",
                       "initial_delay_sec": seconds(ready["initial_delay"])}


def http_get(path: str, port: int) -> dict:
    return {"path": path, "port": str(port), "scheme": "HTTP"}


@pytest.mark.parametrize("name", ["v-k8s", "v-gke", "v-eks", "v-aks"])
def test_kubernetes_probes(resources, name):
    ready, live = probes(name)
    (container,) = resources(name)["kubernetes_deployment_v1"]["deployment"]["spec"]["template"]["spec"]["container"]
    assert container["readiness_probe"] == {
        "http_get": http_get(ready["path"], ready["port"]), "period_seconds": ready["interval"],
        "timeout_seconds": ready["timeout"], "success_threshold": ready["healthy_threshold"],
        "failure_threshold": ready["unhealthy_threshold"], "initial_delay_seconds": 0}
    # docs/targets/kubernetes.md: failureThreshold = ceil(initial_delay / interval) + 1, so (failures - 1) x period >= initial_delay.
    failures = math.ceil(seconds(ready["initial_delay"]) / ready["interval"]) + 1
    assert (failures - 1) * ready["interval"] >= seconds(ready["initial_delay"])
    assert container["startup_probe"] == {
        "http_get": http_get(ready["path"], ready["port"]), "period_seconds": ready["interval"],
        "timeout_seconds": ready["timeout"], "success_threshold": 1, "failure_threshold": failures,
        "initial_delay_seconds": 0}
    assert container["liveness_probe"] == {
        "http_get": http_get(live["path"], live["port"]), "period_seconds": live["interval"],
        "timeout_seconds": live["timeout"], "success_threshold": 1, "failure_threshold": live["failure_threshold"],
        "initial_delay_seconds": 0}


def test_kubernetes_liveness_derived_from_readiness(resources):
    """docs/spec.md (liveness_from_readiness): the readiness path and port, every 30 s or the readiness interval if longer,
    the readiness timeout, 5 failures."""
    ready, live = probes("v-k8s-derived")
    assert live is None
    (container,) = resources("v-k8s-derived")["kubernetes_deployment_v1"]["deployment"]["spec"]["template"]["spec"][
        "container"]
    assert container["liveness_probe"] == {
        "http_get": http_get(ready["path"], ready["port"]), "period_seconds": max(30, ready["interval"]),
        "timeout_seconds": ready["timeout"], "success_threshold": 1, "failure_threshold": 5,
        "initial_delay_seconds": 0}


def iso(value) -> str:
    total = seconds(value)
    minutes, secs = divmod(total, 60)
    return "PT" + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")


def test_azureml_routes_and_probes(resources):
    ready, live = probes("v-aml")
    res = resources("v-aml")
    routes = res["azapi_resource"]["environment_version"]["body"]["properties"]["inferenceConfig"]
    assert routes == {"readinessRoute": {"path": ready["path"], "port": ready["port"]},
                      "livenessRoute": {"path": live["path"], "port": live["port"]},
                      # targets.azureml.scoring_route's default: the OpenAI API prefix (docs/spec.md)
                      "scoringRoute": {"path": "/v1", "port": VARIANTS["v-aml"]["model"]["port"]}}
    body = res["azapi_resource"]["deployment"]["body"]["properties"]
    assert body["readinessProbe"] == {
        "initialDelay": iso(ready["initial_delay"]), "period": iso(ready["interval"]), "timeout": iso(ready["timeout"]),
        "successThreshold": ready["healthy_threshold"], "failureThreshold": ready["unhealthy_threshold"]}
    assert body["livenessProbe"] == {
        "initialDelay": iso(ready["initial_delay"]), "period": iso(live["interval"]), "timeout": iso(live["timeout"]),
        "successThreshold": 1, "failureThreshold": live["failure_threshold"]}


# What a backend documents it cannot carry: (variant, change to it, severity, path, start of the message).
NOT_CARRIED = [
    ("v-aws", {}, "warning", ("probes", "liveness"), "aws: probes.liveness has no separate check on EC2"),
    ("v-azlb", {}, "warning", ("probes", "readiness", "timeout"),
     "azure: probes.readiness.timeout (7s) has no Azure Load Balancer setting"),
    ("v-azlb", {}, "warning", ("probes", "readiness", "healthy_threshold"),
     "azure: probes.readiness.healthy_threshold (4) cannot differ from unhealthy_threshold"),
    ("v-azlb", {}, "warning", ("probes", "liveness", "timeout"), "azure: probes.liveness.timeout (9s) has no setting"),
    ("v-azgw", {"healthy_threshold": 3}, "warning", ("probes", "readiness", "healthy_threshold"),
     "azure: probes.readiness.healthy_threshold (3) has no Application Gateway setting"),
    ("v-gcp", {"success_codes": "200-204"}, "error", ("probes", "readiness", "success_codes"),
     'gcp: probes.readiness.success_codes is "200-204"; a Google Cloud HTTP health check passes only on HTTP 200'),
    ("v-gke-https", {}, "error", ("probes", "readiness", "port"), "gke: probes.readiness.port is 8081; the GKE Ingress"),
    ("v-gke-https", {}, "warning", ("probes", "readiness", "unhealthy_threshold"),
     "gke: the GKE Ingress health check takes a replica out after 2 failed checks"),
]
VARIANTS_PLUS = {**VARIANTS, "v-gke-https": spec(
    "v-gke-https", {"gke": {**GCP, "certificate": "chat-tls"}},
    {"accelerator": "nvidia-t4", "count": 1, "cpus": 4, "memory_gib": 12})}


@pytest.mark.parametrize("name, change, severity, path, message", NOT_CARRIED,
                         ids=[f"{n}-{'.'.join(p)}" for n, _, _, p, _ in NOT_CARRIED])
def test_what_a_backend_cannot_carry_is_reported_at_the_field(tmp_path, name, change, severity, path, message):
    doc = json.loads(json.dumps(VARIANTS_PLUS[name]))
    doc["probes"]["readiness"].update(change)
    file = tmp_path / "spec.yaml"
    file.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        diagnostics = compile_files([str(file)])[1]
    except CompileError as exc:
        diagnostics = exc.diagnostics
    found = [d for d in diagnostics if d.message.startswith(message)]
    assert len(found) == 1, [d.message for d in diagnostics]
    (diagnostic,) = found
    assert (diagnostic.severity, diagnostic.path) == (severity, path)
    lines = file.read_text().splitlines()
    # Located at the field itself; a mapping (probes.liveness) at its first key, right below.
    here, above = lines[diagnostic.loc.line - 1].strip(), lines[diagnostic.loc.line - 2].strip()
    assert here.startswith(f"{path[-1]}:") or above == f"{path[-1]}:", (here, above)

"""Kubernetes backend: limits as a table (value -> accepted or exact error), warnings, emitted objects, snapshots."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from compiler import catalog
from compiler.driver import compile_files
from compiler.lower import lower
from compiler.spec import Hardware, Liveness, LoadBalancer, Readiness, Spec
from targets import kubernetes as k8s
from targets.kubernetes import limits as k8s_limits
from tests.conftest import ROOT, examples_naming, spec_dict, spec_yaml
from tests.test_security import scan

STACKS = [(example.stem, f"{c.service.name}-kubernetes")
          for example in examples_naming("kubernetes") for c in compile_files([str(example)], ["kubernetes"])[0]]
K8S = {"kubernetes": {"namespace": "ml", "certificate": "svc-tls"}}


@pytest.fixture(scope="module")
def synthesized(synth_for):
    return synth_for("kubernetes")


def diagnostics(settings: dict | None = None, **overrides) -> list[tuple[str, str]]:
    """k8s.check on MINIMAL with memory_gib 16 (without it, a warning about the default memory limit)."""
    overrides["hardware"] = {"memory_gib": 16, **overrides.get("hardware", {})}
    spec = Spec.model_validate(spec_dict(targets={"kubernetes": {**K8S["kubernetes"], **(settings or {})}},
                                         **overrides))
    service, diags = lower(spec, ["kubernetes"])
    assert not [d for d in diags if d.severity == "error"]
    return [(d.severity, d.message) for d in k8s.check(service, service.target("kubernetes"))]


def errors(settings: dict | None = None, **overrides) -> list[str]:
    return [message for severity, message in diagnostics(settings, **overrides) if severity == "error"]


def warnings(settings: dict | None = None, **overrides) -> list[str]:
    return [message for severity, message in diagnostics(settings, **overrides) if severity == "warning"]


def readiness(**values) -> dict:
    return {"readiness": {"interval": 30, "timeout": 5, **values}}


def autoscale(**values) -> dict:
    return {"min": 1, "max": 4, "autoscale": {"metric": "cpu_percent", "target": 50, **values}}


HPA, PROBE, HTTP = k8s_limits._HPA_DOC, k8s_limits._PROBE_DOC, k8s_limits._HTTP_PROBE_DOC
LABEL = ("must be 1-63 characters: letters, digits, '-', '_' or '.', starting and ending with a letter or digit "
         f"(see {k8s_limits._LABEL_DOC})")
LIMIT_CASES = [
    # (spec overrides, expected error or None)
    ({"probes": readiness(timeout=1, interval=2)}, None),
    ({"probes": readiness(timeout=0)},
     f"kubernetes: probes.readiness.timeout is 0s; a probe's timeoutSeconds must be at least 1s (see {PROBE})"),
    ({"probes": {"liveness": {"timeout": 0}}},
     f"kubernetes: probes.liveness.timeout is 0s; a probe's timeoutSeconds must be at least 1s (see {PROBE})"),
    ({"probes": readiness(success_codes="200-399")}, None),
    ({"probes": readiness(success_codes="200,204,301")}, None),
    ({"probes": readiness(success_codes="200,404")},
     f"kubernetes: probes.readiness.success_codes has 404; a Kubernetes HTTP probe counts exactly the codes 200-399 "
     f"as success (see {HTTP})"),
    ({"probes": readiness(success_codes="100-299")},
     f"kubernetes: probes.readiness.success_codes has 100; a Kubernetes HTTP probe counts exactly the codes 200-399 "
     f"as success (see {HTTP})"),
    ({"replicas": autoscale(scale_out_delay="1h", scale_in_delay=0)}, None),
    ({"replicas": autoscale(scale_out_delay=3601)},
     f"kubernetes: replicas.autoscale.scale_out_delay is 3601s; an HPA scale-up stabilization window must be "
     f"0-3600s (see {HPA})"),
    ({"replicas": autoscale(scale_in_delay="61m")},
     f"kubernetes: replicas.autoscale.scale_in_delay is 3660s; an HPA scale-down stabilization window must be "
     f"0-3600s (see {HPA})"),
    ({"replicas": {"min": 0, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 50}}},
     f"kubernetes: replicas.min: 0 is not supported: {k8s.SCALE_TO_ZERO}; use min: 1, or the aws or aca "
     "target, which scale to zero"),
    ({"replicas": autoscale(target=62.5), "hardware": {"accelerator": "nvidia-l4", "cpus": 4}},
     f"kubernetes: replicas.autoscale.target is 62.5; an HPA CPU averageUtilization is a whole percentage "
     f"(see {HPA})"),
    ({"replicas": autoscale(metric="requests_per_replica", target=2.5)}, None),
    ({"replicas": autoscale(metric="requests_per_replica", target=0.0005)},
     "kubernetes: replicas.autoscale.target is 0.0005; an HPA averageValue is compared in thousandths (0.001) "
     f"(see {k8s_limits._QUANTITY_DOC})"),
    ({"hardware": {"accelerator": "nvidia-l4", "memory_gib": 1.5}}, None),
    ({"hardware": {"accelerator": "nvidia-l4", "memory_gib": 0.1}},
     "kubernetes: hardware.memory_gib is 0.1, which is not a whole number of bytes; a Kubernetes memory request is "
     f"a whole number of bytes (see {k8s_limits._QUANTITY_DOC})"),
    ({"metadata": {"name": "svc", "labels": {"example.com/team": "ml", "tier": ""}}}, None),
    ({"metadata": {"name": "svc", "labels": {"team!": "ml"}}},
     f"kubernetes: metadata.labels: 'team!: ml' is not a Kubernetes label: key name 'team!' {LABEL}"),
    ({"metadata": {"name": "svc", "labels": {"team": "x" * 64}}},
     f"kubernetes: metadata.labels: 'team: {'x' * 64}' is not a Kubernetes label: value must be empty or 1-63 "
     f"characters: letters, digits, '-', '_' or '.', starting and ending with a letter or digit "
     f"(see {k8s_limits._LABEL_DOC})"),
    ({"metadata": {"name": "svc", "labels": {"Example.com/team": "ml"}}},
     "kubernetes: metadata.labels: 'Example.com/team: ml' is not a Kubernetes label: key prefix 'Example.com' must "
     f"be a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253) (see {k8s_limits._LABEL_DOC})"),
    ({"metadata": {"name": "svc", "labels": {"app.kubernetes.io/name": "other"}}},
     "kubernetes: metadata.labels: 'app.kubernetes.io/name' is set by infc on every object"),
    ({"load_balancer": {"listeners": [{"port": 443, "protocol": "https"}]}}, None),
    ({"load_balancer": {"listeners": [{"port": 8443, "protocol": "https"}]}},
     "kubernetes: load_balancer.listeners[0].port is 8443; an https listener terminates on a Kubernetes Ingress, "
     f"which serves HTTPS on port 443 only (see {k8s_limits._INGRESS_DOC})"),
    ({"load_balancer": {"listeners": [{"port": 443, "protocol": "https"},
                                      {"port": 8080, "protocol": "http", "redirect_to": 443}]}},
     "kubernetes: load_balancer.listeners[1].redirect_to: listener 8080 -> 443 cannot be expressed; the only "
     "redirect on Kubernetes is the Ingress's own, from http on 80 to https on 443"),
    ({"load_balancer": {"listeners": [{"port": 8080, "protocol": "http"},
                                      {"port": 80, "protocol": "http", "redirect_to": 8080}]}},
     "kubernetes: load_balancer.listeners[1].redirect_to: listener 80 -> 8080 cannot be expressed; the only "
     "redirect on Kubernetes is the Ingress's own, from http on 80 to https on 443"),
]


@pytest.mark.parametrize("overrides, expected", LIMIT_CASES)
def test_limits(overrides, expected):
    assert errors(**overrides) == ([expected] if expected else [])


SETTINGS_CASES = [
    ({"node_selector": {"pool": "gpu-a100"}, "ingress_class": "nginx"}, None),
    ({"node_selector": {"pool": "gpu a100"}},
     "kubernetes: targets.kubernetes.node_selector: 'pool: gpu a100' is not a Kubernetes label: value must be empty "
     "or 1-63 characters: letters, digits, '-', '_' or '.', starting and ending with a letter or digit "
     f"(see {k8s_limits._LABEL_DOC})"),
    ({"ingress_class": "Nginx_Public"},
     "kubernetes: targets.kubernetes.ingress_class 'Nginx_Public' is not an IngressClass name (a DNS subdomain: "
     "lowercase letters, digits, '-' and '.', at most 253 characters)"),
    ({"cpu_limit": 2}, None),  # the GPU replica's default request
    ({"cpu_limit": 1.5},
     "kubernetes: targets.kubernetes.cpu_limit is 1.5; it must be at least the CPU request, 2 (infc's default "
     f"without hardware.cpus) (see {k8s_limits._QOS_DOC})"),
    ({"cpu_limit": 2.0005},
     "kubernetes: targets.kubernetes.cpu_limit is 2.0005; a CPU quantity has at most three decimals (1m = 0.001 CPU) "
     f"(see {k8s_limits._QUANTITY_DOC})"),
    ({"writable_dirs": ["/tmp", "/root/.cache", "/data"], "run_as_user": 1000, "liveness_from_readiness": False},
     None),
    ({"writable_dirs": ["/tmp", "/root/.cache", "/root-cache"]},
     "kubernetes: targets.kubernetes.writable_dirs[2] '/root-cache' and '/root/.cache' would both be the volume "
     "rw-root-cache"),
    ({"writable_dirs": ["/tmp", "/tmp"]},
     "kubernetes: targets.kubernetes.writable_dirs[1] '/tmp' and '/tmp' would both be the volume rw-tmp"),
    ({"writable_dirs": ["/dev/shm"]},
     "kubernetes: targets.kubernetes.writable_dirs[0] is /dev/shm, which GPU replicas mount already (a "
     "memory-backed emptyDir)"),
]


@pytest.mark.parametrize("settings, expected", SETTINGS_CASES)
def test_settings(settings, expected):
    assert errors(settings) == ([expected] if expected else [])


def test_cpu_limit_below_hardware_cpus_names_it():
    assert errors({"cpu_limit": 3}, hardware={"cpus": 4}) == [
        "kubernetes: targets.kubernetes.cpu_limit is 3; it must be at least the CPU request, 4 (hardware.cpus) "
        f"(see {k8s_limits._QOS_DOC})"]


def test_cpu_replicas_may_mount_their_own_dev_shm():
    assert errors({"writable_dirs": ["/dev/shm"]}, hardware={"accelerator": "none"}) == []


SPEC_ERRORS = [
    # (targets.kubernetes settings, the spec error at their position)
    ({"run_as_user": 0}, "targets.kubernetes.run_as_user: Input should be greater than or equal to 1, got 0"),
    ({"cpu_limit": 0}, "targets.kubernetes.cpu_limit: Input should be greater than 0, got 0"),
    ({"writable_dirs": ["tmp"]}, "targets.kubernetes.writable_dirs[0]: 'tmp' does not have the form this "
                                 "field takes (pattern ^(/\\.?[A-Za-z0-9_][-A-Za-z0-9._]*)+$)"),
    ({"writable_dirs": ["/data/../etc"]}, "targets.kubernetes.writable_dirs[0]: '/data/../etc' does not have the "
                                          "form this field takes (pattern ^(/\\.?[A-Za-z0-9_][-A-Za-z0-9._]*)+$)"),
    ({"writable_dirs": []}, "targets.kubernetes.writable_dirs: List should have at least 1 item after validation, "
                            "not 0"),
    ({"namespace": "Inference"}, "targets.kubernetes.namespace: 'Inference' does not have the form this field "
                                 "takes (pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$)"),
]


@pytest.mark.parametrize("settings, expected", SPEC_ERRORS)
def test_invalid_settings_are_spec_errors_with_a_position(tmp_path, capsys, settings, expected):
    from compiler.cli import main

    path = tmp_path / "s.yaml"
    path.write_bytes(spec_yaml(targets={"kubernetes": settings}))
    assert main(["validate", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert re.fullmatch(rf"{re.escape(str(path))}:\d+:\d+: error: {re.escape(expected)}", line), line


def test_minimal_gpu_spec_with_memory_is_accepted_without_warnings():
    assert diagnostics() == []


WARNING_CASES = [
    # (spec overrides, the one warning expected)
    ({"probes": readiness(success_codes="200-299")},
     "kubernetes: probes.readiness.success_codes is 200-299, but a Kubernetes HTTP probe counts every code 200-399 "
     "as success; write \"200-399\" to say so"),
    ({"hardware": {"accelerator": "nvidia-l4", "spot": True}},
     "kubernetes: hardware.spot has no portable Kubernetes form: the cluster's node pools decide capacity, so infc "
     "emits no spot selector or toleration (pin spot nodes with targets.kubernetes.node_selector)"),
    ({"hardware": {"accelerator": "nvidia-l4", "disk_gib": 500}},
     "kubernetes: hardware.disk_gib (500) is not carried: pods use their node's disk; size the nodes' disks for the "
     "image and the model"),
    ({"load_balancer": {"idle_timeout": "5m"}},
     "kubernetes: load_balancer.idle_timeout (300s) is not carried: a Service has no idle-timeout field, the cloud "
     "load balancer's own timeout applies"),
    ({"load_balancer": {"stickiness": True}},
     "kubernetes: load_balancer.stickiness pins each client by IP (Service sessionAffinity ClientIP, 3 hours), not "
     "by cookie: clients behind one NAT share a replica"),
    ({"model": {"name": "m", "image": "i", "uri": "gs://bucket/m/"}},
     "kubernetes: model.uri is a Cloud Storage bucket: the init container downloads it with the pod's credentials, "
     "which are the cluster's business (e.g. GKE Workload Identity on the workload's service account); without them "
     "only a public one can be read"),
    ({"hardware": {"memory_gib": None}},
     "kubernetes: hardware.memory_gib is not set: each replica requests, and is limited to, 8Gi of memory, infc's "
     "default for a GPU replica; a server that needs more is OOM-killed, so set hardware.memory_gib"),
    ({"hardware": {"accelerator": "none", "memory_gib": None}},
     "kubernetes: hardware.memory_gib is not set: each replica requests, and is limited to, 2Gi of memory, infc's "
     "default for a CPU replica; a server that needs more is OOM-killed, so set hardware.memory_gib"),
    ({"replicas": autoscale(metric="requests_per_replica", target=4)},
     "kubernetes: replicas.autoscale.metric requests_per_replica scales on the per-pod custom metric "
     "'http_requests_per_second' (requests per second): the cluster needs a metrics adapter that serves it, e.g. "
     f"prometheus-adapter with a rule for http_requests_total (see {k8s_limits._ADAPTER_DOC})"),
    ({"load_balancer": {"listeners": [{"port": 443, "protocol": "https"}]}},
     "kubernetes: the https Ingress has no host (the spec names none): controllers that choose the certificate by "
     "SNI host, such as ingress-nginx, serve their default certificate instead of targets.kubernetes.certificate "
     f"(see {k8s_limits._INGRESS_DOC})"),
]


@pytest.mark.parametrize("overrides, expected", WARNING_CASES)
def test_values_kubernetes_does_not_carry_are_warnings(overrides, expected):
    assert warnings(**overrides) == [expected]


def test_https_redirect_and_restricted_exposure_warn_as_well():
    found = warnings(load_balancer={"public": False, "allowed_cidrs": ["10.0.0.0/8"], "listeners": [
        {"port": 443, "protocol": "https"}, {"port": 80, "protocol": "http", "redirect_to": 443}]})
    assert found[0] == ("kubernetes: load_balancer.listeners[1].redirect_to: the Ingress API has no redirect; infc "
                        "sets ingress-nginx's force-ssl-redirect annotation, other ingress controllers need their own "
                        "HTTP-to-HTTPS setting")
    assert found[2] == ("kubernetes: https is served by the Ingress, whose exposure and source ranges belong to its "
                        "ingress controller: public and allowed_cidrs apply to the Service's http listeners only")
    assert len(found) == 3  # and the no-host warning


def test_derived_liveness_uses_the_probes_liveness_defaults():
    assert (k8s.LIVENESS_INTERVAL_S, k8s.LIVENESS_FAILURES) == (Liveness.model_fields["interval"].default,
                                                                Liveness.model_fields["failure_threshold"].default)


def test_spec_defaults_the_warnings_compare_against():
    assert k8s.SPEC_DEFAULTS == {"idle_timeout_s": LoadBalancer.model_fields["idle_timeout"].default,
                                 "disk_gib": Hardware.model_fields["disk_gib"].default,
                                 "success_codes": Readiness.model_fields["success_codes"].default}


@pytest.mark.parametrize("gib, quantity", [(512, "512Gi"), (8.0, "8Gi"), (0.5, "512Mi"), (1.25, "1280Mi"),
                                           (0.1, None)])
def test_memory_is_an_exact_binary_quantity(gib, quantity):
    assert k8s.memory_quantity(gib) == quantity


@pytest.mark.parametrize("value, quantity", [(4, "4"), (4.0, "4"), (2.5, "2500m"), (0.001, "1m"), (0.0005, None)])
def test_request_targets_are_decimal_quantities(value, quantity):
    assert k8s.decimal_quantity(value) == quantity


@pytest.mark.parametrize("initial_delay, interval", [(1800, 30), (120, 10), (900, 20), (1, 15), (600, 7)])
def test_startup_budget_covers_initial_delay_from_the_first_probe(initial_delay, interval):
    spec = Spec.model_validate(spec_dict(targets=K8S, probes={"readiness": {
        "interval": interval, "timeout": 1, "initial_delay": initial_delay}}))
    service, _ = lower(spec, ["kubernetes"])
    failures = k8s.startup_failure_threshold(service)
    assert (failures - 1) * interval >= initial_delay > (failures - 2) * interval


def test_every_catalog_accelerator_has_gpu_product_labels():
    assert set(k8s.GPU_PRODUCTS) == set(catalog.ACCELERATORS)


def test_check_needs_no_cdk_runtime():
    code = ("import sys, targets.kubernetes; "
            "print([m for m in sys.modules if m.split('.')[0] in ('jsii', 'cdktn', 'constructs') "
            "or m.startswith('cdktn_provider')])")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


def stack(synthesized: pathlib.Path, name: str) -> dict:
    return json.loads((synthesized / "stacks" / name / "cdk.tf.json").read_text())


def pod(doc: dict) -> dict:
    return doc["resource"]["kubernetes_deployment_v1"]["deployment"]["spec"]["template"]["spec"]


def test_provider_reads_the_environment_and_spans_major_3(synthesized):
    doc = stack(synthesized, "llama70b-kubernetes")
    assert doc["provider"] == {"kubernetes": [{}]}
    assert doc["terraform"]["required_providers"]["kubernetes"] == {"source": "hashicorp/kubernetes",
                                                                    "version": ">= 3.0.0, < 4.0.0"}


def test_gpu_deployment(synthesized):
    doc = stack(synthesized, "llama70b-kubernetes")
    spec = doc["resource"]["kubernetes_deployment_v1"]["deployment"]["spec"]
    container = pod(doc)["container"][0]
    assert "replicas" not in spec  # the HPA owns it
    assert spec["progress_deadline_seconds"] == 600 + 1800
    assert container["resources"] == {"limits": {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "8"},
                                      "requests": {"cpu": "64", "memory": "512Gi"}}
    assert container["args"] == ["--model", "/mnt/models", "--served-model-name", "llama-3.1-70b-instruct",
                                 "--tensor-parallel-size", "8", "--max-model-len", "16384"]
    assert container["env"] == [{"name": "MODEL_NAME", "value": "llama-3.1-70b-instruct"},
                                {"name": "MODEL_URI", "value": "hf://meta-llama/Llama-3.1-70B-Instruct"},
                                {"name": "MODEL_DIR", "value": "/mnt/models"},
                                {"name": "VLLM_LOGGING_LEVEL", "value": "INFO"},
                                {"name": "HF_TOKEN", "value_from": {"secret_key_ref": {"name": "hf-token",
                                                                                       "key": "token"}}}]
    # KServe's storage initializer writes the model's volume first, with the token of the gated repository.
    (init,) = pod(doc)["init_container"]
    assert (init["image"], init["args"]) == ("kserve/storage-initializer:v0.20.0",
                                             ["hf://meta-llama/Llama-3.1-70B-Instruct", "/mnt/models"])
    assert init["volume_mount"] == [{"name": "model", "mount_path": "/mnt/models"}]
    assert init["env"] == [container["env"][-1]]
    assert {"name": "model", "empty_dir": {}} in pod(doc)["volume"]
    terms = pod(doc)["affinity"]["node_affinity"]["required_during_scheduling_ignored_during_execution"]
    assert terms["node_selector_term"] == [{"match_expressions": [{
        "key": "nvidia.com/gpu.product", "operator": "In",
        "values": ["NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"]}]}]
    assert pod(doc)["toleration"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    assert pod(doc)["volume"] == [{"empty_dir": {"medium": "Memory"}, "name": "shm"}, {"empty_dir": {}, "name": "model"}]
    assert container["volume_mount"] == [{"name": "model", "mount_path": "/mnt/models", "read_only": True},
                                         {"mount_path": "/dev/shm", "name": "shm"}]


def test_probes_carry_every_field_and_startup_covers_initial_delay(synthesized):
    container = pod(stack(synthesized, "llama70b-kubernetes"))["container"][0]
    http = {"path": "/health", "port": "8000", "scheme": "HTTP"}
    assert container["readiness_probe"] == {"http_get": http, "period_seconds": 30, "timeout_seconds": 10,
                                            "success_threshold": 2, "failure_threshold": 3, "initial_delay_seconds": 0}
    startup = container["startup_probe"]
    assert (startup["http_get"], startup["success_threshold"], startup["timeout_seconds"]) == (http, 1, 10)
    assert (startup["failure_threshold"] - 1) * startup["period_seconds"] >= 1800
    # No probes.liveness: liveness_from_readiness checks the readiness path with the probes.liveness defaults.
    assert container["liveness_probe"] == {"http_get": http, "period_seconds": 30, "timeout_seconds": 10,
                                           "success_threshold": 1, "failure_threshold": 5, "initial_delay_seconds": 0}


def test_autoscaler(synthesized):
    hpa = stack(synthesized, "llama70b-kubernetes")["resource"]["kubernetes_horizontal_pod_autoscaler_v2"]
    spec = hpa["autoscaler"]["spec"]
    assert (spec["min_replicas"], spec["max_replicas"]) == (1, 3)
    assert spec["scale_target_ref"] == {"api_version": "apps/v1", "kind": "Deployment", "name": "llama70b"}
    assert spec["metric"] == [{"type": "Pods", "pods": {"metric": {"name": "http_requests_per_second"},
                                                        "target": {"type": "AverageValue", "average_value": "4"}}}]
    behavior = spec["behavior"]
    assert behavior["scale_up"][0]["stabilization_window_seconds"] == 900
    assert behavior["scale_down"][0]["stabilization_window_seconds"] == 600
    assert behavior["scale_up"][0]["policy"] and behavior["scale_down"][0]["policy"]  # required by the provider
    cpu = stack(synthesized, "mistral-spot-kubernetes")["resource"]["kubernetes_horizontal_pod_autoscaler_v2"]
    assert cpu["autoscaler"]["spec"]["metric"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "average_utilization": 70}}}]


def test_https_is_an_ingress_with_the_tls_secret_in_front_of_a_cluster_ip_service(synthesized):
    res = stack(synthesized, "llama70b-kubernetes")["resource"]
    ingress = res["kubernetes_ingress_v1"]["ingress"]
    assert ingress["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}
    assert ingress["spec"]["tls"] == [{"secret_name": "llama70b-tls", "hosts": ["llama70b.ml.acme.example"]}]
    assert ingress["spec"]["rule"][0]["host"] == "llama70b.ml.acme.example"  # targets.kubernetes.host
    backend = ingress["spec"]["rule"][0]["http"]["path"][0]
    assert (backend["path"], backend["path_type"]) == ("/", "Prefix")
    service = res["kubernetes_service_v1"]["service"]["spec"]
    assert service["type"] == "ClusterIP"
    assert backend["backend"]["service"] == {"name": "llama70b", "port": {"number": service["port"][0]["port"]}}


def test_namespace_is_created_unless_it_exists(synthesized):
    llama = stack(synthesized, "llama70b-kubernetes")["resource"]
    assert llama["kubernetes_namespace_v1"]["namespace"]["metadata"][0]["name"] == "inference"
    assert llama["kubernetes_service_v1"]["service"]["metadata"]["namespace"] == \
        "${kubernetes_namespace_v1.namespace.metadata[0].name}"
    for name in ("chat-kubernetes", "guard-kubernetes"):
        res = stack(synthesized, name)["resource"]
        assert "kubernetes_namespace_v1" not in res
        assert res["kubernetes_deployment_v1"]["deployment"]["metadata"]["namespace"] == "assistants"


def test_cpu_service_is_internal_with_fixed_replicas(synthesized):
    doc = stack(synthesized, "embed-kubernetes")
    spec, container = doc["resource"]["kubernetes_deployment_v1"]["deployment"]["spec"], pod(doc)["container"][0]
    assert spec["replicas"] == "2" and "kubernetes_horizontal_pod_autoscaler_v2" not in doc["resource"]
    assert container["resources"] == {"limits": {"cpu": "4", "memory": "8Gi"},
                                      "requests": {"cpu": "4", "memory": "8Gi"}}
    assert not {"affinity", "toleration"} & set(pod(doc))
    assert pod(doc)["volume"] == [{"name": "model", "empty_dir": {}}]  # the model's files only: no /dev/shm
    # TEI serves on port 80: every port of the pod's network namespace is unprivileged, no capability is added.
    assert container["security_context"]["capabilities"] == {"drop": ["ALL"]}
    assert pod(doc)["security_context"]["sysctl"] == [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    service = doc["resource"]["kubernetes_service_v1"]["service"]
    assert service["metadata"]["annotations"] == {
        "networking.gke.io/load-balancer-type": "Internal",
        "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
        "service.beta.kubernetes.io/azure-load-balancer-internal": "true"}
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["load_balancer_source_ranges"] == ["10.0.0.0/16"]
    assert service["spec"]["port"] == [{"name": "http-80", "port": 80, "protocol": "TCP", "target_port": "80"}]


def test_spot_stickiness_ipv6_and_l4(synthesized):
    doc = stack(synthesized, "mistral-spot-kubernetes")
    spec = doc["resource"]["kubernetes_service_v1"]["service"]["spec"]
    assert (spec["session_affinity"], spec["external_traffic_policy"]) == ("ClientIP", "Local")
    # allowed_cidrs mixes families: the IPv4 Service carries the IPv4 range (issue 13 item 6)
    assert (spec["ip_families"], spec["ip_family_policy"]) == (["IPv4"], "SingleStack")
    assert spec["load_balancer_source_ranges"] == ["203.0.113.0/24"]
    assert spec["port"] == [{"name": "http-80", "port": 80, "protocol": "TCP", "target_port": "8080"}]
    expr = pod(doc)["affinity"]["node_affinity"]["required_during_scheduling_ignored_during_execution"]
    assert expr["node_selector_term"][0]["match_expressions"][0]["values"] == ["NVIDIA-L4"]
    assert pod(doc)["node_selector"] == {"kubernetes.io/arch": "amd64"}  # no spot selector: not portable


def test_every_stack_is_hardened_labelled_and_drains(synthesized):
    for example, name in STACKS:
        doc = stack(synthesized, name)
        service = next(c.service for c in compile_files([str(ROOT / "examples" / f"{example}.yaml")], ["kubernetes"])[0]
                       if f"{c.service.name}-kubernetes" == name)
        spec = pod(doc)
        container = spec["container"][0]
        assert container["security_context"] == {"allow_privilege_escalation": False,
                                                 "capabilities": {"drop": ["ALL"]}}
        assert spec["security_context"]["seccomp_profile"] == {"type": "RuntimeDefault"}
        assert ("sysctl" in spec["security_context"]) == (min(service.ports) < 1024)
        assert container["image"] == service.image and container["image_pull_policy"] == "Always"  # tags
        resources = container["resources"]
        assert {k: v for k, v in resources["limits"].items() if k != "nvidia.com/gpu"} == resources["requests"]
        assert {"readiness_probe", "liveness_probe", "startup_probe"} <= set(container)
        assert spec["enable_service_links"] is False and spec["automount_service_account_token"] is False
        assert spec["termination_grace_period_seconds"] == service.load_balancer.drain_timeout_s
        for kind, objects in doc["resource"].items():
            for obj in objects.values():
                meta = obj["metadata"][0] if isinstance(obj["metadata"], list) else obj["metadata"]
                assert meta["labels"] == {**dict(service.labels), "app.kubernetes.io/name": service.name,
                                          "app.kubernetes.io/managed-by": "infc"}, kind
        budget = doc["resource"]["kubernetes_pod_disruption_budget_v1"]["disruption_budget"]["spec"]
        assert budget == {"max_unavailable": "1",
                          "selector": {"match_labels": {"app.kubernetes.io/name": service.name}}}
        assert doc["output"]["service_name"]["value"] == "${kubernetes_service_v1.service.metadata[0].name}"


def test_workload_reuses_a_provider_configured_by_another_target(tmp_path):
    """What gke does: its own kubernetes provider (cluster endpoint), then the same workload objects."""
    from compiler import cdk
    from targets.kubernetes import emit_workload

    spec = Spec.model_validate(spec_dict(targets=K8S, load_balancer={"listeners": [
        {"port": 80, "protocol": "http"}, {"port": 443, "protocol": "https"}]}, probes={
        "readiness": {"initial_delay": 0}, "liveness": {"path": "/live", "interval": 20, "timeout": 2}}))
    service, _ = lower(spec, ["kubernetes"])

    def build(stack):
        stack.provider("kubernetes", *k8s.PROVIDER, host="https://203.0.113.10")
        workload = emit_workload(stack, service, service.targets[0],
                                 settings={"namespace": "ml", "node_selector": {"pool": "gpu"}}, ingress=False,
                                 service_annotations={"cloud.google.com/neg": '{"ingress": true}'})
        assert workload.namespace != "ml"  # a reference to the namespace it created

    cdk.synth([("reuse", build)], str(tmp_path))
    doc = json.loads((tmp_path / "stacks" / "reuse" / "cdk.tf.json").read_text())
    assert doc["provider"] == {"kubernetes": [{"host": "https://203.0.113.10"}]}
    assert set(doc["resource"]) == {"kubernetes_namespace_v1", "kubernetes_deployment_v1", "kubernetes_service_v1",
                                    "kubernetes_pod_disruption_budget_v1"}
    assert pod(doc)["node_selector"] == {"pool": "gpu", "kubernetes.io/arch": "amd64"}
    assert "affinity" not in pod(doc)  # a node_selector replaces the GPU product affinity
    container = pod(doc)["container"][0]
    assert "startup_probe" not in container  # no initial_delay, nothing to cover
    assert container["liveness_probe"] == {
        "http_get": {"path": "/live", "port": "8000", "scheme": "HTTP"}, "period_seconds": 20, "timeout_seconds": 2,
        "success_threshold": 1, "failure_threshold": 5, "initial_delay_seconds": 0}
    assert doc["resource"]["kubernetes_service_v1"]["service"]["metadata"]["annotations"] == {
        "cloud.google.com/neg": '{"ingress": true}',
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}



@pytest.mark.parametrize("example, name", STACKS, ids=[n for _, n in STACKS])
def test_snapshot(synthesized, snapshot, example, name):
    assert stack(synthesized, name) == snapshot(extension_class=JSONSnapshotExtension)


# Variants of MINIMAL, one document each, synthesized together: (name, spec overrides, targets.kubernetes).
DIGEST = "vllm/vllm-openai@sha256:" + "0123456789abcdef" * 4
VARIANTS = {
    "cpu-defaults": ({"hardware": {"accelerator": "none"}}, {}),
    "gpu-defaults": ({}, {}),
    "options": ({"hardware": {"accelerator": "nvidia-l4", "cpus": 4, "memory_gib": 16}},
                {"namespace": "default", "cpu_limit": 6.5, "run_as_user": 1000, "liveness_from_readiness": False,
                 "writable_dirs": ["/tmp", "/root/.cache"]}),
    "digest": ({"model": {"name": "m", "image": DIGEST}}, {"namespace": "ml", "namespace_exists": True}),
    "slow-readiness": ({"probes": {"readiness": {"interval": 60, "timeout": 40}}}, {}),
    "own-liveness": ({"probes": {"liveness": {"path": "/live", "interval": 20, "timeout": 2}}}, {}),
    "hardened": ({"model": {"name": "m", "image": DIGEST, "port": 80}},
                 {"run_as_user": 65532, "writable_dirs": ["/tmp"]}),
}
GPU_HTTP = {"path": "/health", "port": "8000", "scheme": "HTTP"}
EXPECTED = [
    # (variant, JSON path under the deployment's pod spec, expected value)
    ("cpu-defaults", "container.0.resources", {"limits": {"cpu": "1", "memory": "2Gi"},
                                               "requests": {"cpu": "1", "memory": "2Gi"}}),
    ("gpu-defaults", "container.0.resources", {"limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"},
                                               "requests": {"cpu": "2", "memory": "8Gi"}}),
    ("gpu-defaults", "container.0.image_pull_policy", "Always"),
    ("gpu-defaults", "container.0.liveness_probe", {"http_get": GPU_HTTP, "period_seconds": 30, "timeout_seconds": 5,
                                                    "success_threshold": 1, "failure_threshold": 5,
                                                    "initial_delay_seconds": 0}),
    ("gpu-defaults", "security_context", {"seccomp_profile": {"type": "RuntimeDefault"}}),
    ("gpu-defaults", "container.0.security_context", {"allow_privilege_escalation": False,
                                                      "capabilities": {"drop": ["ALL"]}}),
    ("options", "container.0.resources", {"limits": {"cpu": "6500m", "memory": "16Gi", "nvidia.com/gpu": "1"},
                                          "requests": {"cpu": "4", "memory": "16Gi"}}),
    ("options", "security_context", {"run_as_non_root": True, "run_as_user": "1000",
                                     "seccomp_profile": {"type": "RuntimeDefault"}}),
    ("options", "container.0.security_context", {"allow_privilege_escalation": False,
                                                 "capabilities": {"drop": ["ALL"]},
                                                 "read_only_root_filesystem": True}),
    ("options", "volume", [{"empty_dir": {"medium": "Memory"}, "name": "shm"}, {"empty_dir": {}, "name": "rw-tmp"},
                           {"empty_dir": {}, "name": "rw-root-cache"}]),
    ("options", "container.0.volume_mount", [{"mount_path": "/dev/shm", "name": "shm"},
                                             {"mount_path": "/tmp", "name": "rw-tmp"},
                                             {"mount_path": "/root/.cache", "name": "rw-root-cache"}]),
    ("options", "container.0.liveness_probe", None),
    ("digest", "container.0.image", DIGEST),
    ("digest", "container.0.image_pull_policy", None),  # Kubernetes defaults a digest to IfNotPresent
    ("slow-readiness", "container.0.liveness_probe", {"http_get": GPU_HTTP, "period_seconds": 60,
                                                      "timeout_seconds": 40, "success_threshold": 1,
                                                      "failure_threshold": 5, "initial_delay_seconds": 0}),
    ("own-liveness", "container.0.liveness_probe", {"http_get": {**GPU_HTTP, "path": "/live"}, "period_seconds": 20,
                                                    "timeout_seconds": 2, "success_threshold": 1,
                                                    "failure_threshold": 5, "initial_delay_seconds": 0}),
    ("hardened", "security_context", {"run_as_non_root": True, "run_as_user": "65532",
                                      "seccomp_profile": {"type": "RuntimeDefault"},
                                      "sysctl": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]}),
]
NAMESPACES = [
    # (variant, namespace of the objects, created by the stack)
    ("gpu-defaults", "gpu-defaults", True),  # default: named after the service
    ("options", "default", False),
    ("digest", "ml", False),  # namespace_exists
]


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> pathlib.Path:
    from compiler.cli import main

    docs = [spec_yaml(metadata={"name": name}, targets={"kubernetes": settings}, **overrides).decode()
            for name, (overrides, settings) in VARIANTS.items()]
    spec = tmp_path_factory.mktemp("variants") / "variants.yaml"
    spec.write_text("---\n".join(docs))
    out = spec.parent / "out"
    assert main(["synth", str(spec), "--target", "kubernetes", "--out", str(out)]) == 0
    return out / "stacks"


def _at(value, path: str):
    for key in path.split("."):
        if value is None:
            return None
        value = value[int(key)] if key.isdigit() else value.get(key)
    return value


@pytest.mark.parametrize("variant, path, expected", EXPECTED, ids=[f"{v}:{p}" for v, p, _ in EXPECTED])
def test_defaults_and_options_emit_exactly_these_fields(variants, variant, path, expected):
    doc = json.loads((variants / f"{variant}-kubernetes" / "cdk.tf.json").read_text())
    assert _at(pod(doc), path) == expected


@pytest.mark.parametrize("variant, namespace, created", NAMESPACES)
def test_namespace_defaults_to_the_service_name(variants, variant, namespace, created):
    res = json.loads((variants / f"{variant}-kubernetes" / "cdk.tf.json").read_text())["resource"]
    assert ("kubernetes_namespace_v1" in res) == created
    if created:
        assert res["kubernetes_namespace_v1"]["namespace"]["metadata"][0]["name"] == namespace
        namespace = "${kubernetes_namespace_v1.namespace.metadata[0].name}"
    assert res["kubernetes_deployment_v1"]["deployment"]["metadata"]["namespace"] == namespace


def test_options_pass_their_checkov_checks(variants):
    """hardened (digest, run_as_user, writable_dirs) fails no check; the options fix exactly their own."""
    found = {}
    for report in scan(variants):
        for failed in report["results"]["failed_checks"] if report.get("check_type") == "terraform_json" else ():
            stack = pathlib.PurePosixPath(failed["file_path"]).parent.name
            found.setdefault(stack, set()).add(failed["check_id"])
    assert "hardened-kubernetes" not in found
    assert found["gpu-defaults-kubernetes"] == {"CKV_K8S_22", "CKV_K8S_43"}
    # namespace: default and liveness_from_readiness: false turn off what their defaults passed.
    assert found["options-kubernetes"] == {"CKV_K8S_43", "CKV_K8S_21", "CKV_K8S_8"}
    assert found["digest-kubernetes"] == {"CKV_K8S_22"}


# Issue 13 item 6: one GCE firewall rule cannot mix IPv4 and IPv6, so the single-stack Service carries the ranges
# of its family (targets.kubernetes.ip_family) and leaves the others out with a warning, or refuses a list with none.
DUAL = k8s_limits._DUAL_STACK_DOC
FAMILY_CASES = [
    ({}, ["203.0.113.0/24", "2001:db8::/32"], ["203.0.113.0/24"], [], [
        "kubernetes: load_balancer.allowed_cidrs has IPv6 ranges (2001:db8::/32), but the Service is single-stack "
        "IPv4 (targets.kubernetes.ip_family): they are left out of the Service's source ranges (one firewall rule "
        f"cannot mix IPv4 and IPv6), and clients reach it over IPv4 from the IPv4 ranges alone (see {DUAL})"]),
    ({"ip_family": "IPv6"}, ["203.0.113.0/24", "2001:db8::/32"], ["2001:db8::/32"], [], [
        "kubernetes: load_balancer.allowed_cidrs has IPv4 ranges (203.0.113.0/24), but the Service is single-stack "
        "IPv6 (targets.kubernetes.ip_family): they are left out of the Service's source ranges (one firewall rule "
        f"cannot mix IPv4 and IPv6), and clients reach it over IPv6 from the IPv6 ranges alone (see {DUAL})"]),
    ({}, ["2001:db8::/32"], [], [
        "kubernetes: load_balancer.allowed_cidrs has only IPv6 ranges (2001:db8::/32), but the Service is "
        "single-stack IPv4 (targets.kubernetes.ip_family): no client could reach it; list IPv4 ranges "
        f"(see {DUAL})"], []),
    # the default 0.0.0.0/0 (everyone) on an IPv6 Service is everyone over IPv6, without a warning
    ({"ip_family": "IPv6"}, None, ["::/0"], [], []),
    ({"ip_family": "IPv6"}, ["0.0.0.0/0", "2001:db8::/32"], ["2001:db8::/32"], [], [
        "kubernetes: load_balancer.allowed_cidrs has IPv4 ranges (0.0.0.0/0), but the Service is single-stack "
        "IPv6 (targets.kubernetes.ip_family): they are left out of the Service's source ranges (one firewall rule "
        f"cannot mix IPv4 and IPv6), and clients reach it over IPv6 from the IPv6 ranges alone (see {DUAL})"]),
    ({}, ["10.0.0.0/8", "::/0"], ["10.0.0.0/8"], [], [
        "kubernetes: load_balancer.allowed_cidrs has IPv6 ranges (::/0), but the Service is single-stack IPv4 "
        "(targets.kubernetes.ip_family): they are left out of the Service's source ranges (one firewall rule cannot "
        f"mix IPv4 and IPv6), and clients reach it over IPv4 from the IPv4 ranges alone (see {DUAL})"]),
]


@pytest.mark.parametrize("settings, cidrs, ranges, expected_errors, expected_warnings", FAMILY_CASES)
def test_service_source_ranges_are_those_of_its_ip_family(settings, cidrs, ranges, expected_errors,
                                                          expected_warnings):
    lb = {"allowed_cidrs": cidrs} if cidrs else {}
    assert errors(settings, load_balancer=lb) == expected_errors
    assert warnings(settings, load_balancer=lb) == expected_warnings
    spec = Spec.model_validate(spec_dict(targets={"kubernetes": settings}, load_balancer=lb))
    service, _ = lower(spec, ["kubernetes"])
    assert k8s_limits.source_ranges(service, settings.get("ip_family", "IPv4")) == ranges


def test_https_only_services_have_no_source_ranges_to_split():
    assert diagnostics(load_balancer={"allowed_cidrs": ["2001:db8::/32"],
                                      "listeners": [{"port": 443, "protocol": "https"}]}) == [
        ("warning", "kubernetes: the https Ingress has no host (the spec names none): controllers that choose the "
                    "certificate by SNI host, such as ingress-nginx, serve their default certificate instead of "
                    f"targets.kubernetes.certificate (see {k8s_limits._INGRESS_DOC})"),
        ("warning", "kubernetes: https is served by the Ingress, whose exposure and source ranges belong to its "
                    "ingress controller: public and allowed_cidrs apply to the Service's http listeners only")]

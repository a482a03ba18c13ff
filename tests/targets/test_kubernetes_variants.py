"""Kubernetes backend, weighted variants (docs/targets/kubernetes.md, "Variants"): per variant a Deployment, ClusterIP
Service, HPA and PodDisruptionBudget; one Gateway API HTTPRoute on targets.kubernetes.gateway whose backendRefs carry
the spec's weights; what the target refuses, and gke, eks and aks still refusing variants."""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml

from compiler.driver import compile_text
from compiler.errors import CompileError
from compiler.provider_check import check_document
from compiler.spec import Spec
from targets.kubernetes import limits as k8s_limits
from tests.conftest import spec_dict, synth_documents
from tests.targets.variants import strip

STABLE_IMAGE = "vllm/vllm-openai:v0.6.3"
CANARY_IMAGE = "vllm/vllm-openai:v0.7.0"
GATEWAY = {"namespace": "serving", "gateway": "shared", "gateway_namespace": "infra", "gateway_listener": "http"}
MODEL_PORT = 9000


def variants(stable: int, canary: int) -> list[dict]:
    """stable keeps the spec's sections; canary runs another image and fixed replicas (no HPA) of its own."""
    return [{"name": "stable", "weight": stable},
            {"name": "canary", "weight": canary, "image": CANARY_IMAGE, "env": {"TRACK": "canary"},
             "replicas": {"min": 1, "max": 1}}]


def two(name: str = "chat", stable: int = 90, canary: int = 10, settings: dict | None = None, **overrides) -> dict:
    doc = spec_dict(metadata={"name": name, "labels": {"team": "ml"}},
                    model={"name": "m", "image": STABLE_IMAGE, "port": MODEL_PORT},
                    hardware={"accelerator": "nvidia-l4", "memory_gib": 16},
                    replicas={"min": 2, "max": 6, "autoscale": {"metric": "cpu_percent", "target": 70}},
                    variants=variants(stable, canary), **overrides)
    doc["targets"] = {"kubernetes": GATEWAY if settings is None else settings}
    return doc


def one(name: str, settings: dict) -> dict:
    doc = two(name, settings=settings)
    del doc["variants"]
    return doc


# The longest names the spec allows: metadata.name of 24 characters, variant names of 8.
LONG_NAME = "a" * 23 + "z"
LONG = two(LONG_NAME)
LONG["variants"][0]["name"], LONG["variants"][1]["name"] = "stable12", "canary12"


def synth(tmp_path_factory, label: str, docs: list[dict]) -> dict[str, dict]:
    out = synth_documents(tmp_path_factory.mktemp(f"k8s-variants-{label}"), docs, "kubernetes")
    return {doc["metadata"]["name"]: json.loads((out / "stacks" / f"{doc['metadata']['name']}-kubernetes" /
                                                 "cdk.tf.json").read_text()) for doc in docs}


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> dict[str, dict]:
    """90/10, the longest names, 100/0, one version behind the Gateway (with a host) and one without a Gateway, in
    one synth through the real CLI; every synth checks each attribute against
    compiler/provider_schemas/kubernetes-3.4.0.json."""
    docs = [two("chat"), LONG, two("dark", 100, 0),
            one("solo", {"gateway": "shared", "host": "chat.example.com"}), one("plain", {"namespace": "serving"})]
    return synth(tmp_path_factory, "90-10", docs)


@pytest.fixture(scope="module")
def shifted(tmp_path_factory) -> dict:
    """The service `chat` of `stacks` with only its weights changed to 50/50."""
    return synth(tmp_path_factory, "50-50", [two("chat", 50, 50)])["chat"]


def res(doc: dict, kind: str) -> dict[str, dict]:
    return strip(doc["resource"].get(kind, {}))


def route(doc: dict) -> dict:
    [only] = res(doc, "kubernetes_manifest").values()
    return only["manifest"]


def test_each_variant_has_its_own_deployment_running_its_image(stacks):
    deployments = res(stacks["chat"], "kubernetes_deployment_v1")
    assert set(deployments) == {"deployment_stable", "deployment_canary"}
    for variant, image in (("stable", STABLE_IMAGE), ("canary", CANARY_IMAGE)):
        body = deployments[f"deployment_{variant}"]
        assert body["metadata"]["name"] == f"chat-{variant}"
        [container] = body["spec"]["template"]["spec"]["container"]
        assert container["image"] == image
        # Each Deployment selects only its own pods, which its pod labels match.
        selector = body["spec"]["selector"]["match_labels"]
        assert selector == {"app.kubernetes.io/name": f"chat-{variant}"}
        assert selector.items() <= body["spec"]["template"]["metadata"]["labels"].items()
    env = {e["name"]: e.get("value") for e in
           deployments["deployment_canary"]["spec"]["template"]["spec"]["container"][0]["env"]}
    assert env["TRACK"] == "canary"
    # With an HPA the replicas are the HPA's; without (canary: min = max = 1) the Deployment's.
    assert "replicas" not in deployments["deployment_stable"]["spec"]
    assert deployments["deployment_canary"]["spec"]["replicas"] == "1"


def test_each_variant_has_its_own_cluster_ip_service_and_no_load_balancer_or_ingress(stacks):
    services = res(stacks["chat"], "kubernetes_service_v1")
    assert set(services) == {"service_stable", "service_canary"}
    for variant in ("stable", "canary"):
        spec = services[f"service_{variant}"]["spec"]
        assert spec["type"] == "ClusterIP"
        assert spec["selector"] == {"app.kubernetes.io/name": f"chat-{variant}"}
        assert spec["port"] == [{"name": "http", "port": MODEL_PORT, "target_port": str(MODEL_PORT),
                                 "protocol": "TCP"}]
    assert "kubernetes_ingress_v1" not in stacks["chat"]["resource"]


def test_each_variant_has_its_own_autoscaler_and_disruption_budget(stacks):
    scalers = res(stacks["chat"], "kubernetes_horizontal_pod_autoscaler_v2")
    assert set(scalers) == {"autoscaler_stable"}  # canary has fixed replicas
    spec = scalers["autoscaler_stable"]["spec"]
    assert (spec["min_replicas"], spec["max_replicas"]) == (2, 6)
    assert spec["scale_target_ref"]["name"] == "chat-stable"
    budgets = res(stacks["chat"], "kubernetes_pod_disruption_budget_v1")
    assert {k: v["spec"]["selector"]["match_labels"] for k, v in budgets.items()} == {
        "disruption_budget_stable": {"app.kubernetes.io/name": "chat-stable"},
        "disruption_budget_canary": {"app.kubernetes.io/name": "chat-canary"}}


def test_one_http_route_on_the_gateway_carries_the_weights(stacks):
    manifest = route(stacks["chat"])
    assert (manifest["apiVersion"], manifest["kind"]) == ("gateway.networking.k8s.io/v1", "HTTPRoute")
    assert manifest["metadata"]["name"] == "chat"
    assert manifest["metadata"]["namespace"] == "${kubernetes_namespace_v1.namespace.metadata[0].name}"
    assert manifest["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                               "name": "shared", "namespace": "infra", "sectionName": "http"}]
    [rule] = manifest["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert rule["backendRefs"] == [
        {"group": "", "kind": "Service", "name": "${kubernetes_service_v1.service_stable.metadata[0].name}",
         "port": MODEL_PORT, "weight": 90},
        {"group": "", "kind": "Service", "name": "${kubernetes_service_v1.service_canary.metadata[0].name}",
         "port": MODEL_PORT, "weight": 10}]
    assert "hostnames" not in manifest["spec"]
    outputs = stacks["chat"]["output"]
    assert outputs["gateway"]["value"] == "infra/shared" and outputs["route_name"]["value"] == "chat"
    assert "service_name" not in outputs


def test_a_weight_of_zero_is_carried(stacks):
    """A variant at 0 keeps its replicas without traffic: Gateway API "If weight is set to 0, no traffic should be
    forwarded for this entry" (gateway-api apis/v1/shared_types.go, HTTPBackendRef.Weight)."""
    [rule] = route(stacks["dark"])["spec"]["rules"]
    assert [b["weight"] for b in rule["backendRefs"]] == [100, 0]


def test_changing_the_weights_changes_only_the_route(stacks, shifted):
    before, after = stacks["chat"], shifted
    changed = {(kind, key) for kind in before["resource"].keys() | after["resource"].keys()
               for key in before["resource"].get(kind, {}).keys() | after["resource"].get(kind, {}).keys()
               if before["resource"].get(kind, {}).get(key) != after["resource"].get(kind, {}).get(key)}
    assert changed == {("kubernetes_manifest", "route")}
    assert {k: v for k, v in before.items() if k != "resource"} == {k: v for k, v in after.items() if k != "resource"}
    old, new = route(before), route(after)
    assert [b["weight"] for b in new["spec"]["rules"][0]["backendRefs"]] == [50, 50]
    for backend in new["spec"]["rules"][0]["backendRefs"]:
        backend["weight"] = None
    for backend in old["spec"]["rules"][0]["backendRefs"]:
        backend["weight"] = None
    assert old == new


def test_one_version_behind_the_gateway(stacks):
    """Without variants, gateway routes the one version: unsuffixed names and IDs (as on a LoadBalancer Service), a
    ClusterIP Service, one backendRef of weight 1 (the Gateway API default), the host as the route's hostname."""
    doc = stacks["solo"]
    [(key, service)] = res(doc, "kubernetes_service_v1").items()
    assert (key, service["metadata"]["name"], service["spec"]["type"]) == ("service", "solo", "ClusterIP")
    assert set(res(doc, "kubernetes_deployment_v1")) == {"deployment"}
    manifest = route(doc)
    assert manifest["spec"]["hostnames"] == ["chat.example.com"]
    # gateway_namespace defaults to the service's namespace (here the default one, named after the service).
    assert manifest["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                               "name": "shared", "namespace": "solo"}]
    assert manifest["spec"]["rules"][0]["backendRefs"] == [
        {"group": "", "kind": "Service", "name": "${kubernetes_service_v1.service.metadata[0].name}",
         "port": MODEL_PORT, "weight": 1}]
    assert doc["output"]["service_name"]["value"] == "${kubernetes_service_v1.service.metadata[0].name}"


DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def test_the_longest_names_fit_a_dns_label_and_a_label_value(stacks):
    """<metadata.name>-<variant> is at most 24 + 1 + 8 = 33 characters: a Service name is a DNS-1035 label (63) and
    the name is the app.kubernetes.io/name label value (63), so nothing is truncated."""
    doc = stacks[LONG_NAME]
    metadata = [body["manifest"]["metadata"] if kind == "kubernetes_manifest" else body["metadata"]
                for kind, blocks in doc["resource"].items() for body in blocks.values()]
    metadata = [m[0] if isinstance(m, list) else m for m in metadata]  # the namespace's is a one-element list
    names = [m["name"] for m in metadata]
    assert f"{LONG_NAME}-stable12" in names and f"{LONG_NAME}-canary12" in names
    assert all(DNS1035.fullmatch(n) and len(n) <= 63 for n in names), names
    values = [v for m in metadata for v in m["labels"].values()]
    assert f"{LONG_NAME}-canary12" in values and all(len(v) <= 63 for v in values), values


def test_every_attribute_passes_the_provider_schema_and_the_check_sees_the_route(stacks):
    """The synth already checked the documents (compiler/cdk.py); kubernetes_manifest takes `manifest` (dynamic) in
    hashicorp/kubernetes 3.4.0 (compiler/provider_schemas/kubernetes-3.4.0.json), so a misspelt argument of the
    resource fails the check."""
    for doc in stacks.values():
        assert check_document(doc) == []
    broken = copy.deepcopy(stacks["chat"])
    body = broken["resource"]["kubernetes_manifest"]["route"]
    body["manifests"] = body.pop("manifest")
    violations = [str(v) for v in check_document(broken)]
    assert any("kubernetes_manifest.route" in v and "manifests" in v for v in violations), violations


def test_spec_weights_fit_the_gateway_api_weight_range():
    """kubernetes-sigs/gateway-api at 4564255a, apis/v1/shared_types.go, HTTPBackendRef.Weight:
    `+kubebuilder:validation:Minimum=0`, `Maximum=1000000`, the share weight / (sum of weights), "not a percentage".
    The spec's weights are whole percents 0-100 summing to 100, carried as they are."""
    weight = Spec.model_json_schema()["$defs"]["Variant"]["properties"]["weight"]
    assert 0 <= weight["minimum"] and weight["maximum"] <= 1_000_000


def diagnostics(doc: dict, severity: str = "error") -> list:
    try:
        _, found = compile_text("spec.yaml", yaml.safe_dump(doc, sort_keys=False).encode())
    except CompileError as exc:
        found = exc.diagnostics
    return [d for d in found if d.severity == severity]


def test_variants_without_a_gateway_say_what_to_set_and_why():
    [found] = diagnostics(two(settings={"namespace": "serving"}))
    assert found.path == ("variants",)
    assert found.message.startswith("kubernetes: variants need targets.kubernetes.gateway: a Service spreads "
                                    "requests over every ready pod it selects")
    assert "HTTPRoute (weighted backendRefs)" in found.message
    assert "gateway-api.sigs.k8s.io/guides/traffic-splitting" in found.message


@pytest.mark.parametrize(("section", "path", "expected"), [
    ({"load_balancer": {"listeners": [{"port": 8080, "protocol": "http"}]}}, ("load_balancer", "listeners"),
     "load_balancer.listeners with targets.kubernetes.gateway (shared): the Gateway's listeners serve clients"),
    ({"load_balancer": {"listeners": [{"port": 443, "protocol": "https"}]}}, ("load_balancer", "listeners"),
     "load_balancer.listeners with targets.kubernetes.gateway (shared)"),
    ({"load_balancer": {"public": False}}, ("load_balancer", "public"),
     "load_balancer.public is false with targets.kubernetes.gateway (shared)"),
    ({"load_balancer": {"allowed_cidrs": ["203.0.113.0/24"]}}, ("load_balancer", "allowed_cidrs"),
     "load_balancer.allowed_cidrs with targets.kubernetes.gateway (shared): an HTTPRoute has no source-range filter"),
    ({"load_balancer": {"stickiness": True}}, ("load_balancer", "stickiness"),
     "load_balancer.stickiness with targets.kubernetes.gateway (shared): an HTTPRoute's sessionPersistence is in "
     "the Gateway API's experimental channel only"),
    ({"targets": {"kubernetes": {**GATEWAY, "ip_family": "IPv6"}}}, ("targets", "kubernetes", "ip_family"),
     "targets.kubernetes.ip_family sets the LoadBalancer Service's IP family, which is not emitted"),
    ({"targets": {"kubernetes": {**GATEWAY, "certificate": "chat-tls"}}}, ("targets", "kubernetes", "certificate"),
     "targets.kubernetes.certificate sets the https Ingress's TLS Secret, which is not emitted"),
])
@pytest.mark.parametrize("with_variants", [True, False])
def test_behind_a_gateway_what_its_listeners_decide_is_refused_once(section, path, expected, with_variants):
    doc = two()
    doc.update(copy.deepcopy(section))
    if not with_variants:
        del doc["variants"]
    found = [d for d in diagnostics(doc) if d.message.startswith(f"kubernetes: {expected}")]
    # Once: the shared section's problem is the spec's, not again for each variant (compiler/variants.py relocate).
    assert [d.path for d in found] == [path], [d.render() for d in diagnostics(doc)]


def test_a_variants_own_value_is_refused_at_its_field():
    doc = two()
    doc["variants"][1]["replicas"] = {"min": 0, "max": 2}
    found = [d for d in diagnostics(doc) if d.message.startswith("kubernetes: variant canary: replicas.min: 0")]
    assert [d.path for d in found] == [("variants", 1, "replicas", "min")]


@pytest.mark.parametrize(("target", "settings"), [
    ("gke", {"project": "my-project1", "region": "us-central1"}),
    ("eks", {"region": "us-east-1"}),
    ("aks", {"location": "eastus"}),
])
def test_managed_clusters_still_refuse_variants_with_the_reason(target, settings):
    doc = two()
    doc["hardware"], doc["targets"] = {"accelerator": "nvidia-t4"}, {target: settings}  # a GPU every cloud sells
    found = [d for d in diagnostics(doc) if d.path == ("variants",)]
    assert [d.message.split(": ")[0] for d in found] == [target]
    message = found[0].message
    assert message.startswith(f"{target}: variants are not supported on {target}: {k8s_limits._SPLIT}")
    assert "plans only against a cluster that already has the Gateway API CRDs, not one the same apply creates" \
        in message
    assert "registry.terraform.io/providers/hashicorp/kubernetes/latest/docs/resources/manifest" in message


def test_a_spec_without_gateway_or_variants_emits_no_route(stacks):
    """The LoadBalancer Service as before (the snapshots in tests/targets/__snapshots__ pin the whole output)."""
    doc = stacks["plain"]
    assert "kubernetes_manifest" not in doc["resource"]
    [service] = doc["resource"]["kubernetes_service_v1"].values()
    assert service["spec"]["type"] == "LoadBalancer"

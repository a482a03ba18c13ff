"""Google Cloud backend, weighted variants (docs/targets/gcp.md, "Variants"): one load balancer, per variant an instance
template, instance group, autoscaler and backend service, the URL map splitting requests by the spec's weights."""

from __future__ import annotations

import copy
import json
import pathlib
import re

import pytest
import yaml

from compiler.driver import compile_text
from compiler.errors import CompileError
from compiler.lower import lower
from compiler.provider_check import check_document
from compiler.spec import Spec
from targets.gcp import lb as gcp_lb
from tests.conftest import spec_dict, synth_documents

GCP = {"project": "acme-ml", "region": "us-central1"}
STABLE_IMAGE = "us-docker.pkg.dev/acme-ml/serving/vllm:v0.6.3"
CANARY_IMAGE = "europe-docker.pkg.dev/acme-ml/canary/vllm:v0.7.0"
REQUESTS = {"metric": "requests_per_replica", "target": 4}
CPU = {"metric": "cpu_percent", "target": 70}


def variants(stable: int, canary: int) -> list[dict]:
    """A stable variant with the spec's sections and a canary with another image, model, GPU count and replicas."""
    return [{"name": "stable", "weight": stable},
            {"name": "canary", "weight": canary, "image": CANARY_IMAGE, "uri": "gs://acme-canary/llama/",
             "hardware": {"accelerator": "nvidia-l4", "count": 2},
             "replicas": {"min": 1, "max": 2, "autoscale": CPU}}]


def two(name: str, stable: int = 90, canary: int = 10, **overrides) -> dict:
    doc = spec_dict(metadata={"name": name},
                    model={"name": "m", "image": STABLE_IMAGE, "uri": "gs://acme-models/llama/",
                           "args": ["--model", "/mnt/models"]},
                    replicas={"min": 2, "max": 6, "autoscale": REQUESTS}, variants=variants(stable, canary),
                    **overrides)
    doc["targets"] = {"gcp": GCP}
    return doc


# The longest names the spec allows: metadata.name of 24 characters, variant names of 8.
LONG_NAME = "a" * 23 + "z"
LONG = two(LONG_NAME, load_balancer={"public": False, "listeners": [{"port": 80, "protocol": "http"}]})
LONG["variants"][0]["name"], LONG["variants"][1]["name"] = "stable12", "canary12"


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> pathlib.Path:
    """90/10 external, 90/10 internal, the longest names and a 100/0 split, in one synth through the real CLI."""
    internal = two("chat-int", load_balancer={"public": False, "listeners": [{"port": 80, "protocol": "http"}]})
    docs = [two("chat"), internal, LONG, two("dark", 100, 0)]
    return synth_documents(tmp_path_factory.mktemp("gcp-variants"), docs, "gcp")


@pytest.fixture(scope="module")
def shifted(tmp_path_factory) -> pathlib.Path:
    """The external service of `synthesized` with only its weights changed to 50/50."""
    return synth_documents(tmp_path_factory.mktemp("gcp-variants-50"), [two("chat", 50, 50)], "gcp")


def stack(out: pathlib.Path, name: str) -> dict:
    return json.loads((out / "stacks" / f"{name}-gcp" / "cdk.tf.json").read_text())


def script(template: dict) -> str:
    return template["metadata"]["startup-script"]


def test_the_url_map_splits_requests_by_the_spec_weights(synthesized):
    res = stack(synthesized, "chat")["resource"]
    [url_map] = res["google_compute_url_map"].values()
    # default_service and default_route_action.weighted_backend_services exclude each other (ExactlyOneOf in
    # google/services/compute/resource_compute_url_map.go, `default_service`).
    assert "default_service" not in url_map
    assert url_map["default_route_action"] == {"weighted_backend_services": [
        {"backend_service": "${google_compute_backend_service.backend_service_stable.id}", "weight": 90},
        {"backend_service": "${google_compute_backend_service.backend_service_canary.id}", "weight": 10}]}


def test_the_internal_url_map_splits_by_weight_between_regional_backend_services(synthesized):
    res = stack(synthesized, "chat-int")["resource"]
    [url_map] = res["google_compute_region_url_map"].values()
    assert "default_service" not in url_map
    assert url_map["default_route_action"]["weighted_backend_services"] == [
        {"backend_service": "${google_compute_region_backend_service.backend_service_stable.id}", "weight": 90},
        {"backend_service": "${google_compute_region_backend_service.backend_service_canary.id}", "weight": 10}]
    backends = res["google_compute_region_backend_service"]
    assert {b["load_balancing_scheme"] for b in backends.values()} == {"INTERNAL_MANAGED"}
    assert sorted(b["name"] for b in backends.values()) == ["chat-int-canary", "chat-int-stable"]


def test_a_weight_of_zero_is_carried_not_dropped(synthesized):
    """A variant at 0 keeps its replicas without traffic: the 0 must reach the URL map (a dropped weight would be an
    unset field, which the API reads as 0 too, but the output must say what the spec says)."""
    [url_map] = stack(synthesized, "dark")["resource"]["google_compute_url_map"].values()
    assert [w["weight"] for w in url_map["default_route_action"]["weighted_backend_services"]] == [100, 0]


@pytest.mark.parametrize("name", ["chat", "chat-int"])
def test_each_variant_has_its_own_template_group_autoscaler_and_backend(synthesized, name):
    res = stack(synthesized, name)["resource"]
    templates = res["google_compute_region_instance_template"]
    groups = res["google_compute_region_instance_group_manager"]
    scalers = res["google_compute_region_autoscaler"]
    backends = res.get("google_compute_backend_service") or res["google_compute_region_backend_service"]
    assert set(templates) == {"instance_template_stable", "instance_template_canary"}
    assert set(groups) == {"instance_group_stable", "instance_group_canary"}
    assert set(scalers) == {"autoscaler_stable", "autoscaler_canary"}
    assert set(backends) == {"backend_service_stable", "backend_service_canary"}
    for variant in ("stable", "canary"):
        group = groups[f"instance_group_{variant}"]
        assert group["name"] == group["base_instance_name"] == f"{name}-{variant}"
        assert group["version"] == [{"name": "primary", "instance_template":
                                     f"${{google_compute_region_instance_template.instance_template_{variant}"
                                     ".self_link}"}]
        assert templates[f"instance_template_{variant}"]["name_prefix"] == f"{name}-{variant}-"
        [backend] = backends[f"backend_service_{variant}"]["backend"]
        assert backend["group"] == ("${google_compute_region_instance_group_manager."
                                    f"instance_group_{variant}.instance_group}}")
        assert scalers[f"autoscaler_{variant}"]["target"] == \
            f"${{google_compute_region_instance_group_manager.instance_group_{variant}.id}}"


def test_each_template_runs_its_variants_image_model_and_machine(synthesized):
    res = stack(synthesized, "chat")["resource"]
    stable, canary = (res["google_compute_region_instance_template"][f"instance_template_{v}"]
                      for v in ("stable", "canary"))
    assert STABLE_IMAGE in script(stable) and CANARY_IMAGE not in script(stable)
    assert CANARY_IMAGE in script(canary) and STABLE_IMAGE not in script(canary)
    assert "gs://acme-models/llama/" in script(stable) and "gs://acme-canary/llama/" in script(canary)
    service, _ = lower(Spec.model_validate(two("chat")), ["gcp"])
    machines = [v.service.target("gcp").machine for v in service.variants]
    assert [m.accelerator_count for m in machines] == [1, 2]
    assert [stable["machine_type"], canary["machine_type"]] == [m.instance_type for m in machines]
    assert stable["machine_type"] != canary["machine_type"]


def test_each_autoscaler_holds_its_own_variants_bounds_and_metric(synthesized):
    res = stack(synthesized, "chat")["resource"]
    stable, canary = (res["google_compute_region_autoscaler"][f"autoscaler_{v}"]["autoscaling_policy"]
                      for v in ("stable", "canary"))
    assert (stable["min_replicas"], stable["max_replicas"]) == (2, 6)
    assert stable["load_balancing_utilization"] == {"target": gcp_lb.LB_UTILIZATION} and "cpu_utilization" not in stable
    assert (canary["min_replicas"], canary["max_replicas"]) == (1, 2)
    assert canary["cpu_utilization"] == {"target": 0.7} and "load_balancing_utilization" not in canary
    # LB utilization per backend service: the stable backend's RATE capacity is its own spec rate.
    backends = res["google_compute_backend_service"]
    [stable_backend] = backends["backend_service_stable"]["backend"]
    [canary_backend] = backends["backend_service_canary"]["backend"]
    assert (stable_backend["balancing_mode"], stable_backend["max_rate_per_instance"]) == (
        "RATE", REQUESTS["target"] / gcp_lb.LB_UTILIZATION)
    assert canary_backend["balancing_mode"] == "UTILIZATION" and "max_rate_per_instance" not in canary_backend


def test_the_front_is_shared(synthesized):
    """One health check, URL map, address, proxy, forwarding rule, firewall pair and service account for both."""
    res = stack(synthesized, "chat")["resource"]
    for kind in ("google_compute_url_map", "google_compute_health_check", "google_compute_global_address",
                 "google_compute_target_http_proxy", "google_compute_global_forwarding_rule",
                 "google_service_account"):
        assert len(res[kind]) == 1, kind
    assert set(res["google_compute_firewall"]) == {"allow_health_checks", "allow_load_balancer"}
    backends = res["google_compute_backend_service"].values()
    assert {tuple(b["health_checks"]) for b in backends} == {("${google_compute_health_check.readiness.id}",)}
    templates = res["google_compute_region_instance_template"].values()
    assert {t["service_account"]["email"] for t in templates} == {"${google_service_account.replica_account.email}"}
    assert {tuple(t["tags"]) for t in templates} == {("chat",)}  # the shared firewall rules' target tag


def test_grants_cover_every_variants_model_and_image(synthesized):
    res = stack(synthesized, "chat")["resource"]
    buckets = res["google_storage_bucket_iam_member"]
    assert {k: b["bucket"] for k, b in buckets.items()} == {"model_read": "acme-models",
                                                           "model_read_canary": "acme-canary"}
    pulls = res["google_artifact_registry_repository_iam_member"]
    assert {k: (p["location"], p["repository"]) for k, p in pulls.items()} == {
        "replica_image_pull": ("us", "serving"), "replica_image_pull_canary": ("europe", "canary")}
    grants = {f"google_storage_bucket_iam_member.{k}" for k in buckets} | \
             {f"google_artifact_registry_repository_iam_member.{k}" for k in pulls}
    for group in res["google_compute_region_instance_group_manager"].values():
        assert set(group["depends_on"]) == grants


def test_variants_in_one_bucket_and_repository_share_one_grant(tmp_path):
    """Two bindings of one member and role on one bucket would remove it for both when one goes."""
    doc = two("same")
    doc["variants"][1].update(image="us-docker.pkg.dev/acme-ml/serving/vllm:v0.7.0", uri="gs://acme-models/next/")
    res = stack(synth_documents(tmp_path, [doc], "gcp"), "same")["resource"]
    assert list(res["google_storage_bucket_iam_member"]) == ["model_read"]
    assert list(res["google_artifact_registry_repository_iam_member"]) == ["replica_image_pull"]


def test_changing_only_the_weights_changes_only_the_url_map(synthesized, shifted):
    before, after = stack(synthesized, "chat"), stack(shifted, "chat")
    changed = {(kind, key) for kind in before["resource"].keys() | after["resource"].keys()
               for key in before["resource"].get(kind, {}).keys() | after["resource"].get(kind, {}).keys()
               if before["resource"].get(kind, {}).get(key) != after["resource"].get(kind, {}).get(key)}
    assert changed == {("google_compute_url_map", "url_map")}
    assert {k: v for k, v in before.items() if k != "resource"} == {k: v for k, v in after.items() if k != "resource"}
    [url_map] = after["resource"]["google_compute_url_map"].values()
    assert [w["weight"] for w in url_map["default_route_action"]["weighted_backend_services"]] == [50, 50]


RFC1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def test_the_longest_names_fit_rfc1035(synthesized):
    """<metadata.name>-<variant> is at most 24 + 1 + 8 = 33 characters, so no name needs checking or truncating; the
    template's name_prefix stays at most 37, under which the provider appends its full unique suffix
    (google/services/compute/resource_compute_region_instance_template.go: `if len(prefix) > 37` shortens it)."""
    res = stack(synthesized, LONG_NAME)["resource"]
    names = [body["name"] for blocks in res.values() for body in blocks.values() if "name" in body]
    assert f"{LONG_NAME}-canary12" in names and f"{LONG_NAME}-stable12" in names
    assert all(RFC1035.fullmatch(n) and len(n) <= 63 for n in names), names
    prefixes = [t["name_prefix"] for t in res["google_compute_region_instance_template"].values()]
    assert prefixes and all(len(p) <= 37 for p in prefixes), prefixes
    assert all(len(g["base_instance_name"]) + 5 <= 63  # "-" and four random characters per VM
               for g in res["google_compute_region_instance_group_manager"].values())


def test_every_attribute_passes_the_provider_schema_and_the_check_sees_the_split(synthesized):
    """The synth already checked the documents (compiler/cdk.py); the check also looks inside the weighted backend
    services, so a misspelt weight would fail there (hashicorp/google 8.7.0 in compiler/provider_schemas/)."""
    for name in ("chat", "chat-int", LONG_NAME, "dark"):
        assert check_document(stack(synthesized, name)) == []
    broken = copy.deepcopy(stack(synthesized, "chat"))
    entry = broken["resource"]["google_compute_url_map"]["url_map"]["default_route_action"][
        "weighted_backend_services"][0]
    entry["wieght"] = entry.pop("weight")
    violations = [str(v) for v in check_document(broken)]
    assert any("google_compute_url_map.url_map" in v and "wieght" in v for v in violations), violations


def test_spec_weights_fit_the_providers_weight_range():
    """hashicorp/terraform-provider-google at e03b7622, google/services/compute/resource_compute_url_map.go:1026
    (resource_compute_region_url_map.go:576), default_route_action.weighted_backend_services.weight:
    `ValidateFunc: validation.IntBetween(0, 1000)`, each service getting weight / (sum of the weights). The spec's
    weights are whole percents summing to 100, each 0-100 (compiler/spec.py Variant.weight), so they are carried as
    they are and the fractions are exactly the spec's."""
    weight = Spec.model_json_schema()["$defs"]["Variant"]["properties"]["weight"]
    assert (weight["minimum"], weight["maximum"]) == (0, 100)
    assert 0 <= weight["minimum"] and weight["maximum"] <= 1000


def check(doc: dict, severity: str = "error") -> list:
    """The diagnostics of `severity` of compiling `doc` for gcp: gcp's check on the service and on each variant, as
    the driver runs it and keeps its messages."""
    try:
        _, found = compile_text("spec.yaml", yaml.safe_dump(doc, sort_keys=False).encode(), ["gcp"])
    except CompileError as exc:
        found = exc.diagnostics
    return [d for d in found if d.severity == severity]


@pytest.mark.parametrize("public", [True, False])
def test_both_load_balancers_take_variants(public):
    doc = two("chat", load_balancer={"public": public, "listeners": [{"port": 80, "protocol": "http"}]})
    assert check(doc) == []


def test_stickiness_with_variants_is_a_warning_that_the_weights_split_clients():
    [warned] = [d for d in check(two("chat", load_balancer={"stickiness": True}), "warning")
                if "stickiness" in d.message]
    assert warned.message.startswith("gcp: load_balancer.stickiness with variants: the URL map picks a variant by "
                                     "weight for a client's first request only")
    assert "the weights split clients, not requests" in warned.message
    assert "compute_url_map#weight" in warned.message and warned.path == ("load_balancer", "stickiness")
    plain = spec_dict(load_balancer={"stickiness": True})
    plain["targets"] = {"gcp": GCP}
    assert not [d for d in check(plain, "warning") if "stickiness" in d.message]


@pytest.mark.parametrize(("canary", "path", "expected"), [
    # A variant's own replicas: gcp cannot scale to zero (targets/gcp/limits.py SCALE_TO_ZERO).
    ({"replicas": {"min": 0, "max": 2}}, ("variants", 1, "replicas", "min"),
     "gcp: variant canary: replicas.min: 0 is not supported"),
    # A variant's own hardware: a managed instance group has one provisioning model.
    ({"hardware": {"accelerator": "nvidia-l4", "spot": True, "on_demand_base": 1}},
     ("variants", 1, "hardware", "on_demand_base"), "gcp: variant canary: hardware.on_demand_base is not supported"),
    # A variant's own machine type that cannot carry its GPU.
    ({"hardware": {"accelerator": "nvidia-l4", "instance_types": {"gcp": "e2-custom-8-32768"}}},
     ("variants", 1, "hardware", "instance_types", "gcp"),
     "gcp: variant canary: machine type 'e2-custom-8-32768' cannot carry nvidia-l4"),
])
def test_a_variants_own_values_are_refused_at_the_variants_field(canary, path, expected):
    doc = two("chat")
    doc["variants"][1] = {"name": "canary", "weight": 10, **canary}
    found = [d for d in check(doc) if d.message.startswith(expected)]
    assert [d.path for d in found] == [path], [d.render() for d in check(doc)]
    assert found[0].loc is not None


def test_variant_stacks_pass_checkov(synthesized):
    from tests.test_security import scan

    for report in scan(synthesized / "stacks"):
        if report["check_type"] == "terraform_json":
            assert report["summary"]["passed"] > 0
            assert [(c["check_id"], c["resource"], c["file_path"]) for c in report["results"]["failed_checks"]] == []

"""Weighted variants (docs/spec.md, "Variants"): the rules across variants, each variant's own spec and lowering,
messages moved to the variant's field, and the targets that cannot split requests by weight."""

from __future__ import annotations

import json

import pytest
import yaml

from compiler import lower, validate, variants
from compiler.driver import compile_text
from compiler.errors import CompileError
from compiler.loader import load_text
from compiler.parse import parse
from tests.conftest import spec_dict, spec_yaml, synth_documents

TWO = [{"name": "stable", "weight": 90}, {"name": "canary", "weight": 10, "image": "vllm/vllm-openai:v0.7.0"}]


def _spec(**overrides):
    doc = load_text("spec.yaml", spec_yaml(**overrides))[0]
    spec, found = parse(doc)
    assert spec is not None, [d.render() for d in found]
    return spec


def _errors(**overrides) -> list[str]:
    data = spec_dict(**overrides)
    data["targets"] = {name: settings for name, settings in data["targets"].items() if settings is not None}
    with pytest.raises(CompileError) as caught:
        compile_text("spec.yaml", yaml.safe_dump(data).encode())
    return [d.render() for d in caught.value.diagnostics if d.severity == "error"]


def test_a_variant_spec_takes_its_overrides_and_merges_env():
    spec = _spec(model={"env": {"A": "1", "B": "2"}, "args": ["--x"]},
                 variants=[{"name": "stable", "weight": 50},
                           {"name": "canary", "weight": 50, "env": {"B": "3"}, "args": ["--y"], "uri": "s3://bucket/m",
                            "replicas": {"min": 2}, "hardware": {"accelerator": "nvidia-l4", "count": 4}}])
    stable, canary = (variants.spec_of(spec, v) for v in spec.variants)
    assert stable.model == spec.model and stable.hardware == spec.hardware and stable.variants == []
    assert canary.model.env == {"A": "1", "B": "3"} and canary.model.args == ["--y"]
    assert canary.model.uri == "s3://bucket/m" and canary.model.image == spec.model.image
    assert canary.replicas.min == 2 and canary.hardware.count == 4
    assert spec.model.env == {"A": "1", "B": "2"}  # the spec itself is unchanged


def test_each_variant_is_lowered_with_its_own_machines():
    spec = _spec(variants=[{"name": "stable", "weight": 90},
                           {"name": "canary", "weight": 10, "hardware": {"accelerator": "nvidia-l4", "count": 4}}])
    service, found = lower.lower(spec, ["aws"])
    assert not [d for d in found if d.severity == "error"]
    assert [(v.name, v.weight) for v in service.variants] == [("stable", 90), ("canary", 10)]
    stable, canary = (v.service.target("aws").machine for v in service.variants)
    assert (stable.accelerator_count, canary.accelerator_count) == (1, 4)
    assert stable.instance_type == service.target("aws").machine.instance_type != canary.instance_type
    assert all(v.service.variants == () for v in service.variants)


@pytest.mark.parametrize(("given", "message"), [
    ([{"name": "stable", "weight": 100}], "variants: name at least two"),
    ([{"name": "a", "weight": 90}, {"name": "b", "weight": 20}],
     "variants: the weights sum to 110 (90 + 20); they must sum to 100"),
    ([{"name": "a", "weight": 50}, {"name": "a", "weight": 50}], "variants[1].name: 'a' is also variants[0]'s name"),
])
def test_rules_across_variants(given, message):
    errors = _errors(variants=given)
    assert any(message in e for e in errors), errors


@pytest.mark.parametrize("bad", [
    [{"name": "Canary", "weight": 50}, {"name": "b", "weight": 50}],  # uppercase
    [{"name": "toolongname", "weight": 50}, {"name": "b", "weight": 50}],  # over 8 characters
    [{"name": "a", "weight": 101}, {"name": "b", "weight": 0}],
    [{"name": "a", "weight": 50}, {"name": "b", "weight": 50, "port": 9000}],  # shared: not overridable
    [{"name": f"v{i}", "weight": 100 // 6} for i in range(6)],  # more than five
])
def test_the_schema_refuses(bad):
    assert _errors(variants=bad)


def test_a_message_about_a_variant_field_points_at_it_and_names_the_variant():
    raw = spec_yaml(variants=[{"name": "stable", "weight": 90},
                              {"name": "canary", "weight": 10, "hardware": {"accelerator": "nvidia-a99"}}])
    with pytest.raises(CompileError) as caught:
        compile_text("spec.yaml", raw)
    [found] = [d for d in caught.value.diagnostics if "a99" in d.message]
    assert found.message.startswith("variant canary: hardware.accelerator: unknown accelerator 'nvidia-a99'")
    assert found.path == ("variants", 1, "hardware", "accelerator")
    line = raw.decode().splitlines()[found.loc.line - 1]
    assert "nvidia-a99" in line


def test_a_shared_problem_is_reported_once():
    """A moving image tag in model.image is the spec's warning, not again for each variant that keeps it."""
    spec = _spec(model={"image": "vllm/vllm-openai:latest"}, variants=TWO)
    found = validate.check(spec, ["aws"])
    latest = [d for d in found if "latest" in d.message]
    assert len(latest) == 1 and latest[0].path == ("model", "image")


def test_a_target_model_uri_beside_a_variant_uri_is_an_error():
    errors = _errors(targets={"aws": {"region": "us-east-1", "model_uri": "s3://bucket/m"}},
                     variants=[{"name": "a", "weight": 50}, {"name": "b", "weight": 50, "uri": "s3://bucket/n"}])
    assert any("aws: variants[1].uri would be replaced by targets.aws.model_uri" in e for e in errors), errors


@pytest.mark.parametrize(("target", "settings", "reason"), [
    ("azure", {"location": "eastus"}, "an Application Gateway routing rule and a Standard Load Balancer rule"),
    ("gke", {"project": "my-project1", "region": "us-central1"}, "a Service spreads requests"),
    ("eks", {"region": "us-east-1"}, "a Service spreads requests"),
    ("aks", {"location": "eastus"}, "a Service spreads requests"),
])
def test_targets_that_cannot_split_by_weight_say_why(target, settings, reason):
    errors = _errors(targets={"aws": None, target: settings}, hardware={"accelerator": "none"}, variants=TWO)
    assert any(f"error: {target}: variants are not supported on {target}: {reason}" in e for e in errors), errors


def test_one_canary_spec_splits_exactly_on_every_target_that_can(tmp_path):
    """The issue's case: one spec, 90/10 with different images, on aws, gcp, azureml and kubernetes (with a Gateway),
    each stack carrying the weights as written and each variant's own image (read from the JSON)."""
    data = spec_dict(model={"env": {"MODEL_PATH": "/mnt/models"}, "uri": "hf://Qwen/Qwen2.5-1.5B-Instruct"},
                     hardware={"accelerator": "nvidia-t4", "memory_gib": 16}, variants=TWO,
                     targets={"gcp": {"project": "my-project1", "region": "us-central1"},
                              "kubernetes": {"gateway": "shared", "gateway_namespace": "infra"}})
    data["targets"]["azureml"] = {"location": "eastus",
                                  "model_uri": "azureml://registries/shared/models/qwen-1-5b/versions/1"}
    out = synth_documents(tmp_path, [data])

    def stack(target):
        return json.loads((out / "stacks" / f"svc-{target}" / "cdk.tf.json").read_text())

    images = ("vllm/vllm-openai:v0.6.3", "vllm/vllm-openai:v0.7.0")
    aws = stack("aws")
    [listener] = aws["resource"]["aws_lb_listener"].values()
    groups = listener["default_action"][0]["forward"]["target_group"]
    assert [g["weight"] for g in groups] == [90, 10]
    assert [g["arn"] for g in groups] == ["${aws_lb_target_group.target_group_stable.arn}",
                                         "${aws_lb_target_group.target_group_canary.arn}"]
    gcp = stack("gcp")
    [url_map] = gcp["resource"]["google_compute_url_map"].values()
    weighted = url_map["default_route_action"]["weighted_backend_services"]
    assert [(w["backend_service"], w["weight"]) for w in weighted] == [
        ("${google_compute_backend_service.backend_service_stable.id}", 90),
        ("${google_compute_backend_service.backend_service_canary.id}", 10)]
    templates = gcp["resource"]["google_compute_region_instance_template"]
    for variant, image in zip(("stable", "canary"), images):
        assert image in templates[f"instance_template_{variant}"]["metadata"]["startup-script"]
    azureml = stack("azureml")
    [traffic] = azureml["resource"]["azapi_update_resource"].values()
    assert traffic["body"]["properties"]["traffic"] == {"stable": 90, "canary": 10}
    kubernetes = stack("kubernetes")
    route = kubernetes["resource"]["kubernetes_manifest"]["route"]["manifest"]
    assert [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [
        ("${kubernetes_service_v1.service_stable.metadata[0].name}", 90),
        ("${kubernetes_service_v1.service_canary.metadata[0].name}", 10)]
    deployments = kubernetes["resource"]["kubernetes_deployment_v1"]
    for variant, image in zip(("stable", "canary"), images):
        [container] = deployments[f"deployment_{variant}"]["spec"]["template"]["spec"]["container"]
        assert container["image"] == image


CANARY_ON_OTHER_HARDWARE = [
    {"name": "stable", "weight": 90},
    {"name": "canary", "weight": 10, "image": "vllm/vllm-openai:v0.7.0", "replicas": {"min": 1},
     "hardware": {"accelerator": "nvidia-l4", "count": 4, "flexible": True}}]


def _canary_file(tmp_path) -> str:
    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump(spec_dict(replicas={"min": 1, "max": 2}, variants=CANARY_ON_OTHER_HARDWARE)))
    return str(path)


def test_explain_gives_each_variant_its_instance_type_and_price(tmp_path, capsys):
    from compiler import catalog
    from compiler.cli import main

    assert main(["explain", _canary_file(tmp_path), "--format", "json"]) == 0
    [aws] = json.loads(capsys.readouterr().out)["services"][0]["targets"]
    assert aws["price"] == {"note": "per variant, below"}
    stable, canary = aws["variants"]
    assert (stable["name"], stable["weight"], stable["image"]) == ("stable", 90, "vllm/vllm-openai:v0.6.3")
    assert (canary["name"], canary["weight"], canary["image"]) == ("canary", 10, "vllm/vllm-openai:v0.7.0")
    assert (stable["instance"]["accelerator_count"], canary["instance"]["accelerator_count"]) == (1, 4)
    for variant, replicas in ((stable, (1, 2)), (canary, (1, 1))):
        [row] = [r for r in catalog.lookup("aws", variant["instance"]["instance_type"]) if not r.retired]
        hourly = [round(row.price_usd_hour * n, 2) for n in replicas]
        assert variant["price"]["usd_per_hour"] == hourly
    assert main(["explain", _canary_file(tmp_path), "--format", "markdown"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| aws")]
    assert [r.split(" | ")[0] for r in rows] == ["| aws: stable 90%", "| aws: canary 10%"]


def test_synth_and_validate_summaries_list_each_variant(tmp_path, capsys):
    from compiler import catalog, lower
    from compiler.cli import main

    spec = _spec(replicas={"min": 1, "max": 2}, variants=CANARY_ON_OTHER_HARDWARE)
    service, _ = lower.lower(spec, ["aws"])
    stable, canary = (v.service.target("aws") for v in service.variants)
    assert main(["synth", _canary_file(tmp_path), "--out", str(tmp_path / "out")]) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if "svc-aws" in line]
    assert f"stable: {stable.machine.instance_type}, canary: {canary.machine.instance_type}" in row
    price = {m.instance_type: r.price_usd_hour for m in (stable.machine, canary.machine)
             for r in catalog.lookup("aws", m.instance_type) if not r.retired}
    low = price[stable.machine.instance_type] + price[canary.machine.instance_type]
    high = 2 * price[stable.machine.instance_type] + price[canary.machine.instance_type]
    assert row.endswith(f"${low:,.2f}-${high:,.2f}")
    assert main(["validate", _canary_file(tmp_path)]) == 0
    out = capsys.readouterr().out
    types = ", ".join(m.instance_type for m in canary.machines)
    assert len(canary.machines) >= 2 and f"svc-aws canary (mixed instances policy): {types}" in out

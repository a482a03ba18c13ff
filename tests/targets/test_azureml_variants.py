"""Variants on azureml: one managed online endpoint, a deployment per variant (its own environment version, instance
type, count and autoscale setting), the endpoint's traffic split by the weights exactly; a change of weights changes
the traffic update only; what the target refuses."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from compiler.driver import compile_text
from compiler.errors import CompileError
from compiler.loader import load_text
from compiler.lower import lower
from compiler.parse import parse
from targets.azureml import endpoint
from targets.azureml import limits as azureml_limits
from tests.conftest import synth_documents
from tests.targets.variants import strip

REGISTRY = "azureml://registries/acme-ml/models/chat/versions/{}"
SECRET = "https://acme-kv.vault.azure.net/secrets/hf-token/0123456789abcdef0123456789abcdef"
# stable keeps the spec's sections; canary runs another image and model on another instance type (an A100 instead of
# a T4: Standard_NC24ads_A100_v4 and Standard_NC4as_T4_v3 in compiler/catalog/azureml.csv), with its own replicas,
# autoscaling and a variable of its own.
SPEC = {
    "apiVersion": "infc/v1", "kind": "InferenceService", "metadata": {"name": "chat", "labels": {"team": "ml"}},
    "model": {"name": "chat", "image": "ghcr.io/acme/chat:1", "uri": REGISTRY.format(1), "port": 8000,
              "env": {"WORKERS": "4"}, "secrets": {"HF_TOKEN": {"azureml": SECRET}}},
    "hardware": {"accelerator": "nvidia-t4"},
    "replicas": {"min": 1, "max": 3, "autoscale": {"metric": "requests_per_replica", "target": 4}},
    "load_balancer": {"listeners": [{"port": 443, "protocol": "https"}], "drain_timeout": 0, "idle_timeout": 120},
    "probes": {"readiness": {"path": "/ready", "interval": 20, "timeout": 5, "initial_delay": "5m"}},
    "targets": {"azureml": {"location": "westeurope"}},
    "variants": [
        {"name": "stable", "weight": 90},
        {"name": "canary", "weight": 10, "image": "ghcr.io/acme/chat:2", "uri": REGISTRY.format(2),
         "env": {"WORKERS": "8"}, "hardware": {"accelerator": "nvidia-a100-80gb"},
         "replicas": {"min": 2, "max": 5, "autoscale": {"metric": "cpu_percent", "target": 60}}},
    ],
}
T4, A100 = "Standard_NC4as_T4_v3", "Standard_NC24ads_A100_v4"


def weighted(spec: dict, *weights: int, names: tuple[str, ...] = ()) -> dict:
    doc = copy.deepcopy(spec)
    for variant, weight in zip(doc["variants"], weights):
        variant["weight"] = weight
    for variant, name in zip(doc["variants"], names):
        variant["name"] = name
    return doc


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> dict[str, dict]:
    """One service synthesized several ways, each in its own run (they share metadata.name): 90/10, 50/50, 100/0,
    without variants, and with the stable variant named main. Each synth checks every argument against the committed
    provider schemas (compiler/provider_schemas/azapi-2.13.0.json: azapi_update_resource's body and
    replace_triggers_external_values are dynamic; azurerm-5.10.0.json for the autoscale settings)."""
    one = {k: v for k, v in SPEC.items() if k != "variants"}
    docs = {"90-10": SPEC, "50-50": weighted(SPEC, 50, 50), "100-0": weighted(SPEC, 100, 0), "one": one,
            "main": weighted(SPEC, 90, 10, names=("main", "canary"))}
    out = {}
    for case, doc in docs.items():
        work = tmp_path_factory.mktemp(f"aml-{case}")
        path = synth_documents(work, [doc], "azureml") / "stacks" / "chat-azureml" / "cdk.tf.json"
        out[case] = strip(json.loads(path.read_text()))
    return out


def resources(doc: dict) -> dict[str, dict]:
    return {f"{kind}.{name}": body for kind, named in doc["resource"].items() for name, body in named.items()}


def test_each_variant_is_a_deployment_with_its_instance_type_environment_and_model(stacks):
    res = stacks["90-10"]["resource"]["azapi_resource"]
    stable, canary = res["deployment_stable"], res["deployment_canary"]
    assert (stable["name"], canary["name"]) == ("stable", "canary")
    assert stable["parent_id"] == canary["parent_id"] == "${azapi_resource.online_endpoint.id}"
    assert "deployment" not in res  # no deployment of the one-version spec beside them
    s, c = stable["body"]["properties"], canary["body"]["properties"]
    assert (s["instanceType"], c["instanceType"]) == (T4, A100)
    assert (stable["body"]["sku"]["capacity"], canary["body"]["sku"]["capacity"]) == (1, 2)
    assert (s["environmentId"], c["environmentId"]) == ("${azapi_resource.environment_version_stable.id}",
                                                        "${azapi_resource.environment_version_canary.id}")
    images = {n: res[f"environment_version_{n}"]["body"]["properties"]["image"] for n in ("stable", "canary")}
    assert images == {"stable": "ghcr.io/acme/chat:1", "canary": "ghcr.io/acme/chat:2"}
    # Both versions sit in the one environment of the service.
    assert {res[f"environment_version_{n}"]["parent_id"] for n in images} == {"${azapi_resource.environment.id}"}
    assert (s["model"], c["model"]) == (REGISTRY.format(1), REGISTRY.format(2))
    assert (s["environmentVariables"]["WORKERS"], c["environmentVariables"]["WORKERS"]) == ("4", "8")
    # Shared: probes and request settings (load_balancer.idle_timeout 120 s).
    for field in ("readinessProbe", "livenessProbe", "requestSettings"):
        assert s[field] == c[field], field
    assert s["readinessProbe"]["period"] == "PT20S" and s["requestSettings"] == {"requestTimeout": "PT2M"}
    # The instance type of an existing deployment cannot change: each is replaced on its own.
    assert stable["replace_triggers_refs"] == canary["replace_triggers_refs"] == ["properties.instanceType"]


def test_the_traffic_update_carries_the_weights_exactly_after_every_deployment(stacks):
    traffic = stacks["90-10"]["resource"]["azapi_update_resource"]["traffic"]
    assert traffic["body"] == {"properties": {"traffic": {"stable": 90, "canary": 10}}}
    assert traffic["resource_id"] == "${azapi_resource.online_endpoint.id}"
    assert traffic["depends_on"] == ["azapi_resource.deployment_stable", "azapi_resource.deployment_canary"]
    # Replaced with either deployment when its instance type changes.
    assert traffic["replace_triggers_external_values"]["instance_type"] == {"stable": T4, "canary": A100}
    assert stacks["50-50"]["resource"]["azapi_update_resource"]["traffic"]["body"] == {
        "properties": {"traffic": {"stable": 50, "canary": 50}}}
    # Weight 0 is carried, not dropped: the canary's deployment runs without requests (and may then be removed).
    assert stacks["100-0"]["resource"]["azapi_update_resource"]["traffic"]["body"] == {
        "properties": {"traffic": {"stable": 100, "canary": 0}}}
    assert "deployment_canary" in stacks["100-0"]["resource"]["azapi_resource"]


def test_the_traffic_update_waits_as_long_as_the_longest_deployment(stacks):
    """Replaced with whichever deployment changes, the traffic update gets the longest budget. stable: 1800 + 300 +
    2 x 20 = 2140 s -> 36 min; 3 instances at most, 3 rounds = 6420 s -> 107 min. canary: the same create; 5
    instances, ceil(1.2 x 5) - 5 = 1 at a time, 5 rounds = 10700 s -> 179 min."""
    res = stacks["90-10"]["resource"]
    deployments = res["azapi_resource"]
    assert deployments["deployment_stable"]["timeouts"] == {"create": "36m", "update": "107m"}
    assert deployments["deployment_canary"]["timeouts"] == {"create": "36m", "update": "179m"}
    assert res["azapi_update_resource"]["traffic"]["timeouts"] == {"create": "36m", "update": "179m"}


def test_timeouts_of_several_deployments_are_the_longest_of_each():
    """The probes are shared, so every deployment's create takes as long; the update follows each one's replicas.max,
    whichever order the deployments come in."""
    doc = weighted(SPEC, 90, 10)
    doc["variants"][0]["replicas"] = {"min": 1, "max": 5}  # 5 rounds of one instance
    doc["variants"][1]["replicas"] = {"min": 1, "max": 1}
    doc["probes"]["readiness"]["initial_delay"] = "10m"
    spec, _ = parse(load_text("spec.yaml", yaml.safe_dump(doc).encode())[0])
    service, _ = lower(spec, ["azureml"])
    stable, canary = (v.service for v in service.variants)
    # create: 1800 + 600 + 2 x 20 = 2440 s -> 41 min for both; update: stable 5 rounds = 12200 s -> 204 min, canary 1.
    assert endpoint.timeouts(stable) == {"create": "41m", "update": "204m"}
    assert endpoint.timeouts(canary) == {"create": "41m", "update": "41m"}
    assert endpoint.timeouts(stable, canary) == endpoint.timeouts(canary, stable) == {"create": "41m",
                                                                                      "update": "204m"}


@pytest.mark.parametrize("other", ["50-50", "100-0"])
def test_changing_only_the_weights_changes_only_the_traffic_update(stacks, other):
    before, after = resources(stacks["90-10"]), resources(stacks[other])
    assert before.keys() == after.keys()
    changed = {address for address in before if before[address] != after[address]}
    assert changed == {"azapi_update_resource.traffic"}
    was, now = before["azapi_update_resource.traffic"], after["azapi_update_resource.traffic"]
    assert {k: v for k, v in was.items() if k != "body"} == {k: v for k, v in now.items() if k != "body"}
    assert stacks["90-10"]["output"] == stacks[other]["output"]


def test_each_variant_autoscales_its_own_deployment_on_its_own_requests(stacks):
    settings = stacks["90-10"]["resource"]["azurerm_monitor_autoscale_setting"]
    assert set(settings) == {"autoscale_stable", "autoscale_canary"}
    stable, canary = settings["autoscale_stable"], settings["autoscale_canary"]
    assert (stable["name"], canary["name"]) == ("chat-stable-autoscale", "chat-canary-autoscale")
    assert stable["target_resource_id"] == "${azapi_resource.deployment_stable.id}"
    assert canary["target_resource_id"] == "${azapi_resource.deployment_canary.id}"
    assert stable["profile"][0]["capacity"] == {"minimum": 1, "maximum": 3, "default": 1}
    assert canary["profile"][0]["capacity"] == {"minimum": 2, "maximum": 5, "default": 2}
    # stable on the endpoint's requests per minute of its own deployment; canary on its deployment's CPU.
    trigger = stable["profile"][0]["rule"][0]["metric_trigger"]
    assert (trigger["metric_name"], trigger["metric_resource_id"], trigger["threshold"]) == (
        "RequestsPerMinute", "${azapi_resource.online_endpoint.id}", 240)
    assert trigger["dimensions"] == [{"name": "deployment", "operator": "Equals", "values": ["stable"]}]
    trigger = canary["profile"][0]["rule"][0]["metric_trigger"]
    assert (trigger["metric_name"], trigger["metric_resource_id"], trigger["threshold"]) == (
        "CpuUtilizationPercentage", "${azapi_resource.deployment_canary.id}", 60)
    # Each autoscale setting owns its deployment's count.
    for name in ("stable", "canary"):
        deployment = stacks["90-10"]["resource"]["azapi_resource"][f"deployment_{name}"]
        assert deployment["lifecycle"] == {"ignore_changes": ["body.sku.capacity"]}


def test_the_secret_grant_precedes_every_deployment(stacks):
    """Secrets are shared: the endpoint's identity reads each one once, before any deployment is created."""
    res = stacks["90-10"]["resource"]
    assert list(res["azurerm_role_assignment"]) == ["secret_read_HF_TOKEN"]
    assert res["azurerm_role_assignment"]["secret_read_HF_TOKEN"]["principal_id"] == (
        "${azapi_resource.online_endpoint.identity[0].principal_id}")
    for name in ("stable", "canary"):
        deployment = res["azapi_resource"][f"deployment_{name}"]
        assert deployment["depends_on"] == ["azurerm_role_assignment.secret_read_HF_TOKEN"]
        assert deployment["body"]["properties"]["environmentVariables"]["HF_TOKEN"] == f"$${{{{keyvault:{SECRET}}}}}"


def test_a_variant_named_main_is_the_deployment_of_the_one_version_spec(stacks):
    """Adding variants to a deployed one-version endpoint: the variant main keeps its deployment, environment version
    and autoscale setting exactly (same addresses, same arguments), so only the canary's resources are new."""
    one, main = resources(stacks["one"]), resources(stacks["main"])
    kept = {a for a in one if a != "azapi_update_resource.traffic"}
    assert {a: one[a] for a in kept} == {a: main[a] for a in kept}
    assert set(main) - set(one) == {"azapi_resource.deployment_canary", "azapi_resource.environment_version_canary",
                                    "azurerm_monitor_autoscale_setting.autoscale_canary"}
    assert main["azapi_update_resource.traffic"]["body"] == {"properties": {"traffic": {"main": 90, "canary": 10}}}


def test_variants_with_one_image_get_versions_of_their_own(tmp_path):
    """Two Terraform resources never hold the same environment version (azapi refuses to create one that exists)."""
    doc = copy.deepcopy(SPEC)
    doc["metadata"]["name"] = "same"
    del doc["variants"][1]["image"]
    out = synth_documents(tmp_path, [doc], "azureml")
    res = json.loads((out / "stacks" / "same-azureml" / "cdk.tf.json").read_text())["resource"]["azapi_resource"]
    stable, canary = res["environment_version_stable"], res["environment_version_canary"]
    assert stable["body"] == canary["body"] and stable["name"] != canary["name"]


# --- what azureml refuses or warns about ----------------------------------------------------------------------------

def errors(doc: dict) -> list:
    with pytest.raises(CompileError) as caught:
        compile_text("spec.yaml", yaml.safe_dump(doc, sort_keys=False).encode())
    return [d for d in caught.value.diagnostics if d.severity == "error"]


def test_a_variant_name_too_short_for_a_deployment_is_an_error_at_that_name():
    found = errors(weighted(SPEC, 90, 10, names=("ab", "canary")))
    assert [(d.message, d.path) for d in found] == [(
        "azureml: variants[0].name 'ab' names the variant's online deployment, whose name must be 3-32 letters, "
        f"digits and single dashes, starting with a letter (see {azureml_limits._LIMITS_DOC}); use a name of at "
        "least 3 characters", ("variants", 0, "name"))]


def test_a_three_letter_variant_name_is_a_deployment_name():
    compiled, _ = compile_text("spec.yaml", yaml.safe_dump(weighted(SPEC, 90, 10, names=("abc", "v2x"))).encode())
    assert [v.name for v in compiled[0].service.variants] == ["abc", "v2x"]


def test_variant_args_without_an_image_that_carries_them_is_an_error_at_the_variant():
    doc = copy.deepcopy(SPEC)
    doc["variants"][1]["args"] = ["--max-model-len", "8192"]
    [found] = errors(doc)
    assert found.path == ("variants", 1, "args")
    assert found.message.startswith("azureml: variant canary: model.args is set (--max-model-len 8192), but an Azure "
                                    "ML environment has an image and routes, no command or arguments")


def test_targets_azureml_image_beside_a_variant_image_is_an_error():
    doc = copy.deepcopy(SPEC)
    doc["targets"]["azureml"]["image"] = "ghcr.io/acme/chat-azureml:1"
    [found] = errors(doc)
    assert found.path == ("variants", 1, "image")
    assert "variants[1].image would be replaced by targets.azureml.image" in found.message


def _warnings(doc: dict) -> list[str]:
    _, found = compile_text("spec.yaml", yaml.safe_dump(doc, sort_keys=False).encode())
    return [d.message for d in found if d.severity == "warning" and d.path == ("variants",)]


MERGE = ("azureml: the endpoint's traffic is set by merging these weights into its current ones "
         "(azapi_update_resource), so a variant removed or renamed keeps its last weight and the update fails unless "
         "the weights still sum to 100: set its weight to 0 and apply before removing or renaming it")


def test_the_traffic_merge_is_a_warning_that_says_how_to_remove_and_adopt():
    """azapi_update_resource merges its body into the resource as read (Azure/azapi utils/json.go mergeObjectAtPath:
    keys the new body does not name are kept), so a deployment left out of the map keeps its weight."""
    see = f" (see {azureml_limits._UPDATE_RESOURCE_DOC})"
    assert _warnings(SPEC) == [MERGE + "; an endpoint deployed without variants serves from the deployment 'main' "
                                       "with 100%, so to add variants to it, name one of them main" + see]
    assert _warnings(weighted(SPEC, 90, 10, names=("main", "canary"))) == [MERGE + see]


def test_a_spec_without_variants_has_no_variant_diagnostics():
    one = {k: v for k, v in SPEC.items() if k != "variants"}
    _, found = compile_text("spec.yaml", yaml.safe_dump(one, sort_keys=False).encode())
    assert not [d for d in found if "variant" in d.message]


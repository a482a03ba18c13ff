"""Azure Container Apps backend: the 0..4 example scales to zero on an HTTP scale rule, what aca refuses (each a
located error naming the field), the values read back from the Terraform JSON, the startup-probe arithmetic, and the
example's snapshot."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import tempfile

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from syrupy.extensions.json import JSONSnapshotExtension

from compiler.driver import compile_files
from compiler.errors import CompileError
from compiler.lower import lower
from compiler.spec import Spec
from fuzz.specgen import aca_specs, dump
from targets import aca
from targets.aca import limits as aca_limits
from targets.aca import resources
from tests.conftest import ROOT, examples_naming, spec_dict, synth_documents

EXAMPLE = ROOT / "examples" / "aca-scale-to-zero.yaml"
ACA = {"location": "westus3"}
VERSIONED = "https://acme-kv.vault.azure.net/secrets/api/0123456789abcdef0123456789abcdef"

# A CPU service with everything aca carries set away from its default: a given resource group, Key Vault secrets,
# probes on their own ports, liveness, CPU autoscaling, restricted and sticky ingress, https with the redirect.
VARIANTS = {
    "embed": {
        "apiVersion": "infc/v1", "kind": "InferenceService", "metadata": {"name": "embed"},
        "model": {"name": "bge", "image": "ghcr.io/acme/embed:1", "port": 9000, "command": ["python", "-m", "serve"],
                  "args": ["--workers", "4", "a b;c"], "env": {"LOG": "${x} %{y}"},
                  "secrets": {"HF_TOKEN": {"aca": "https://acme-kv.vault.azure.net/secrets/hf"},
                              "API_KEY": {"aca": VERSIONED}}},
        "hardware": {"accelerator": "none", "cpus": 2, "memory_gib": 6},
        "replicas": {"min": 2, "max": 7, "autoscale": {"metric": "cpu_percent", "target": 65}},
        "load_balancer": {"allowed_cidrs": ["203.0.113.0/24", "198.51.100.7/32"], "stickiness": True,
                          "listeners": [{"port": 443, "protocol": "https"},
                                        {"port": 80, "protocol": "http", "redirect_to": 443}],
                          "idle_timeout": 120, "drain_timeout": 45},
        "probes": {"readiness": {"path": "/ready", "port": 8081, "interval": 20, "timeout": 7, "healthy_threshold": 4,
                                 "unhealthy_threshold": 6, "initial_delay": "15m"},
                   "liveness": {"path": "/live", "port": 8082, "interval": 40, "timeout": 9, "failure_threshold": 7}},
        "targets": {"aca": {"location": "eastus", "resource_group": "ml-shared"}},
    },
}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> pathlib.Path:
    """The example and the variant through the real CLI in one run (the synth checks every attribute against the
    committed provider schemas)."""
    return synth_documents(tmp_path_factory.mktemp("aca"), list(VARIANTS.values()), "aca",
                           files=examples_naming("aca"))


def stack(synthesized: pathlib.Path, name: str) -> dict:
    return json.loads((synthesized / "stacks" / name / "cdk.tf.json").read_text())


def app(doc: dict) -> dict:
    return doc["resource"]["azapi_resource"]["app"]


def diagnostics(doc: dict) -> list[tuple[str, str, tuple]]:
    spec = Spec.model_validate(doc)
    service, found = lower(spec, ["aca"])
    assert service, found
    return [(d.severity, d.message, d.path) for d in aca.check(service, service.target("aca"))]


def errors(doc: dict) -> list[tuple[str, tuple]]:
    return [(message, path) for severity, message, path in diagnostics(doc) if severity == "error"]


# --- the seed's 0..4 endpoint ---------------------------------------------------------------------------------

def test_the_example_scales_from_zero_to_four_on_an_http_rule(synthesized):
    doc = stack(synthesized, "chat-t4-aca")
    body = app(doc)["body"]["properties"]
    # scale-app#http: "Every 15 seconds, the number of concurrent requests is calculated as the number of requests in
    # the past 15 seconds divided by 15": requests per second, so requests_per_replica 2 is concurrentRequests "2".
    assert body["template"]["scale"] == {
        "minReplicas": 0, "maxReplicas": 4, "cooldownPeriod": 1800,
        "rules": [{"name": "requests", "http": {"metadata": {"concurrentRequests": "2"}}}]}
    # The serverless T4 profile beside Consumption, the app pinned to it with the whole profile's vCPUs and memory.
    environment = doc["resource"]["azapi_resource"]["environment"]
    assert environment["type"] == "Microsoft.App/managedEnvironments@2025-01-01"
    assert environment["body"]["properties"]["workloadProfiles"] == [
        {"name": "Consumption", "workloadProfileType": "Consumption"},
        {"name": "gpu-t4", "workloadProfileType": "Consumption-GPU-NC8as-T4"}]
    assert body["workloadProfileName"] == "gpu-t4"
    (container,) = body["template"]["containers"]
    assert container["resources"] == {"cpu": 8, "memory": "56Gi"}
    assert body["environmentId"] == "${azapi_resource.environment.id}"
    # https listener and the 80 -> 443 redirect: Container Apps' default, allowInsecure false.
    assert body["configuration"]["ingress"]["allowInsecure"] is False
    assert body["configuration"]["ingress"]["external"] is True
    assert body["configuration"]["ingress"]["targetPort"] == 8000
    assert doc["output"]["endpoint"]["value"] == 'https://${azapi_resource.app.output["fqdn"]}'
    assert app(doc)["response_export_values"] == {"fqdn": "properties.configuration.ingress.fqdn"}


def test_scale_to_zero_states_the_cold_start():
    doc = yaml.safe_load(EXAMPLE.read_text())
    (warning,) = [m for s, m, p in diagnostics(doc) if p == ("replicas", "min")]
    assert warning == (
        "aca: replicas.min is 0: the app runs no replica once no request has come for scale_to_zero_after (1800s, the "
        "scale rule's cooldown period), and the next request triggers a cold start (the image pulled, a replica "
        "started, the model loaded: minutes for a GPU model) and waits for it; Container Apps ends a request after "
        "240s, so a first request whose cold start takes longer fails and the client must retry (see "
        "https://learn.microsoft.com/en-us/azure/container-apps/cold-start and "
        "https://learn.microsoft.com/en-us/azure/container-apps/ingress-overview)")


def test_without_autoscale_the_app_stays_at_min():
    """Without a rule Container Apps would apply its default HTTP rule (scale-app#default-scale-rule), so replicas
    without autoscale are fixed at min: no rule and maxReplicas = minReplicas."""
    doc = spec_dict(hardware={"accelerator": "none"}, replicas={"min": 2, "max": 5}, targets={"aca": ACA})
    service, _ = lower(Spec.model_validate(doc), ["aca"])
    assert resources.scale(service) == {"minReplicas": 2, "maxReplicas": 2}


# --- refusals: each an error at the field, naming what Container Apps offers ---------------------------------------

T4 = {"accelerator": "nvidia-t4"}
ZERO = {"min": 0, "max": 4, "autoscale": {"metric": "requests_per_replica", "target": 2}}
REFUSED = [
    ("cpu rule from zero", {"replicas": {**ZERO, "autoscale": {"metric": "cpu_percent", "target": 50}}},
     ("replicas", "min"), "cannot start one from zero: only an HTTP scale rule does"),
    ("fractional requests", {"replicas": {**ZERO, "autoscale": {"metric": "requests_per_replica", "target": 2.5}}},
     ("replicas", "autoscale", "target"), "takes whole requests per second per replica (concurrentRequests"),
    ("cpu over 100", {"replicas": {"min": 1, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 150}}},
     ("replicas", "autoscale", "target"), "a whole percent of the replica's CPU, 1-100"),
    ("scale-in delay", {"replicas": {**ZERO, "autoscale": {**ZERO["autoscale"], "scale_in_delay": "10m"}}},
     ("replicas", "autoscale", "scale_in_delay"), "fixed 300s stabilization window"),
    ("spot", {"hardware": {**T4, "spot": True}}, ("hardware", "spot"), "no spot capacity"),
    ("l4", {"hardware": {"accelerator": "nvidia-l4"}}, ("hardware", "accelerator"),
     "serverless GPUs are nvidia-t4, nvidia-a100-80gb"),
    ("two gpus", {"hardware": {**T4, "count": 2}}, ("hardware", "count"), "exactly one GPU"),
    ("cpus over the profile", {"hardware": {**T4, "cpus": 16}}, ("hardware", "cpus"), "at most 8 vCPUs"),
    ("memory over consumption", {"hardware": {"accelerator": "none", "memory_gib": 10}}, ("hardware", "memory_gib"),
     "Consumption workload profile has at most 8 GiB"),
    ("arm64", {"hardware": {"accelerator": "none", "arch": "arm64"}}, ("hardware", "arch"), "linux/amd64 images only"),
    ("flexible", {"hardware": {**T4, "flexible": True}}, ("hardware", "flexible"), "one workload profile"),
    ("model uri", {"model": {"name": "m", "image": "vllm/vllm-openai:v0.6.3", "uri": "hf://Qwen/Qwen2.5-1.5B",
                             "args": ["--model", "/mnt/models"]}},
     ("model", "uri"), "infc does not deliver model files on aca"),
    ("kubelet expansion", {"model": {"name": "m", "image": "vllm/vllm-openai:v0.6.3", "args": ["--dir", "$(HOME)"]}},
     ("model", "args"), "which Container Apps may expand"),
    ("private", {"load_balancer": {"public": False}}, ("load_balancer", "public"), "virtual network"),
    ("ipv6", {"load_balancer": {"allowed_cidrs": ["2001:db8::/48"]}}, ("load_balancer", "allowed_cidrs"),
     "IP restrictions take IPv4 ranges"),
    ("port 8080", {"load_balancer": {"listeners": [{"port": 8080, "protocol": "http"}]}},
     ("load_balancer", "listeners", 0), "HTTP on 80 and HTTPS on 443 only"),
    ("redirect 8080", {"load_balancer": {"listeners": [{"port": 443, "protocol": "https"},
                                                       {"port": 8080, "protocol": "http", "redirect_to": 443}]}},
     ("load_balancer", "listeners", 1), "redirects only HTTP on 80 to HTTPS on 443"),
    ("idle timeout", {"load_balancer": {"idle_timeout": "5m"}}, ("load_balancer", "idle_timeout"), "1-240s"),
    ("success codes", {"probes": {"readiness": {"success_codes": "404"}}}, ("probes", "readiness", "success_codes"),
     "exactly the codes 200-399"),
    ("long start", {"probes": {"readiness": {"initial_delay": 2161}}}, ("probes", "readiness", "initial_delay"),
     "must be 0-2160s"),
    ("one-letter name", {"metadata": {"name": "a"}}, ("metadata", "name"), "must be 2-32 lowercase letters"),
    ("double dash", {"metadata": {"name": "a--b"}}, ("metadata", "name"), "single dashes"),
    ("variants", {"variants": [{"name": "stable", "weight": 90}, {"name": "canary", "weight": 10}]}, ("variants",),
     "variants are not supported on aca: a container app's template describes one revision"),
    ("secret names collide", {"model": {"name": "m", "image": "vllm/vllm-openai:v0.6.3", "secrets": {
        "HF_TOKEN": {"aca": "https://acme-kv.vault.azure.net/secrets/a"},
        "hf_token": {"aca": "https://acme-kv.vault.azure.net/secrets/b"}}}},
     ("model", "secrets", "hf_token"), "both become the container app secret 'env-hf-token'"),
]


@pytest.mark.parametrize("case, overrides, path, fragment", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused(case, overrides, path, fragment):
    doc = spec_dict(**{"hardware": T4, "replicas": ZERO, "targets": {"aca": ACA}, **overrides})
    found = errors(doc)
    assert [p for _, p in found] == [path], found
    ((message, _),) = found
    assert message.startswith("aca: ") and fragment in message, message


def test_the_example_has_no_error_and_the_defaults_pass():
    assert errors(yaml.safe_load(EXAMPLE.read_text())) == []
    assert errors(spec_dict(hardware=T4, targets={"aca": ACA})) == []


def test_refusals_are_located_in_the_file(tmp_path):
    """Through the driver: the error points at the line of the field."""
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["hardware"]["spot"] = True
    file = tmp_path / "spec.yaml"
    file.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(CompileError) as caught:
        compile_files([str(file)])
    (found,) = [d for d in caught.value.diagnostics if d.severity == "error"]
    assert found.path == ("hardware", "spot")
    assert file.read_text().splitlines()[found.loc.line - 1].strip().startswith("spot:")


# --- values of the CPU variant -----------------------------------------------------------------------------------

def test_cpu_service_values(synthesized):
    doc = stack(synthesized, "embed-aca")
    spec = VARIANTS["embed"]
    body = app(doc)["body"]["properties"]
    (container,) = body["template"]["containers"]
    # Consumption takes vCPUs and memory 1:2: 2 vCPUs and 6 GiB asked -> 3 vCPUs, 6 GiB.
    assert body["workloadProfileName"] == "Consumption" and container["resources"] == {"cpu": 3, "memory": "6Gi"}
    assert container["command"] == spec["model"]["command"] and container["args"] == spec["model"]["args"]
    assert container["env"] == [
        {"name": "MODEL_NAME", "value": "bge"},
        {"name": "LOG", "value": "$${x} %%{y}"},  # Terraform's escapes of the literal text
        {"name": "API_KEY", "secretRef": "env-api-key"}, {"name": "HF_TOKEN", "secretRef": "env-hf-token"}]
    identity = "${azurerm_user_assigned_identity.identity.id}"
    assert body["configuration"]["secrets"] == [
        {"name": "env-api-key", "keyVaultUrl": VERSIONED,
         "identity": identity},
        {"name": "env-hf-token", "keyVaultUrl": "https://acme-kv.vault.azure.net/secrets/hf", "identity": identity}]
    assert app(doc)["identity"] == [{"type": "UserAssigned", "identity_ids": [identity]}]
    grants = doc["resource"]["azurerm_role_assignment"]
    assert sorted(grants) == ["secret_read_API_KEY", "secret_read_HF_TOKEN"]
    assert {g["role_definition_name"] for g in grants.values()} == {"Key Vault Secrets User"}
    assert sorted(app(doc)["depends_on"]) == [f"azurerm_role_assignment.{g}" for g in sorted(grants)]
    ready, live = spec["probes"]["readiness"], spec["probes"]["liveness"]
    # initial_delay 900 s: a period of ceil(900 / 9) = 100 s (more than the 20 s interval), 10 failures.
    assert container["probes"] == [
        {"type": "Startup", "httpGet": {"path": "/ready", "port": 8081}, "initialDelaySeconds": 1,
         "periodSeconds": 100, "timeoutSeconds": 7, "successThreshold": 1, "failureThreshold": 10},
        {"type": "Readiness", "httpGet": {"path": "/ready", "port": 8081}, "periodSeconds": ready["interval"],
         "timeoutSeconds": ready["timeout"], "successThreshold": 4, "failureThreshold": 6},
        {"type": "Liveness", "httpGet": {"path": "/live", "port": 8082}, "periodSeconds": live["interval"],
         "timeoutSeconds": live["timeout"], "successThreshold": 1, "failureThreshold": 7}]
    ingress = body["configuration"]["ingress"]
    assert ingress["ipSecurityRestrictions"] == [
        {"name": "allowed-0", "ipAddressRange": "203.0.113.0/24", "action": "Allow"},
        {"name": "allowed-1", "ipAddressRange": "198.51.100.7/32", "action": "Allow"}]
    assert ingress["stickySessions"] == {"affinity": "sticky"} and ingress["allowInsecure"] is False
    assert ingress["targetPort"] == 9000
    assert body["template"]["terminationGracePeriodSeconds"] == 45
    # KEDA's cpu scaler as a custom rule; no cooldownPeriod above zero.
    assert body["template"]["scale"] == {
        "minReplicas": 2, "maxReplicas": 7,
        "rules": [{"name": "cpu", "custom": {"type": "cpu", "metadata": {"type": "Utilization", "value": "65"}}}]}
    assert app(doc)["parent_id"] == ("/subscriptions/${data.azurerm_client_config.client.subscription_id}/"
                                     "resourceGroups/ml-shared")
    assert "azurerm_resource_group" not in doc["resource"]
    assert app(doc)["timeouts"] == {"create": "45m", "update": "45m"}  # 30 min + the 15 min start


# Every body property infc emits, read in Azure/azapi internal/azure/generated/app_0/microsoft.app/2025-01-01/
# types.json (the Microsoft.App 2025-01-01 REST API, which azapi checks bodies against at plan time); `*` is a map
# of strings (CustomScaleRuleMetadata, HttpScaleRuleMetadata).
VERIFIED = {
    "containerApps": {
        "properties", "properties.environmentId", "properties.workloadProfileName", "properties.configuration",
        "properties.configuration.activeRevisionsMode", "properties.configuration.ingress",
        "properties.configuration.ingress.external", "properties.configuration.ingress.targetPort",
        "properties.configuration.ingress.transport", "properties.configuration.ingress.allowInsecure",
        "properties.configuration.ingress.traffic", "properties.configuration.ingress.traffic[].latestRevision",
        "properties.configuration.ingress.traffic[].weight", "properties.configuration.ingress.ipSecurityRestrictions",
        "properties.configuration.ingress.ipSecurityRestrictions[].name",
        "properties.configuration.ingress.ipSecurityRestrictions[].ipAddressRange",
        "properties.configuration.ingress.ipSecurityRestrictions[].action",
        "properties.configuration.ingress.stickySessions", "properties.configuration.ingress.stickySessions.affinity",
        "properties.configuration.secrets", "properties.configuration.secrets[].name",
        "properties.configuration.secrets[].keyVaultUrl", "properties.configuration.secrets[].identity",
        "properties.template", "properties.template.terminationGracePeriodSeconds", "properties.template.containers",
        "properties.template.containers[].name", "properties.template.containers[].image",
        "properties.template.containers[].command", "properties.template.containers[].args",
        "properties.template.containers[].env", "properties.template.containers[].env[].name",
        "properties.template.containers[].env[].value", "properties.template.containers[].env[].secretRef",
        "properties.template.containers[].resources", "properties.template.containers[].resources.cpu",
        "properties.template.containers[].resources.memory", "properties.template.containers[].probes",
        "properties.template.containers[].probes[].type", "properties.template.containers[].probes[].httpGet",
        "properties.template.containers[].probes[].httpGet.path",
        "properties.template.containers[].probes[].httpGet.port",
        "properties.template.containers[].probes[].initialDelaySeconds",
        "properties.template.containers[].probes[].periodSeconds",
        "properties.template.containers[].probes[].timeoutSeconds",
        "properties.template.containers[].probes[].successThreshold",
        "properties.template.containers[].probes[].failureThreshold",
        "properties.template.scale", "properties.template.scale.minReplicas", "properties.template.scale.maxReplicas",
        "properties.template.scale.cooldownPeriod", "properties.template.scale.rules",
        "properties.template.scale.rules[].name", "properties.template.scale.rules[].http",
        "properties.template.scale.rules[].http.metadata", "properties.template.scale.rules[].http.metadata.*",
        "properties.template.scale.rules[].custom", "properties.template.scale.rules[].custom.type",
        "properties.template.scale.rules[].custom.metadata", "properties.template.scale.rules[].custom.metadata.*"},
    "managedEnvironments": {"properties", "properties.workloadProfiles", "properties.workloadProfiles[].name",
                            "properties.workloadProfiles[].workloadProfileType"},
}


def _paths(value, prefix: str = "") -> set[str]:
    out = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{prefix}.{key}" if prefix else key
            mapped = prefix.endswith(".metadata")
            out.add(f"{prefix}.*" if mapped else path)
            out |= set() if mapped else _paths(inner, path)
    elif isinstance(value, list):
        for inner in value:
            out |= _paths(inner, f"{prefix}[]")
    return out


@pytest.mark.parametrize("name", ["chat-t4-aca", "embed-aca"])
def test_every_body_property_is_in_the_api(synthesized, name):
    for resource in stack(synthesized, name)["resource"]["azapi_resource"].values():
        kind = resource["type"].split("/")[1].split("@")[0]
        assert resource["type"].endswith(f"@{resources.API}")
        assert _paths(resource["body"]) <= VERIFIED[kind], _paths(resource["body"]) - VERIFIED[kind]


# --- the startup probe ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("interval", [2, 5, 15, 60, 240])
def test_startup_probe_covers_initial_delay_within_the_api_ranges(interval):
    """For every delay the limits table accepts: the failures span at least the delay ((F - 1) x P >= delay), with
    period 1-240 s and 1-10 failures (ContainerAppProbe), and the period is the readiness interval wherever 10
    probes of it cover the delay."""
    doc = spec_dict(hardware=T4, targets={"aca": ACA},
                    probes={"readiness": {"interval": interval, "timeout": 1}})
    service, _ = lower(Spec.model_validate(doc), ["aca"])
    for delay in range(1, aca_limits.MAX_INITIAL_DELAY + 1):
        probe = resources.startup_probe(dataclasses.replace(service, initial_delay_s=delay))
        period, failures = probe["periodSeconds"], probe["failureThreshold"]
        assert 1 <= period <= 240 and 1 <= failures <= 10, (delay, probe)
        assert (failures - 1) * period >= delay, (delay, probe)
        if delay <= 9 * interval:
            assert period == interval, (delay, probe)


def test_no_startup_probe_without_initial_delay():
    doc = spec_dict(hardware=T4, targets={"aca": ACA}, probes={"readiness": {"initial_delay": 0}})
    service, _ = lower(Spec.model_validate(doc), ["aca"])
    assert [p["type"] for p in resources.probes(service)] == ["Readiness"]


def test_snapshot(synthesized, snapshot):
    assert stack(synthesized, "chat-t4-aca") == snapshot(extension_class=JSONSnapshotExtension)


# --- generated specs (fuzz/specgen.py aca_specs: the whole range aca accepts) ---------------------------------------

@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(aca_specs())
def test_generated_specs_compile_for_aca(doc):
    """Every value in aca's accepted range compiles without an error; the scale section is the spec's replicas."""
    with tempfile.TemporaryDirectory(prefix="infc-aca-") as work:
        file = pathlib.Path(work) / "spec.yaml"
        file.write_bytes(dump(doc))
        try:
            (compiled,), _ = compile_files([str(file)])
        except CompileError as exc:
            raise AssertionError("\n".join(d.render() for d in exc.diagnostics) + "\n" + dump(doc).decode()) from None
    scale = resources.scale(compiled.service)
    assert (scale["minReplicas"], scale["maxReplicas"]) == (doc["replicas"]["min"], doc["replicas"]["max"])
    assert ("cooldownPeriod" in scale) == (doc["replicas"]["min"] == 0)
    for probe in resources.probes(compiled.service):
        assert 1 <= probe["periodSeconds"] <= 240 and 1 <= probe["failureThreshold"] <= 10, probe


@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(aca_specs())
def test_generated_specs_synthesize(doc):
    """Through the CDK: every attribute passes the committed provider schemas (a failure exits 3), and every body
    property is one verified in the Microsoft.App API."""
    from compiler.cli import main

    with tempfile.TemporaryDirectory(prefix="infc-aca-") as tmp:
        work = pathlib.Path(tmp)
        (work / "spec.yaml").write_bytes(dump(doc))
        assert main(["synth", str(work / "spec.yaml"), "--out", str(work / "out")]) == 0
        name = doc["metadata"]["name"]
        stack_doc = json.loads((work / "out" / "stacks" / f"{name}-aca" / "cdk.tf.json").read_text())
    for resource in stack_doc["resource"]["azapi_resource"].values():
        kind = resource["type"].split("/")[1].split("@")[0]
        assert _paths(resource["body"]) <= VERIFIED[kind], _paths(resource["body"]) - VERIFIED[kind]


def test_shared_variant_values(variant_stacks):
    """tests/targets/variants.py v-aca: every number set away from its default reaches the app as written."""
    from tests.targets.variants import LIVE, READY, VARIANTS, seconds

    doc, spec = variant_stacks("v-aca", "aca"), VARIANTS["v-aca"]
    body = app(doc)["body"]["properties"]
    (container,) = body["template"]["containers"]
    startup, ready, live = container["probes"]
    delay = seconds(READY["initial_delay"])
    assert (startup["type"], startup["httpGet"]) == ("Startup", {"path": READY["path"], "port": READY["port"]})
    assert (startup["failureThreshold"] - 1) * startup["periodSeconds"] >= delay
    assert (ready["periodSeconds"], ready["timeoutSeconds"], ready["successThreshold"], ready["failureThreshold"]) \
        == (READY["interval"], READY["timeout"], READY["healthy_threshold"], READY["unhealthy_threshold"])
    assert (live["httpGet"], live["periodSeconds"], live["timeoutSeconds"], live["failureThreshold"]) \
        == ({"path": LIVE["path"], "port": LIVE["port"]}, LIVE["interval"], LIVE["timeout"], LIVE["failure_threshold"])
    auto = spec["replicas"]["autoscale"]
    assert body["template"]["scale"] == {
        "minReplicas": 0, "maxReplicas": spec["replicas"]["max"],
        "cooldownPeriod": seconds(auto["scale_to_zero_after"]),
        "rules": [{"name": "requests", "http": {"metadata": {"concurrentRequests": str(auto["target"])}}}]}
    assert body["workloadProfileName"] == "gpu-a100" and container["resources"] == {"cpu": 24, "memory": "220Gi"}
    assert body["template"]["terminationGracePeriodSeconds"] == spec["load_balancer"]["drain_timeout"]
    assert body["configuration"]["ingress"]["ipSecurityRestrictions"] == [
        {"name": "allowed-0", "ipAddressRange": "203.0.113.0/24", "action": "Allow"}]
    assert body["configuration"]["ingress"]["targetPort"] == spec["model"]["port"]


@pytest.mark.parametrize("cidrs, rules", [
    (["0.0.0.0/0"], None), (["0.0.0.0/0", "::/0"], None), (["0.0.0.0/0", "2001:db8::/48"], None),
    (["10.0.0.0/8", "198.51.100.7/32"], ["10.0.0.0/8", "198.51.100.7/32"]),
])
def test_allowed_cidrs_become_allow_rules_unless_open_to_all(cidrs, rules):
    doc = spec_dict(hardware=T4, targets={"aca": ACA}, load_balancer={"allowed_cidrs": cidrs})
    assert errors(doc) == []
    service, _ = lower(Spec.model_validate(doc), ["aca"])
    found = resources.ingress(service).get("ipSecurityRestrictions")
    assert (found and [r["ipAddressRange"] for r in found]) == rules
    assert found is None or {r["action"] for r in found} == {"Allow"}


def test_ipv6_ranges_without_every_ipv4_client_are_refused():
    doc = spec_dict(hardware=T4, targets={"aca": ACA}, load_balancer={"allowed_cidrs": ["10.0.0.0/8", "::/0"]})
    ((message, path),) = errors(doc)
    assert path == ("load_balancer", "allowed_cidrs") and "has IPv6 ranges (::/0)" in message

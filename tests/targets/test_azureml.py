"""Azure ML backend: limits as a table (value -> accepted or the exact error), warnings, catalog, emitted semantics,
snapshots."""

from __future__ import annotations

import copy
import csv
import json
import pathlib
import subprocess
import sys

import pytest
import yaml
from syrupy.extensions.json import JSONSnapshotExtension

from compiler import catalog
from compiler.cli import main
from compiler.driver import compile_files
from compiler.errors import CompileError
from compiler.lower import lower
from compiler.spec import Spec
from targets import azureml, delivery
from targets.azureml import endpoint
from targets.azureml import limits as azureml_limits
from tests.conftest import ROOT, examples_naming, spec_dict, synth_documents


def _errors(path: pathlib.Path) -> list[str]:
    try:
        compile_files([str(path)], ["azureml"])
    except CompileError as exc:
        return [d.message for d in exc.diagnostics if d.severity == "error"]
    return []


LLAMA = yaml.safe_load((ROOT / "examples" / "llama-70b-a100.yaml").read_text())
MISTRAL = yaml.safe_load((ROOT / "examples" / "mistral-l4-spot.yaml").read_text())


# Besides the example naming azureml (8x A100, an image override, autoscaling on requests), variants cover a CPU
# service in a given resource group with liveness, CPU autoscaling and no labels, and fixed replicas.
VARIANTS = {
    "embed": {
        "apiVersion": "infc/v1", "kind": "InferenceService", "metadata": {"name": "embed"},
        "model": {"name": "bge", "image": "ghcr.io/acme/embed:1", "port": 9000, "env": {"WORKERS": "4"}},
        "hardware": {"accelerator": "none", "cpus": 8},
        "replicas": {"min": 2, "max": 6, "autoscale": {"metric": "cpu_percent", "target": 70}},
        "load_balancer": {"listeners": [{"port": 443, "protocol": "https"}], "drain_timeout": 0},
        "probes": {"readiness": {"path": "/ready", "port": 9001, "interval": 10, "timeout": 2, "healthy_threshold": 1,
                                 "unhealthy_threshold": 5, "initial_delay": "90s"},
                   "liveness": {"path": "/live", "interval": 20, "timeout": 3, "failure_threshold": 4}},
        "targets": {"azureml": {"location": "westeurope", "resource_group": "ml-shared"}},
    },
    "fixed-t4": {
        "apiVersion": "infc/v1", "kind": "InferenceService", "metadata": {"name": "fixed-t4", "labels": {"team": "cv"}},
        "model": {"name": "m", "image": "nvcr.io/nvidia/tritonserver:24.08-py3", "port": 8000},
        "hardware": {"accelerator": "nvidia-t4", "count": 4},
        "replicas": {"min": 3},
        "load_balancer": {"drain_timeout": 0},
        "targets": {"azureml": {"location": "eastus"}},
    },
}
STACKS = sorted([*(f"{name}-azureml" for name in VARIANTS), "llama70b-azureml"])


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> pathlib.Path:
    """The examples naming azureml and the variants through the real CLI in one run."""
    return synth_documents(tmp_path_factory.mktemp("azureml"), list(VARIANTS.values()), "azureml",
                           files=examples_naming("azureml"))


def stack(synthesized: pathlib.Path, name: str) -> dict:
    return json.loads((synthesized / "stacks" / name / "cdk.tf.json").read_text())


def azapi(doc: dict, name: str) -> dict:
    return doc["resource"]["azapi_resource"][name]


def one(doc: dict, kind: str) -> dict:
    (resource,) = doc["resource"][kind].values()
    return resource


# --- limits: the same IR gives the expected error or none -------------------------------------------------------

BASE = {"hardware": {"accelerator": "nvidia-t4"}, "targets": {"azureml": {"location": "eastus"}}}


def diagnostics(severity: str, **overrides) -> list[str]:
    merged = copy.deepcopy(BASE)
    for key, value in overrides.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    spec = Spec.model_validate(spec_dict(**merged))
    service, diags = lower(spec, ["azureml"])
    assert not [d for d in diags if d.severity == "error"], diags
    return [d.message for d in azureml.check(service, service.target("azureml")) if d.severity == severity]


def readiness(**values) -> dict:
    return {"readiness": {"interval": 30, "timeout": 5, **values}}


def autoscale(**values) -> dict:
    return {"min": 1, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 50, **values}}


COOLDOWN = ("azureml: replicas.autoscale.{} is {}s; an Azure autoscale cooldown must be 60-604800s "
            f"(see {azureml_limits._AUTOSCALE_DOC})")
NAME = ("azureml: metadata.name '{}' names the online endpoint, whose name must be 3-32 letters, digits and single "
        f"dashes, starting with a letter (see {azureml_limits._LIMITS_DOC})")
LIMIT_CASES = [
    # (spec overrides, expected error or None)
    ({}, None),
    ({"replicas": {"min": 0, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 50}}},
     f"azureml: replicas.min: 0 is not supported: {azureml.SCALE_TO_ZERO}; use min: 1, or the aws or aca "
     "target, which scale to zero"),
    ({"replicas": autoscale(scale_out_delay="60s", scale_in_delay="168h")}, None),
    ({"replicas": autoscale(scale_out_delay="30s")}, COOLDOWN.format("scale_out_delay", 30)),
    ({"replicas": autoscale(scale_in_delay="169h")}, COOLDOWN.format("scale_in_delay", 608400)),
    ({"metadata": {"name": "abc"}}, None),
    ({"metadata": {"name": "ab"}}, NAME.format("ab")),
    ({"metadata": {"name": "chat--v2"}}, NAME.format("chat--v2")),
    ({"hardware": {"accelerator": "none", "instance_types": {"azureml": "Standard_DS3_v2"}}}, None),
    ({"hardware": {"accelerator": "none", "instance_types": {"azureml": "Standard_D4s_v5"}}},
     "azureml: hardware.instance_types.azureml is 'Standard_D4s_v5', which is not in the managed online endpoints "
     "SKU list; did you mean 'standard_d4as_v4' or 'standard_d64as_v4' or 'standard_d48as_v4'? "
     f"(see {azureml_limits._SKU_DOC})"),
    ({"hardware": {"accelerator": "nvidia-t4", "spot": True}},
     "azureml: hardware.spot is true, but managed online deployments run on dedicated capacity only: remove spot, or "
     "serve spot replicas from another target"),
    ({"model": {"name": "m", "image": "i", "args": ["--port", "8000"]}},
     "azureml: model.args is set (--port 8000), but an Azure ML environment has an image and routes, no command or "
     "arguments, so the container would start with its image's own entrypoint and CMD "
     f"(see {azureml_limits._ENVIRONMENT_REST}); build an image whose ENTRYPOINT and CMD carry them and set it as "
     "targets.azureml.image"),
    ({"model": {"name": "m", "image": "i", "command": ["vllm", "serve"]}},
     "azureml: model.command is set (vllm serve), but an Azure ML environment has an image and routes, no command or "
     "arguments, so the container would start with its image's own entrypoint and CMD "
     f"(see {azureml_limits._ENVIRONMENT_REST}); build an image whose ENTRYPOINT and CMD carry them and set it as "
     "targets.azureml.image"),
    ({"model": {"name": "m", "image": "i", "uri": "gs://bucket/m/"}},
     "azureml: model.uri is a Cloud Storage bucket; a managed online deployment mounts Azure ML registered models "
     "only: register the files in a registry (az ml model create --registry-name ...) and set "
     "targets.azureml.model_uri to azureml://registries/<registry>/models/<name>/versions/<version> "
     f"(see {delivery._REGISTRY_DOC})"),
    ({"probes": readiness(initial_delay=1, timeout=1)}, None),
    ({"probes": readiness(initial_delay=0)},
     "azureml: probes.readiness.initial_delay is 0s; a managed online deployment probe's initial_delay must be at "
     f"least 1s (see {azureml_limits._PROBE_DOC})"),
    ({"probes": readiness(timeout=0)},
     "azureml: probes.readiness.timeout is 0s; a managed online deployment probe's timeout must be at least 1s "
     f"(see {azureml_limits._PROBE_DOC})"),
    ({"probes": {"liveness": {"path": "/live", "timeout": 0}}},
     "azureml: probes.liveness.timeout is 0s; a managed online deployment probe's timeout must be at least 1s "
     f"(see {azureml_limits._PROBE_DOC})"),
    ({"probes": readiness(path="/")},
     "azureml: probes.readiness.path is '/'; an Azure ML inference route's path must contain a letter, digit or '_' "
     f"(pattern [a-zA-Z0-9_], see {azureml_limits._ROUTE_REST})"),
    ({"load_balancer": {"public": False}},
     "azureml: load_balancer.public is false; a private managed online endpoint (public_network_access: disabled) is "
     "reachable only through a private endpoint of the workspace, which infc does not emit; use public: true"),
    ({"load_balancer": {"allowed_cidrs": ["0.0.0.0/0", "::/0"]}}, None),
    ({"load_balancer": {"allowed_cidrs": ["10.0.0.0/8"]}},
     "azureml: load_balancer.allowed_cidrs is 10.0.0.0/8; a managed online endpoint has no client address filter, "
     f"only public network access on or off (see {azureml_limits._ENDPOINT_REST}); use [0.0.0.0/0]"),
    ({"load_balancer": {"stickiness": True}},
     "azureml: load_balancer.stickiness is true, but a managed online endpoint has no session affinity between "
     "clients and instances; remove stickiness"),
    ({"replicas": {"min": 1, "max": 60, "autoscale": {"metric": "requests_per_replica", "target": 2}}}, None),
    # The scoring route: what azapi's embedded type of Route.path accepts at plan time (pattern [a-zA-Z0-9_]).
    ({"targets": {"azureml": {"location": "eastus", "scoring_route": "/score"}}}, None),
    ({"targets": {"azureml": {"location": "eastus", "scoring_route": "/_"}}}, None),
    ({"targets": {"azureml": {"location": "eastus", "scoring_route": "/"}}},
     "azureml: targets.azureml.scoring_route is '/'; an Azure ML inference route's path must contain a letter, digit "
     f"or '_' (pattern [a-zA-Z0-9_], see {azureml_limits._ROUTE_REST})"),
    ({"load_balancer": {"idle_timeout": 1}}, None),
    ({"load_balancer": {"idle_timeout": 0}},
     "azureml: load_balancer.idle_timeout is 0s; it is the managed online endpoint's request timeout "
     "(request_settings.request_timeout_ms), which must be at least 1s "
     f"(see {azureml_limits._REQUEST_DOC})"),
]


@pytest.mark.parametrize("overrides, expected", LIMIT_CASES)
def test_limits(overrides, expected):
    assert diagnostics("error", **overrides) == ([expected] if expected else [])


CONCURRENCY = ("azureml: a managed online deployment admits 1 concurrent request per instance by default "
               "(request_settings.max_concurrent_requests_per_instance) and the spec has no setting for it: requests "
               f"beyond it wait or get HTTP 429 (see {azureml_limits._REQUEST_DOC})")
DISK = ("azureml: hardware.disk_gib ({}GiB) has no setting on a managed online deployment: the disk comes with the VM "
        f"size (see {azureml_limits._DEPLOYMENT_DOC})")
DRAIN = ("azureml: load_balancer.drain_timeout ({}s) has no setting on a managed online deployment, which removes "
         f"instances on its own terms (see {azureml_limits._DEPLOYMENT_DOC})")


REGISTRY_MODEL = "azureml://registries/acme-ml/models/m/versions/1"


def test_values_a_managed_endpoint_has_no_place_for_are_warnings():
    # https 443, idle timeout within the request timeout, no draining: what remains is always true on Azure ML
    assert diagnostics("warning", load_balancer={"drain_timeout": 0, "idle_timeout": "3m",
                                                 "listeners": [{"port": 443, "protocol": "https"}]}) == [
        DISK.format(100), CONCURRENCY]
    lb = {"idle_timeout": "5m", "drain_timeout": "45s",
          "listeners": [{"port": 8443, "protocol": "https"}, {"port": 80, "protocol": "http", "redirect_to": 8443}]}
    assert diagnostics("warning", load_balancer=lb, probes=readiness(success_codes="200-299"),
                       replicas={"min": 1, "max": 51, "autoscale": {"metric": "cpu_percent", "target": 50}},
                       model={"name": "m", "image": "i", "uri": REGISTRY_MODEL}) == [
        DISK.format(100),
        "azureml: Azure ML mounts the registered model at /mnt/models in its own layout (the model's files may sit in "
        "a folder named after the path it was registered from); check the layout once in the deployment's logs and "
        f"point targets.azureml.image's arguments there (see {azureml_limits._MOUNT_DOC})",
        "azureml: probes.readiness.success_codes (200-299) has no setting on a managed online deployment probe "
        f"(see {azureml_limits._PROBE_DOC})",
        "azureml: load_balancer.listeners[0] (https 8443) is served as HTTPS on 443: a managed online endpoint has one "
        "front end, its HTTPS scoring URI with Microsoft's certificate",
        "azureml: load_balancer.listeners[1] (http 80 -> 8443) is not served: a managed online endpoint has one front "
        "end, its HTTPS scoring URI on 443, and no redirects",
        "azureml: load_balancer.idle_timeout (300s) is carried as the managed online endpoint's request timeout, "
        "which bounds each request's total time and is at most 180s: it is set to 180s, so longer requests are cut "
        f"off (see {azureml_limits._REQUEST_DOC})",
        DRAIN.format(45),
        "azureml: replicas.max is 51; a managed online deployment holds up to 50 instances unless Azure raises the "
        f"limit on request (see {azureml_limits._LIMITS_DOC})",
        CONCURRENCY,
    ]


def test_the_a100_example_runs_its_derived_image_from_the_attached_registry(synthesized):
    """model.args cannot be passed on Azure ML: the example names an image whose CMD carries them."""
    assert examples_naming("azureml") == [ROOT / "examples" / "llama-70b-a100.yaml"]
    assert _errors(ROOT / "examples" / "llama-70b-a100.yaml") == []
    doc = stack(synthesized, "llama70b-azureml")
    bodies = [r["body"]["properties"] for r in doc["resource"]["azapi_resource"].values()
              if "image" in r["body"].get("properties", {})]
    assert [b["image"] for b in bodies] == ["acmeml.azurecr.io/vllm-llama70b:v0.6.3"]
    workspace = doc["resource"]["azurerm_machine_learning_workspace"]["workspace"]
    assert workspace["container_registry_id"].endswith("/registries/acmeml")


def test_l4_is_a_clear_error(tmp_path):
    doc = copy.deepcopy(MISTRAL)
    doc["targets"] = {"azureml": {"location": "eastus"}}
    del doc["model"]["secrets"]  # references for other targets only
    (tmp_path / "l4.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert _errors(tmp_path / "l4.yaml") == ["azureml: no x86_64 instance type has nvidia-l4 (offered on: aws, gcp)"]


def test_catalog_is_the_supported_subset_of_azure_rows():
    with (ROOT / "compiler" / "catalog" / "azure.csv").open() as f:
        azure_rows = {r["instance_type"]: r for r in csv.DictReader(f)}
    with (ROOT / "compiler" / "catalog" / "azureml.csv").open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        azure_row = azure_rows[row["instance_type"]]
        # Copied, not invented; only the purchase options differ: a managed online deployment has no spot.
        assert {**row, "purchase": ""} == {**azure_row, "purchase": ""}, row
        assert (row["purchase"], azure_row["purchase"]) == ("on-demand", "on-demand|spot"), row
        assert row["instance_type"].lower() in azureml.SUPPORTED_SIZES, row
    left_out = {name for name in azure_rows if name.lower() in azureml.SUPPORTED_SIZES} - {r["instance_type"] for r in rows}
    assert left_out == set()  # every supported Azure row is offered
    chosen = catalog.select("azureml", "nvidia-a100-80gb", 8, "x86_64", 64, 512)
    assert chosen.instance_type == "Standard_ND96amsr_A100_v4"
    assert catalog.select("azureml", catalog.NONE, 0, "x86_64", 4, None).instance_type == "Standard_F4s_v2"


def test_check_needs_no_cdk():
    code = ("import sys, targets.azureml, targets.azureml.endpoint; "
            "sys.exit(any(m.split('.')[0].startswith(('cdktn', 'jsii', 'constructs')) for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# --- what the synthesized stacks say ------------------------------------------------------------------------------

def test_workspace_and_its_companions(synthesized):
    doc = stack(synthesized, "llama70b-azureml")
    res = doc["resource"]
    workspace = one(doc, "azurerm_machine_learning_workspace")
    assert workspace["identity"] == {"type": "SystemAssigned"} and workspace["name"] == "llama70b-ws"
    assert (workspace["storage_account_id"], workspace["key_vault_id"], workspace["application_insights_id"]) == (
        "${azurerm_storage_account.storage_account.id}", "${azurerm_key_vault.key_vault.id}",
        "${azurerm_application_insights.application_insights.id}")
    assert "azurerm_container_registry" not in res  # the given registry is attached, never created
    assert "container_registry_id" not in one(stack(synthesized, "embed-azureml"), "azurerm_machine_learning_workspace")
    assert one(doc, "azurerm_application_insights")["workspace_id"] == (
        "${azurerm_log_analytics_workspace.log_analytics.id}")
    storage, vault = one(doc, "azurerm_storage_account"), one(doc, "azurerm_key_vault")
    assert (storage["account_tier"], storage["account_replication_type"]) == ("Standard", "LRS")
    unique = ('llama70b${substr(sha1(join("/", [data.azurerm_client_config.client.subscription_id, "llama70b-rg", '
              '"llama70b"])), 0, 8)}')
    assert storage["name"] == vault["name"] == unique
    assert vault["tenant_id"] == "${data.azurerm_client_config.client.tenant_id}"
    assert res["azurerm_resource_group"]["resource_group"]["name"] == "llama70b-rg"


def test_given_resource_group_is_used_and_named_in_the_unique_suffix(synthesized):
    doc = stack(synthesized, "embed-azureml")
    assert "azurerm_resource_group" not in doc["resource"]
    assert one(doc, "azurerm_machine_learning_workspace")["resource_group_name"] == "ml-shared"
    assert '"ml-shared", "embed"' in one(doc, "azurerm_storage_account")["name"]


def test_body_keys_survive_exactly(synthesized):
    doc = stack(synthesized, "llama70b-azureml")
    online = azapi(doc, "online_endpoint")
    assert online["type"] == "Microsoft.MachineLearningServices/workspaces/onlineEndpoints@2024-10-01"
    assert online["body"] == {"properties": {"authMode": "Key", "publicNetworkAccess": "Enabled"}}
    assert online["identity"] == [{"type": "SystemAssigned"}]
    assert online["parent_id"] == "${azurerm_machine_learning_workspace.workspace.id}"
    deployment = azapi(doc, "deployment")
    assert deployment["type"] == "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments@2024-10-01"
    assert deployment["parent_id"] == "${azapi_resource.online_endpoint.id}" and deployment["name"] == "main"
    assert deployment["body"] == {
        "properties": {
            "endpointComputeType": "Managed",
            "instanceType": "Standard_ND96amsr_A100_v4",
            "environmentId": "${azapi_resource.environment_version.id}",
            # The registry model, mounted at MODEL_DIR (OnlineDeploymentProperties model, modelMountPath).
            "model": "azureml://registries/acme-ml/models/llama-3.1-70b-instruct/versions/1",
            "modelMountPath": "/mnt/models",
            # HF_TOKEN: a Key Vault reference Azure ML resolves with the endpoint's identity (secret injection);
            # Terraform reads $${ as a literal ${.
            "environmentVariables": {"MODEL_NAME": "llama-3.1-70b-instruct",
                                     "MODEL_URI": "azureml://registries/acme-ml/models/llama-3.1-70b-instruct/"
                                                  "versions/1",
                                     "MODEL_DIR": "/mnt/models", "VLLM_LOGGING_LEVEL": "INFO",
                                     "HF_TOKEN": "$${{keyvault:https://acme-kv.vault.azure.net/secrets/hf-token/"
                                                 "0123456789abcdef0123456789abcdef}}"},
            "readinessProbe": {"initialDelay": "PT30M", "period": "PT30S", "timeout": "PT10S", "successThreshold": 2,
                               "failureThreshold": 3},
            # no probes.liveness: the readiness route and timings, success threshold fixed at 1
            "livenessProbe": {"initialDelay": "PT30M", "period": "PT30S", "timeout": "PT10S", "successThreshold": 1,
                              "failureThreshold": 3},
            "requestSettings": {"requestTimeout": "PT3M"},
            "scaleSettings": {"scaleType": "Default"},
        },
        "sku": {"name": "Default", "capacity": 1},
    }
    assert deployment["replace_triggers_refs"] == ["properties.instanceType"]
    assert deployment["lifecycle"] == {"ignore_changes": ["body.sku.capacity"]}
    # The endpoint's identity may read that one secret, before the deployment is created.
    assert deployment["depends_on"] == ["azurerm_role_assignment.secret_read_HF_TOKEN"]
    grant = doc["resource"]["azurerm_role_assignment"]["secret_read_HF_TOKEN"]
    assert (grant["scope"], grant["role_definition_name"], grant["principal_id"]) == (
        '${data.azurerm_resources.key_vault_acme-kv.resources[0].id}/secrets/hf-token', "Key Vault Secrets User",
        "${azapi_resource.online_endpoint.identity[0].principal_id}")


def test_environment_is_the_image_with_its_routes_versioned_by_content(synthesized):
    doc = stack(synthesized, "embed-azureml")
    version = azapi(doc, "environment_version")
    assert version["type"] == "Microsoft.MachineLearningServices/workspaces/environments/versions@2024-10-01"
    assert version["parent_id"] == "${azapi_resource.environment.id}"
    assert version["body"] == {"properties": {
        "image": "ghcr.io/acme/embed:1", "osType": "Linux",
        "inferenceConfig": {"livenessRoute": {"path": "/live", "port": 9000},
                            "readinessRoute": {"path": "/ready", "port": 9001},
                            "scoringRoute": {"path": "/v1", "port": 9000}}}}
    assert version["lifecycle"] == {"create_before_destroy": True}
    assert len(version["name"]) == 12 and version["name"] != azapi(stack(synthesized, "fixed-t4-azureml"),
                                                                   "environment_version")["name"]
    properties = azapi(doc, "deployment")["body"]["properties"]
    assert properties["livenessProbe"] == {"initialDelay": "PT1M30S", "period": "PT20S", "timeout": "PT3S",
                                           "successThreshold": 1, "failureThreshold": 4}
    assert properties["readinessProbe"]["successThreshold"] == 1
    assert properties["instanceType"] == "Standard_F8s_v2"
    assert properties["environmentVariables"] == {"MODEL_NAME": "bge", "WORKERS": "4"}


def test_full_traffic_goes_to_the_deployment_after_it_exists(synthesized):
    doc = stack(synthesized, "llama70b-azureml")
    traffic = doc["resource"]["azapi_update_resource"]["traffic"]
    assert traffic["resource_id"] == "${azapi_resource.online_endpoint.id}"
    assert traffic["body"] == {"properties": {"traffic": {"main": 100}}}
    assert traffic["depends_on"] == ["azapi_resource.deployment"]
    assert traffic["replace_triggers_external_values"]["endpoint"] == azapi(doc, "online_endpoint")["body"]
    assert doc["output"]["endpoint"]["value"] == '${azapi_update_resource.traffic.output["scoring_uri"]}'
    assert traffic["response_export_values"] == {"scoring_uri": "properties.scoringUri"}


# An update brings up ceil(1.2 N) - N new instances at a time (Azure ML's 20% upgrade reserve), so N instances take
# ceil(N / (ceil(1.2 N) - N)) rounds: 1/1, 2/1 -> 2 rounds, ..., 5/1 -> 5, 6/2 -> 3, 10/2 -> 5, 11/3 -> 4, 50/10 -> 5.
ROUNDS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 3, 7: 4, 9: 5, 10: 5, 11: 4, 14: 5, 15: 5, 50: 5}


@pytest.mark.parametrize("instances, rounds", ROUNDS.items())
def test_upgrade_rounds(instances, rounds):
    assert endpoint.upgrade_rounds(instances) == rounds


# (stack, create, update): 30 min provisioning + initial_delay + healthy_threshold x interval, per round for update.
# llama70b: 1800 + 1800 (30m) + 2 x 30 = 3660 s = 61 min; replicas.max 3 -> 3 rounds = 183 min.
# embed: 1800 + 90 + 1 x 10 = 1900 s -> 32 min; max 6 -> 3 rounds = 5700 s = 95 min.
# fixed-t4 (spec defaults): 1800 + 600 + 2 x 15 = 2430 s -> 41 min; 3 instances, 3 rounds = 7290 s -> 122 min.
TIMEOUTS = [("llama70b-azureml", "61m", "183m"), ("embed-azureml", "32m", "95m"), ("fixed-t4-azureml", "41m", "122m")]


@pytest.mark.parametrize("name, create, update", TIMEOUTS)
def test_terraform_waits_long_enough_for_the_deployment(synthesized, name, create, update):
    """azapi's default is 30 minutes for create and update (internal/services/azapi_resource.go), and the deployment's
    PUT completes only once its instances pass the readiness probe: llama70b's initial delay alone is 30 minutes."""
    doc = stack(synthesized, name)
    expected = {"create": create, "update": update}
    assert azapi(doc, "deployment")["timeouts"] == expected
    assert doc["resource"]["azapi_update_resource"]["traffic"]["timeouts"] == expected
    delay = azapi(doc, "deployment")["body"]["properties"]["readinessProbe"]["initialDelay"]
    if name == "llama70b-azureml":
        assert delay == "PT30M" and int(create[:-1]) > 30 + 30  # azapi's 30 min could not even cover the delay


def test_scoring_route_default_is_the_openai_prefix(synthesized):
    """The scoring URI (the endpoint output) is the host and the route: /v1 makes it an OpenAI base URL."""
    for name in STACKS:
        routes = azapi(stack(synthesized, name), "environment_version")["body"]["properties"]["inferenceConfig"]
        assert routes["scoringRoute"]["path"] == "/v1", name


def test_scoring_route_and_purge_are_settings():
    doc = spec_dict(hardware={"accelerator": "nvidia-t4"}, targets={"azureml": {
        "location": "eastus", "scoring_route": "/score", "purge_workspace_on_destroy": False}})
    spec = Spec.model_validate(doc)
    service, _ = lower(spec, ["azureml"])
    assert service.target("azureml").get("scoring_route") == "/score"
    assert service.target("azureml").get("purge_workspace_on_destroy") is False


@pytest.fixture(scope="module")
def settings_stacks(tmp_path_factory) -> pathlib.Path:
    doc = copy.deepcopy(VARIANTS["fixed-t4"])
    doc["metadata"]["name"] = "kept"
    doc["targets"]["azureml"].update({"scoring_route": "/score", "purge_workspace_on_destroy": False})
    doc["load_balancer"]["idle_timeout"] = "90s"
    return synth_documents(tmp_path_factory.mktemp("azureml-settings"), [doc], "azureml")


def test_settings_reach_the_stack(settings_stacks):
    doc = stack(settings_stacks, "kept-azureml")
    routes = azapi(doc, "environment_version")["body"]["properties"]["inferenceConfig"]
    assert routes["scoringRoute"] == {"path": "/score", "port": 8000}
    assert doc["provider"]["azurerm"] == [{"features": [{"machine_learning": [
        {"purge_soft_deleted_workspace_on_destroy": False}]}]}]
    # idle_timeout within the endpoint's 180 s maximum is its request timeout
    assert azapi(doc, "deployment")["body"]["properties"]["requestSettings"] == {"requestTimeout": "PT1M30S"}


def test_request_autoscaling_is_per_minute_per_instance_of_the_deployment(synthesized):
    doc = stack(synthesized, "llama70b-azureml")
    setting = one(doc, "azurerm_monitor_autoscale_setting")
    assert setting["target_resource_id"] == "${azapi_resource.deployment.id}"
    (profile,) = setting["profile"]
    assert profile["capacity"] == {"minimum": 1, "maximum": 3, "default": 1}
    out, scale_in = profile["rule"]
    for rule in (out, scale_in):
        trigger = rule["metric_trigger"]
        assert (trigger["metric_name"], trigger["metric_resource_id"]) == (
            "RequestsPerMinute", "${azapi_resource.online_endpoint.id}")
        assert trigger["dimensions"] == [{"name": "deployment", "operator": "Equals", "values": ["main"]}]
        assert trigger["divide_by_instance_count"] is True
        assert trigger["threshold"] == 4 * 60  # spec: 4 requests/s per replica; the metric counts per minute
    assert (out["scale_action"]["cooldown"], scale_in["scale_action"]["cooldown"]) == ("PT15M", "PT10M")


def test_cpu_autoscaling_reads_the_deployment(synthesized):
    (profile,) = one(stack(synthesized, "embed-azureml"), "azurerm_monitor_autoscale_setting")["profile"]
    trigger = profile["rule"][0]["metric_trigger"]
    assert (trigger["metric_name"], trigger["metric_resource_id"], trigger["threshold"]) == (
        "CpuUtilizationPercentage", "${azapi_resource.deployment.id}", 70)
    assert "dimensions" not in trigger and "divide_by_instance_count" not in trigger


def test_fixed_replicas_have_no_autoscale_and_own_their_count(synthesized):
    doc = stack(synthesized, "fixed-t4-azureml")
    assert "azurerm_monitor_autoscale_setting" not in doc["resource"]
    deployment = azapi(doc, "deployment")
    assert deployment["body"]["sku"] == {"name": "Default", "capacity": 3} and "lifecycle" not in deployment
    assert deployment["body"]["properties"]["instanceType"] == "Standard_NC64as_T4_v3"


def test_labels_are_tags_on_every_resource_that_takes_them(synthesized):
    for name, labels in (("llama70b-azureml", {"team": "ml-platform", "env": "prod"}), ("fixed-t4-azureml", {"team": "cv"})):
        res = stack(synthesized, name)["resource"]
        for kind, resources in res.items():
            for key, resource in resources.items():
                if kind in ("azapi_update_resource", "azurerm_role_assignment"):  # no tags argument
                    continue
                if kind == "azapi_resource" and key.startswith("environment"):
                    assert resource["body"]["properties"]["tags"] == labels, (name, key)
                else:
                    assert resource["tags"] == labels, (name, kind, key)
    assert all("tags" not in r for r in stack(synthesized, "embed-azureml")["resource"]["azapi_resource"].values())


def test_providers(synthesized):
    for name in STACKS:
        doc = stack(synthesized, name)
        assert doc["provider"] == {"azapi": [{}], "azurerm": [{"features": [{"machine_learning": [
            {"purge_soft_deleted_workspace_on_destroy": True}]}]}]}
        assert doc["terraform"]["required_providers"] == {
            "azurerm": {"source": "hashicorp/azurerm", "version": ">= 5.10.0, < 6.0.0"},
            "azapi": {"source": "Azure/azapi", "version": ">= 2.13.0, < 3.0.0"}}


def test_output_is_deterministic(synthesized, tmp_path):
    example = str(examples_naming("azureml")[0])
    assert main(["synth", example, "--target", "azureml", "--out", str(tmp_path / "again")]) == 0
    again = tmp_path / "again" / "stacks" / "llama70b-azureml" / "cdk.tf.json"
    assert again.read_bytes() == (synthesized / "stacks" / "llama70b-azureml" / "cdk.tf.json").read_bytes()


@pytest.mark.parametrize("name", STACKS)
def test_snapshot(synthesized, snapshot, name):
    assert stack(synthesized, name) == snapshot(extension_class=JSONSnapshotExtension)


# --- secure defaults and the security options (issue 5) -----------------------------------------------------------

def test_storage_and_workspace_defaults_that_cost_nothing(synthesized):
    for name in STACKS:
        doc = stack(synthesized, name)
        storage = one(doc, "azurerm_storage_account")
        assert {k: storage[k] for k in ("min_tls_version", "allow_nested_items_to_be_public",
                                        "shared_access_key_enabled", "sas_policy")} == {
            "min_tls_version": "TLS1_2", "allow_nested_items_to_be_public": False,
            "shared_access_key_enabled": True,  # the workspace uses the account key (identity-only is a preview)
            "sas_policy": {"expiration_period": "07.00:00:00", "expiration_action": "Log"}}
        assert storage["blob_properties"] == {"delete_retention_policy": {"days": 7},
                                              "container_delete_retention_policy": {"days": 7}}
        assert "public_network_access_enabled" not in storage  # the workspace needs it without private endpoints
        assert one(doc, "azurerm_machine_learning_workspace")["high_business_impact"] is False


PURGE_CASES = {"purge-default": ({}, False), "purge-on": ({"purge_protection": True}, True),
               "purge-off": ({"purge_protection": False}, False)}


@pytest.fixture(scope="module")
def purge_stacks(tmp_path_factory) -> pathlib.Path:
    docs = []
    for name, (settings, _) in PURGE_CASES.items():
        doc = copy.deepcopy(VARIANTS["fixed-t4"])
        doc["metadata"]["name"] = name
        doc["targets"]["azureml"].update(settings)
        docs.append(doc)
    return synth_documents(tmp_path_factory.mktemp("azureml-purge"), docs, "azureml")


@pytest.mark.parametrize("name", PURGE_CASES)
def test_purge_protection_is_the_users_choice(purge_stacks, name):
    vault = one(stack(purge_stacks, f"{name}-azureml"), "azurerm_key_vault")
    assert vault["purge_protection_enabled"] is PURGE_CASES[name][1]
    assert "soft_delete_retention_days" not in vault  # Azure's 90 days


def test_purge_protection_passes_its_checkov_checks(purge_stacks):
    from tests.test_security import scan
    failed = {name: set() for name in PURGE_CASES}
    for report in scan(purge_stacks / "stacks"):
        for check in report["results"]["failed_checks"]:
            name = pathlib.PurePosixPath(check["file_path"]).parent.name.removesuffix("-azureml")
            failed[name].add(check["check_id"])
    assert {"CKV_AZURE_110", "CKV_AZURE_42"} <= failed["purge-default"]
    assert not {"CKV_AZURE_110", "CKV_AZURE_42"} & failed["purge-on"]
    # free hardening holds on every variant
    assert not {"CKV_AZURE_190", "CKV2_AZURE_47", "CKV2_AZURE_38", "CKV2_AZURE_41", "CKV2_AZURE_50"} & set().union(
        *failed.values())


def test_invalid_purge_protection_is_a_located_error(tmp_path, capsys):
    doc = copy.deepcopy(VARIANTS["fixed-t4"])
    doc["targets"]["azureml"]["purge_protection"] = "yes"
    spec = tmp_path / "bad.yaml"
    text = yaml.safe_dump(doc, sort_keys=False)
    spec.write_text(text)
    assert main(["validate", str(spec)]) == 2
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "purge_protection" in x)
    assert f"{spec}:{line}:" in capsys.readouterr().err

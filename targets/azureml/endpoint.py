"""Azure ML serving: the model image as an environment, a managed online endpoint and deployment, traffic, autoscale."""

from __future__ import annotations

import hashlib
import json
import math

from compiler import ir
from compiler.ir import MODEL_DIR
from targets import delivery
from targets.azure import autoscale
from targets.azure.autoscale import iso_duration
from targets.azure.grants import secret_grants
from targets.azureml.limits import REQUEST_TIMEOUT_S

# azurerm has no online endpoints: these are azapi resources against the Azure ML REST API. 2024-10-01 is a stable
# version with every property used here (OnlineDeployment, ProbeSettings, EnvironmentVersion, InferenceContainer).
# https://learn.microsoft.com/en-us/rest/api/azureml/online-deployments/create-or-update
API = "2024-10-01"
WORKSPACES = "Microsoft.MachineLearningServices/workspaces"

DEPLOYMENT = "main"  # the endpoint's one deployment; names are 3-32 letters, digits and single dashes
# How long Terraform waits for the deployment. azapi waits for the deployment's PUT to finish, 30 minutes by default
# for create and update (Azure/azapi internal/services/azapi_resource.go: plan.Timeouts.Create(ctx, 30*time.Minute)),
# and Azure ML finishes it only once the instances pass their readiness probe: the VMs are provisioned and pull the
# image, then wait initial_delay, then pass healthy_threshold probes an interval apart. PROVISION_S is azapi's own
# default: the budget any deployment gets for provisioning and the image pull before infc adds the model's load time.
PROVISION_S = 1800
# An update replaces instances in rounds: Azure ML reserves 20% extra instances for upgrades (a deployment of N
# instances needs quota for ceil(1.2 N), see how-to-manage-quotas#azure-machine-learning-online-endpoints-and-batch-
# endpoints), so ceil(1.2 N) - N new instances come up at a time, in ceil(N / that) rounds (at most 5).
UPGRADE_RESERVE = 1.2

NAMESPACE = "microsoft.machinelearningservices/workspaces/onlineendpoints"
# spec metric -> (Azure Monitor metric, namespace, on the endpoint?, per-second spec value -> metric value).
# https://learn.microsoft.com/en-us/azure/azure-monitor/reference/supported-metrics/microsoft-machinelearningservices-workspaces-onlineendpoints-metrics
METRIC = {
    "cpu_percent": ("CpuUtilizationPercentage", f"{NAMESPACE}/deployments", False, 1),
    # Requests Per Minute of the endpoint, split by its `deployment` dimension and divided by the deployment's
    # instance count: requests per minute per instance, so the spec's per-second target is multiplied by 60.
    "requests_per_replica": ("RequestsPerMinute", NAMESPACE, True, 60),
}


def emit(stack, service: ir.Service, target: ir.Target, workspace_id, group, location: str, tags) -> None:
    environment_id = _environment(stack, service, target, workspace_id, tags)
    endpoint_body = {"properties": {"authMode": "Key", "publicNetworkAccess": "Enabled"}}
    endpoint = stack.add(
        "azapi_resource", "online_endpoint", type=f"{WORKSPACES}/onlineEndpoints@{API}", name=service.name,
        parent_id=workspace_id, location=location, tags=tags, body=endpoint_body, identity=[{"type": "SystemAssigned"}])
    instance_type = target.machine.instance_type
    grants = _secret_grants(stack, target, endpoint)
    deployment = stack.add(
        "azapi_resource", "deployment", type=f"{WORKSPACES}/onlineEndpoints/deployments@{API}",
        name=DEPLOYMENT, parent_id=endpoint.id, location=location, tags=tags,
        body=deployment_body(service, target, instance_type, environment_id),
        depends_on=grants,  # the platform reads the secrets with the endpoint's identity when it creates it
        # An existing deployment's instance type cannot be changed: a new one means a new deployment.
        replace_triggers_refs=["properties.instanceType"],
        # The autoscale setting owns the instance count once it exists.
        lifecycle={"ignore_changes": ["body.sku.capacity"]} if service.autoscale else None,
        timeouts=timeouts(service))
    # Traffic names the deployment, which needs the endpoint first: so it is set on the endpoint after the
    # deployment exists. An update of the endpoint itself sends a body without traffic, so that replaces this too.
    traffic = stack.add(
        "azapi_update_resource", "traffic", type=f"{WORKSPACES}/onlineEndpoints@{API}",
        resource_id=endpoint.id, body={"properties": {"traffic": {DEPLOYMENT: 100}}},
        response_export_values={"scoring_uri": "properties.scoringUri"},
        replace_triggers_external_values={"endpoint": endpoint_body, "tags": tags or {},
                                          "instance_type": instance_type},
        # Replaced together with the deployment (a new instance type); an endpoint update is a long-running operation
        # too, and a timeout only bounds a wait, so it gets the deployment's budget rather than azapi's 30 minutes.
        timeouts=timeouts(service), depends_on=[deployment])
    if service.autoscale:
        _autoscale(stack, service, group, location, tags, endpoint, deployment)
    stack.output("endpoint", traffic.output["scoring_uri"],
                 "Scoring URI of the online endpoint (key auth: az ml online-endpoint get-credentials)")


def _environment(stack, service: ir.Service, target: ir.Target, workspace_id, tags):
    """The model image with its routes, as an environment version. Versions are immutable, so the version name is a
    hash of its body: a new image or route makes a new version, created before the old one is deleted."""
    ready = service.readiness
    live = (service.liveness.path, service.liveness.port) if service.liveness else (ready.path, ready.port)
    properties = {
        "image": str(target.get("image") or service.image),
        "osType": "Linux",
        "inferenceConfig": {
            "livenessRoute": {"path": live[0], "port": live[1]},
            "readinessRoute": {"path": ready.path, "port": ready.port},
            "scoringRoute": {"path": str(target.get("scoring_route")), "port": service.port},
        },
    }
    if tags:
        properties["tags"] = tags
    body = {"properties": properties}
    version = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    container = stack.add(
        "azapi_resource", "environment", type=f"{WORKSPACES}/environments@{API}", name=service.name,
        parent_id=workspace_id,
        body={"properties": {"description": f"Serving container of {service.name}", **({"tags": tags} if tags else {})}})
    environment = stack.add(
        "azapi_resource", "environment_version", type=f"{WORKSPACES}/environments/versions@{API}",
        name=version, parent_id=container.id, body=body, lifecycle={"create_before_destroy": True})
    return environment.id


def _secret_grants(stack, target: ir.Target, endpoint) -> list:
    """Key Vault Secrets User on each secret for the endpoint's (system-assigned) identity, with which Azure ML reads
    the secrets it injects (secret injection: https://learn.microsoft.com/en-us/azure/machine-learning/
    how-to-deploy-online-endpoint-with-secret-injection)."""
    return secret_grants(stack, target.secrets, endpoint.identity[0].principal_id)


def deployment_body(service: ir.Service, target: ir.Target, instance_type: str, environment_id) -> dict:
    """ManagedOnlineDeployment: instance type, the environment, the model and where it is mounted, variables (secrets
    as Key Vault references Azure ML resolves), probes, request and scale settings. Durations are ISO 8601; the
    instance count is the ARM sku capacity (name "Default"), as the Azure ML SDK sends it."""
    ready, live = service.readiness, service.liveness
    env = {"MODEL_NAME": service.model_name}
    env.update({"MODEL_URI": target.model_uri, "MODEL_DIR": MODEL_DIR} if target.model_uri else {})
    env.update(dict(service.env))
    # A value of this form is resolved by the platform with the endpoint's identity, never written anywhere here.
    env.update({s.name: f"${{{{keyvault:{delivery.key_vault_secret(s.ref).url}}}}}" for s in target.secrets})
    readiness = probe(service.initial_delay_s, ready.interval_s, ready.timeout_s, ready.healthy_threshold,
                      ready.unhealthy_threshold)
    # The platform always probes liveness (and restarts on failure); without probes.liveness it watches the readiness
    # route with the readiness timings, after the same initial delay. Its success threshold is fixed at 1.
    liveness = (probe(service.initial_delay_s, live.interval_s, live.timeout_s, 1, live.failure_threshold) if live
                else probe(service.initial_delay_s, ready.interval_s, ready.timeout_s, 1, ready.unhealthy_threshold))
    return {
        "properties": {
            "endpointComputeType": "Managed",
            "instanceType": instance_type,
            "environmentId": environment_id,
            # A registry model's asset id, mounted read-only at MODEL_DIR (OnlineDeploymentProperties model,
            # modelMountPath: https://learn.microsoft.com/en-us/rest/api/azureml/online-deployments/create-or-update).
            "model": target.model_uri,
            "modelMountPath": MODEL_DIR if target.model_uri else None,
            "environmentVariables": env,
            "readinessProbe": readiness,
            "livenessProbe": liveness,
            "requestSettings": {"requestTimeout": iso_duration(request_timeout_s(service))},
            # Managed deployments take only the Default scale type; autoscale is an Azure Monitor setting.
            "scaleSettings": {"scaleType": "Default"},
        },
        "sku": {"name": "Default", "capacity": service.min_replicas},
    }


def request_timeout_s(service: ir.Service) -> int:
    """The endpoint's scoring timeout: load_balancer.idle_timeout up to REQUEST_TIMEOUT_S, beyond which limits.py
    warns that longer requests are cut off (a request is idle on the connection while the model computes)."""
    return min(service.load_balancer.idle_timeout_s, REQUEST_TIMEOUT_S)


def ready_s(service: ir.Service) -> int:
    """Time for new instances to pass their readiness probe: provisioning and the image pull, initial_delay, then
    healthy_threshold probes an interval apart."""
    hc = service.readiness
    return PROVISION_S + service.initial_delay_s + hc.healthy_threshold * hc.interval_s


def upgrade_rounds(instances: int) -> int:
    """Rounds in which an update replaces `instances`: ceil(1.2 N) - N at a time (1 -> 1, 4 -> 4, 5 -> 5, 6 -> 3)."""
    surge = math.ceil(round(UPGRADE_RESERVE * instances, 6)) - instances
    return math.ceil(instances / surge)


def timeouts(service: ir.Service) -> dict[str, str]:
    """azapi timeouts (Go durations, whole minutes rounded up): a create starts replicas.min instances at once; an
    update replaces up to replicas.max instances (what autoscale may have reached) in upgrade_rounds()."""
    create = ready_s(service)
    update = create * upgrade_rounds(service.max_replicas)
    return {"create": f"{math.ceil(create / 60)}m", "update": f"{math.ceil(update / 60)}m"}


def probe(initial_delay_s: int, period_s: int, timeout_s: int, successes: int, failures: int) -> dict:
    return {"initialDelay": iso_duration(initial_delay_s), "period": iso_duration(period_s),
            "timeout": iso_duration(timeout_s), "successThreshold": successes, "failureThreshold": failures}


def _autoscale(stack, service: ir.Service, group, location: str, tags, endpoint, deployment) -> None:
    """Azure Monitor autoscale on the deployment, as the Azure ML docs do it."""
    name, namespace, on_endpoint, per = METRIC[service.autoscale.metric]
    autoscale.emit(stack, service, group=group, location=location, tags=tags, scaled_id=deployment.id,
                         metric=name, namespace=namespace, per=per,
                         metric_resource_id=endpoint.id if on_endpoint else deployment.id,
                         dimensions={"deployment": [DEPLOYMENT]} if on_endpoint else None, per_instance=on_endpoint)

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
from targets.azureml.limits import DEPLOYMENT, REQUEST_TIMEOUT_S

# azurerm has no online endpoints: these are azapi resources against the Azure ML REST API. 2024-10-01 is a stable
# version with every property used here (OnlineDeployment, ProbeSettings, EnvironmentVersion, InferenceContainer).
# https://learn.microsoft.com/en-us/rest/api/azureml/online-deployments/create-or-update
API = "2024-10-01"
WORKSPACES = "Microsoft.MachineLearningServices/workspaces"

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
    container = _environment(stack, service, workspace_id, tags)
    endpoint_body = {"properties": {"authMode": "Key", "publicNetworkAccess": "Enabled"}}
    endpoint = stack.add(
        "azapi_resource", "online_endpoint", type=f"{WORKSPACES}/onlineEndpoints@{API}", name=service.name,
        parent_id=workspace_id, location=location, tags=tags, body=endpoint_body, identity=[{"type": "SystemAssigned"}])
    # Shared by every deployment: the secrets are the service's, read with the endpoint's identity.
    grants = _secret_grants(stack, target, endpoint)
    deployments, weights, instance_types = {}, {}, {}
    for name, weight, one in versions(service):
        own = one.target(target.name)
        environment_id = _environment_version(stack, one, own, container, tags, name)
        instance_types[name] = own.machine.instance_type
        weights[name] = weight
        deployments[name] = stack.add(
            "azapi_resource", key("deployment", name), type=f"{WORKSPACES}/onlineEndpoints/deployments@{API}",
            name=name, parent_id=endpoint.id, location=location, tags=tags,
            body=deployment_body(one, own, own.machine.instance_type, environment_id),
            depends_on=grants,  # the platform reads the secrets with the endpoint's identity when it creates it
            # An existing deployment's instance type cannot be changed: a new one means a new deployment.
            replace_triggers_refs=["properties.instanceType"],
            # The autoscale setting owns the instance count once it exists.
            lifecycle={"ignore_changes": ["body.sku.capacity"]} if one.autoscale else None,
            timeouts=timeouts(one))
    # Traffic names the deployments, which need the endpoint first: so it is set on the endpoint after they exist. An
    # update of the endpoint itself sends a body without traffic, so that replaces this too. The weights are whole
    # percents summing to 100, as OnlineEndpointProperties.traffic requires ("Traffic values need to sum to 100":
    # azapi's embedded type of the 2024-10-01 API, internal/azure/generated/machinelearningservices/
    # microsoft.machinelearningservices/2024-10-01/types.json, OnlineEndpointTraffic: deployment name -> integer).
    traffic = stack.add(
        "azapi_update_resource", "traffic", type=f"{WORKSPACES}/onlineEndpoints@{API}",
        resource_id=endpoint.id, body={"properties": {"traffic": weights}},
        response_export_values={"scoring_uri": "properties.scoringUri"},
        replace_triggers_external_values={
            "endpoint": endpoint_body, "tags": tags or {},
            "instance_type": instance_types if service.variants else instance_types[DEPLOYMENT]},
        # Replaced together with a deployment (a new instance type); an endpoint update is a long-running operation
        # too, and a timeout only bounds a wait, so it gets the largest deployment's budget rather than azapi's 30
        # minutes: whichever deployment was replaced, the traffic update waits as long as it may.
        timeouts=timeouts(*(one for _, _, one in versions(service))), depends_on=list(deployments.values()))
    for name, _, one in versions(service):
        if one.autoscale:
            _autoscale(stack, one, group, location, tags, endpoint, deployments[name], name)
    stack.output("endpoint", traffic.output["scoring_uri"],
                 "Scoring URI of the online endpoint (key auth: az ml online-endpoint get-credentials)")


def versions(service: ir.Service) -> list[tuple[str, int, ir.Service]]:
    """(deployment name, percent of requests, the service it runs): one deployment per variant, named after it (a
    variant name, 1-8 lowercase letters and digits, is a deployment name once it has 3 characters: limits.py), or the
    one deployment DEPLOYMENT with every request."""
    return [(v.name, v.weight, v.service) for v in service.variants] or [(DEPLOYMENT, 100, service)]


def key(base: str, deployment: str) -> str:
    """The construct ID of a deployment's own resource: `base` for DEPLOYMENT, so a variant named main is the very
    deployment a one-version spec runs (adding variants beside it replaces nothing), else `base_<variant>`."""
    return base if deployment == DEPLOYMENT else f"{base}_{deployment}"


def _environment(stack, service: ir.Service, workspace_id, tags):
    """The environment (container) whose versions carry the images, one for the service."""
    return stack.add(
        "azapi_resource", "environment", type=f"{WORKSPACES}/environments@{API}", name=service.name,
        parent_id=workspace_id,
        body={"properties": {"description": f"Serving container of {service.name}", **({"tags": tags} if tags else {})}})


def _environment_version(stack, service: ir.Service, target: ir.Target, container, tags, deployment: str):
    """The model image with its routes, as an environment version of `deployment`. Versions are immutable, so the
    version name is a hash of its body: a new image or route makes a new version, created before the old one is
    deleted. Each variant's hash includes its name: two variants with one image get two versions, so no two Terraform
    resources ever hold the same version (azapi refuses to create a resource that exists, Azure/azapi
    internal/services/azapi_resource.go "Resource already exists"), also when an image moves from one variant to
    another."""
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
    hashed = body if deployment == DEPLOYMENT else {"deployment": deployment, **body}
    version = hashlib.sha1(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:12]
    environment = stack.add(
        "azapi_resource", key("environment_version", deployment), type=f"{WORKSPACES}/environments/versions@{API}",
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


def timeouts(*services: ir.Service) -> dict[str, str]:
    """azapi timeouts (Go durations, whole minutes rounded up): a create starts replicas.min instances at once; an
    update replaces up to replicas.max instances (what autoscale may have reached) in upgrade_rounds(). Given several
    services (the variants' deployments), the longest of each."""
    create = max(ready_s(s) for s in services)
    update = max(ready_s(s) * upgrade_rounds(s.max_replicas) for s in services)
    return {"create": f"{math.ceil(create / 60)}m", "update": f"{math.ceil(update / 60)}m"}


def probe(initial_delay_s: int, period_s: int, timeout_s: int, successes: int, failures: int) -> dict:
    return {"initialDelay": iso_duration(initial_delay_s), "period": iso_duration(period_s),
            "timeout": iso_duration(timeout_s), "successThreshold": successes, "failureThreshold": failures}


def _autoscale(stack, service: ir.Service, group, location: str, tags, endpoint, deployment, name: str) -> None:
    """Azure Monitor autoscale on the deployment `name`, as the Azure ML docs do it: each variant's on its own
    deployment and its own share of the endpoint's requests (the metric's `deployment` dimension)."""
    metric, namespace, on_endpoint, per = METRIC[service.autoscale.metric]
    autoscale.emit(stack, service, group=group, location=location, tags=tags, scaled_id=deployment.id,
                   metric=metric, namespace=namespace, per=per,
                   metric_resource_id=endpoint.id if on_endpoint else deployment.id,
                   dimensions={"deployment": [name]} if on_endpoint else None, per_instance=on_endpoint,
                   variant=None if name == DEPLOYMENT else name)

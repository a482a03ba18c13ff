"""Azure Container Apps target: a Container Apps environment with the workload profile the replicas need and the
container app serving the model behind the app's own HTTPS ingress."""

from __future__ import annotations

import math

from compiler import ir
from targets.aca.limits import (CONSUMPTION, PERIOD, STARTUP_DELAY, THRESHOLD, cpu_size, open_to_all, profile,
                                secret_name)
from targets.azure import site as azure_site
from targets.azure.grants import secret_grants
from targets.base import output_endpoint, resource_name

# azurerm 5.10.0 (compiler/provider_schemas/) has azurerm_container_app{,_environment}, but infc's committed schema has
# neither, and its workload_profile_type validation predates the serverless GPU profiles: so both are azapi resources
# against the Microsoft.App REST API. 2025-01-01 is a stable version with every property used here (Scale
# cooldownPeriod, ContainerAppProbe, IpSecurityRestrictionRule, IngressStickySessions, Secret keyVaultUrl/identity,
# WorkloadProfile), embedded in Azure/azapi since v2.4.0 (internal/azure/generated/app_0/microsoft.app/2025-01-01/
# types.json), which checks the bodies at plan time.
AZAPI_PROVIDER = ("Azure/azapi", ">= 2.13.0, < 3.0.0")
API = "2025-01-01"
CONTAINER = "model"
# How long Terraform waits for the app's PUT: azapi's own default (30 minutes, Azure/azapi internal/services/
# azapi_resource.go) for provisioning and the image pull, plus the start-up time the startup probe allows.
PROVISION_S = 1800


def emit(stack, service: ir.Service, target: ir.Target) -> None:
    """Every resource of the Container Apps stack, in dependency order."""
    group, location, tags = azure_site.start(stack, service, target)
    stack.provider("azapi", *AZAPI_PROVIDER)
    client = stack.data("azurerm_client_config", "client")
    group_id = stack.fmt("/subscriptions/{}/resourceGroups/{}", client.subscription_id, group)
    one = profile(service)
    profiles = [{"name": CONSUMPTION.name, "workloadProfileType": CONSUMPTION.type}]
    profiles += [{"name": one.name, "workloadProfileType": one.type}] if one is not CONSUMPTION else []
    # No log destination: console and system logs still stream (az containerapp logs show); a Log Analytics
    # workspace would be billed per GB whether or not anyone reads it.
    environment = stack.add(
        "azapi_resource", "environment", type=f"Microsoft.App/managedEnvironments@{API}",
        name=resource_name(service, "env"), parent_id=group_id, location=location, tags=tags,
        body={"properties": {"workloadProfiles": profiles}})
    identity, grants = None, []
    if target.secrets:
        # A user-assigned identity exists, and holds its grants, before the app that reads the secrets with it is
        # created: a system-assigned one would exist only with the app, which fails to create while it cannot read.
        identity = stack.add("azurerm_user_assigned_identity", "identity", name=resource_name(service, "id"),
                             location=location, resource_group_name=group, tags=tags)
        grants = secret_grants(stack, target.secrets, identity.principal_id)
    app = stack.add(
        "azapi_resource", "app", type=f"Microsoft.App/containerApps@{API}", name=service.name, parent_id=group_id,
        location=location, tags=tags, body=app_body(service, target, environment.id, identity),
        identity=[{"type": "UserAssigned", "identity_ids": [identity.id]}] if identity else None,
        response_export_values={"fqdn": "properties.configuration.ingress.fqdn"},
        timeouts=timeouts(service), depends_on=grants)
    output_endpoint(stack, service, app.output["fqdn"])


def timeouts(service: ir.Service) -> dict[str, str]:
    minutes = f"{math.ceil((PROVISION_S + service.initial_delay_s) / 60)}m"
    return {"create": minutes, "update": minutes}


def app_body(service: ir.Service, target: ir.Target, environment_id, identity) -> dict:
    """ContainerApp properties: single revision mode, the ingress, Key Vault secrets, the container and its scale."""
    one = profile(service)
    cpus, memory = (one.vcpus, one.memory_gib) if one is not CONSUMPTION else cpu_size(service)
    env = [{"name": "MODEL_NAME", "value": service.model_name}]
    env += [{"name": k, "value": v} for k, v in service.env]
    env += [{"name": s.name, "secretRef": secret_name(s.name)} for s in target.secrets]
    container = {
        "name": CONTAINER, "image": service.image,
        # model.command and model.args as written (limits.py refuses the text Kubernetes would expand).
        "command": list(service.command) if service.command else None,
        "args": list(service.args) or None,
        "env": env,
        "resources": {"cpu": cpus, "memory": f"{memory}Gi"},
        "probes": probes(service),
    }
    configuration = {"activeRevisionsMode": "Single", "ingress": ingress(service)}
    if target.secrets:
        # Key Vault references, resolved by Container Apps with the identity (manage-secrets#reference-secret-from-
        # key-vault); the value never reaches the spec, the Terraform output or state.
        configuration["secrets"] = [{"name": secret_name(s.name), "keyVaultUrl": s.ref, "identity": identity.id}
                                    for s in target.secrets]
    return {"properties": {
        "environmentId": environment_id,
        "workloadProfileName": one.name,
        "configuration": configuration,
        "template": {
            "containers": [{k: v for k, v in container.items() if v is not None}],
            "scale": scale(service),
            # The time a replica being removed keeps its in-flight requests before it is stopped.
            "terminationGracePeriodSeconds": service.load_balancer.drain_timeout_s,
        },
    }}


def ingress(service: ir.Service) -> dict:
    """External HTTP ingress to model.port: HTTPS on 443 always; HTTP on 80 served (allowInsecure) where a listener
    serves it, else redirected to HTTPS (Container Apps' default)."""
    lb = service.load_balancer
    body = {
        "external": True, "targetPort": service.port, "transport": "http",
        "allowInsecure": any(x.protocol == "http" for x in lb.serving),
        "traffic": [{"latestRevision": True, "weight": 100}],
    }
    if not open_to_all(service):
        # Allow rules only: every other address is refused (limits.py refuses IPv6 ranges here).
        body["ipSecurityRestrictions"] = [{"name": f"allowed-{i}", "ipAddressRange": cidr, "action": "Allow"}
                                          for i, cidr in enumerate(lb.allowed_cidrs)]
    if lb.stickiness:
        body["stickySessions"] = {"affinity": "sticky"}  # session affinity by cookie, single revision mode
    return body


def startup_probe(service: ir.Service) -> dict:
    """The startup probe that gives a replica probes.readiness.initial_delay to start: its first probe STARTUP_DELAY
    after the container starts, then up to THRESHOLD[1] failures a period apart. The period is the readiness interval
    where at most 10 probes cover the delay, else the shortest that does (so a replica that is ready may wait up to a
    period longer to be found so); limits.py refuses a delay over limits.MAX_INITIAL_DELAY."""
    delay = service.initial_delay_s
    period = min(max(service.readiness.interval_s, math.ceil(delay / (THRESHOLD[1] - 1))), PERIOD[1])
    failures = max(THRESHOLD[0], math.ceil(delay / period) + 1)
    ready = service.readiness
    return {"type": "Startup", "httpGet": {"path": ready.path, "port": ready.port},
            "initialDelaySeconds": STARTUP_DELAY, "periodSeconds": period, "timeoutSeconds": ready.timeout_s,
            "successThreshold": 1, "failureThreshold": failures}


def probes(service: ir.Service) -> list[dict]:
    """Startup (initial_delay, when there is one), readiness (traffic) and, with probes.liveness, liveness
    (restarts). Readiness and liveness start after the startup probe succeeds."""
    ready, live = service.readiness, service.liveness
    out = [startup_probe(service)] if service.initial_delay_s else []
    out += [{"type": "Readiness", "httpGet": {"path": ready.path, "port": ready.port},
             "periodSeconds": ready.interval_s, "timeoutSeconds": ready.timeout_s,
             "successThreshold": ready.healthy_threshold, "failureThreshold": ready.unhealthy_threshold}]
    if live:
        out.append({"type": "Liveness", "httpGet": {"path": live.path, "port": live.port},
                    "periodSeconds": live.interval_s, "timeoutSeconds": live.timeout_s, "successThreshold": 1,
                    "failureThreshold": live.failure_threshold})
    return out


def scale(service: ir.Service) -> dict:
    """Replica bounds and the scale rule. requests_per_replica is an HTTP rule: Container Apps counts the requests of
    the past 15 seconds divided by 15, every 15 seconds, and adds replicas while that exceeds concurrentRequests per
    replica (scale-app#http), so the spec's requests per second per replica is concurrentRequests as it is.
    cpu_percent is KEDA's cpu scaler (a custom rule). Without autoscale the app stays at replicas.min: no rule and
    maxReplicas = minReplicas, since without a rule Container Apps would apply its default HTTP rule."""
    auto = service.autoscale
    if auto is None:
        return {"minReplicas": service.min_replicas, "maxReplicas": service.min_replicas}
    value = str(int(auto.target))
    rule = ({"name": "requests", "http": {"metadata": {"concurrentRequests": value}}}
            if auto.metric == "requests_per_replica" else
            {"name": "cpu", "custom": {"type": "cpu", "metadata": {"type": "Utilization", "value": value}}})
    body = {"minReplicas": service.min_replicas, "maxReplicas": service.max_replicas, "rules": [rule]}
    if service.min_replicas == 0:
        # "How long after the last event was observed before the application scales down to its minimum replica
        # count" (scale-app#scale-behavior).
        body["cooldownPeriod"] = auto.scale_to_zero_after_s
    return body

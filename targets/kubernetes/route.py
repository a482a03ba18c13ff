"""The kubernetes target's stack: the workload behind a LoadBalancer Service (workload.py), or, with
targets.kubernetes.gateway, ClusterIP Services behind a Gateway API HTTPRoute on that existing Gateway: one Deployment,
Service, HPA and PodDisruptionBudget per variant, the route's backendRefs carrying the variants' weights."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from compiler import ir
from targets.base import versions
from targets.kubernetes import workload
from targets.kubernetes.workload import PROVIDER

# Gateway API v1 (standard channel), kubernetes-sigs/gateway-api apis/v1: HTTPRoute in httproute_types.go,
# ParentReference and HTTPBackendRef in shared_types.go. A backendRef's weight is 0-1000000 (kubebuilder Minimum=0,
# Maximum=1000000), the share weight / sum of weights, "not a percentage": the spec's percents are carried as they are.
API_VERSION = "gateway.networking.k8s.io/v1"
GATEWAY_GROUP = "gateway.networking.k8s.io"


def emit(stack, service: ir.Service, target: ir.Target) -> None:
    """The provider (kubeconfig from the environment), then the workload: on a LoadBalancer Service, or routed
    through targets.kubernetes.gateway (always with variants: limits.py refuses them without a Gateway)."""
    # No arguments: the provider reads KUBE_CONFIG_PATH / KUBE_CTX (it ignores KUBECONFIG) or in-cluster config.
    stack.provider("kubernetes", *PROVIDER)
    if target.get("gateway"):
        emit_routed(stack, service, target)
    else:
        workload.emit_workload(stack, service, target)


def emit_routed(stack, service: ir.Service, target: ir.Target) -> None:
    """Namespace, then per version its Deployment, ClusterIP Service, HPA and PodDisruptionBudget, then the
    HTTPRoute. The https Ingress and the LoadBalancer Service are not emitted: the Gateway's listeners serve
    clients (limits.py refuses the load_balancer settings they would carry)."""
    settings = target.settings
    namespace = workload._namespace(stack, service, settings)
    backends = []
    for version in versions(service, target):
        # A variant's objects are `<name>-<variant>` (at most 24 + 1 + 8 = 33 characters: a DNS-1035 label and a
        # label value, both at most 63) with construct IDs suffixed `_<variant>`; the one version without variants is
        # named and keyed as on a LoadBalancer Service.
        own = dataclasses.replace(version.service, name=version.name()) if version.variant else version.service
        key = version.id("")
        workload._deployment(stack, own, version.target, settings, namespace, key=key)
        svc = workload._service(stack, own, settings, namespace, {}, key=key, routed=True)
        if own.autoscale:
            workload._autoscaler(stack, own, namespace, key)
        workload._disruption_budget(stack, own, namespace, key)
        # group "" and kind Service are the CRD's defaults, written out so that the manifest is the object as stored.
        # Without variants, weight 1: the Gateway API default, all requests.
        backends.append({"group": "", "kind": "Service", "name": svc.metadata[0].name, "port": service.port,
                         "weight": 1 if version.weight is None else version.weight})
    _route(stack, service, settings, namespace, backends)
    stack.output("route_name", route_name(service), "Name of the HTTPRoute that sends the Gateway's requests to "
                 "the replicas")
    stack.output("gateway", gateway_ref(service, settings), "The Gateway (namespace/name) serving the route; its "
                 "addresses are the endpoint: kubectl get gateway -n NAMESPACE NAME (status.addresses)")
    if not service.variants:
        stack.output("service_name", backends[0]["name"], "Name of the Kubernetes Service in front of the replicas")
    stack.output("service_namespace", namespace, "Namespace of the service's objects")


def route_name(service: ir.Service) -> str:
    return service.name


def gateway_ref(service: ir.Service, settings: Mapping[str, object]) -> str:
    """namespace/name of the Gateway: gateway_namespace, else the service's namespace."""
    return f"{_gateway_namespace(service, settings)}/{settings['gateway']}"


def _gateway_namespace(service: ir.Service, settings: Mapping[str, object]) -> str:
    return str(settings.get("gateway_namespace") or settings.get("namespace") or service.name)


def _route(stack, service: ir.Service, settings: Mapping[str, object], namespace, backends: list[dict]) -> None:
    """The HTTPRoute: attached to the Gateway (its listener if gateway_listener names one), for the host if one is
    set, every path to the backends by weight. A kubernetes_manifest reads the HTTPRoute CRD's schema from the
    cluster when Terraform plans (hashicorp/terraform-provider-kubernetes manifest/provider/plan.go,
    PlanResourceChange: "API did not recognize GroupVersionKind from manifest (CRD may not be installed)" without it)
    and replaces the object only when apiVersion, kind, metadata.name or metadata.namespace change, so new weights
    are an update in place (server-side apply)."""
    parent = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": settings["gateway"],
              "namespace": _gateway_namespace(service, settings)}
    if settings.get("gateway_listener"):
        parent["sectionName"] = settings["gateway_listener"]
    spec = {"parentRefs": [parent],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": backends}]}
    if settings.get("host"):
        spec = {"hostnames": [settings["host"]], **spec}
    manifest = {"apiVersion": API_VERSION, "kind": "HTTPRoute",
                "metadata": {"name": route_name(service), "namespace": namespace, "labels": workload.labels(service)},
                "spec": spec}
    stack.add("kubernetes_manifest", "route", manifest=manifest)

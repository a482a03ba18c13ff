"""The Kubernetes workload of one service: namespace, Deployment, Service, Ingress, HPA, PodDisruptionBudget.

emit_workload() needs a kubernetes provider already configured in the stack, so managed-cluster targets (gke) emit
the same objects into their own stacks; route.py's emit() is the kubernetes target's stack. Checks live in limits.py
(check_workload).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from compiler import ir
from compiler.ir import MODEL_DIR
from targets import delivery
from targets.kubernetes.limits import (
    ARCH,
    ARCH_LABEL,
    GPU_PRODUCT_LABEL,
    GPU_PRODUCTS,
    GPU_RESOURCE,
    MANAGED_BY_LABEL,
    NAME_LABEL,
    REQUEST_METRIC,
    decimal_quantity,
    liveness,
    memory_quantity,
    pull_policy,
    requests,
    source_ranges,
    startup_failure_threshold,
    volume_name,
)

# Every argument emitted here is checked against hashicorp/kubernetes 3.4.0 (compiler/provider_schemas/) and exists
# throughout 3.x (v3 upgrade guide: docs/guides/v3-upgrade-guide.md).
PROVIDER = ("hashicorp/kubernetes", ">= 3.0.0, < 4.0.0")

CONTAINER = "model"
DOWNLOAD_CONTAINER = "model-download"
MODEL_VOLUME = "model"
# The download's requests and limits: KServe's storage initializer defaults (config/configmap/inferenceservice.yaml:
# memoryRequest 100Mi, memoryLimit 1Gi, cpuRequest 100m, cpuLimit 1).
DOWNLOAD_RESOURCES = {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
# Time Kubernetes itself gives a rollout to schedule pods and pull images (progressDeadlineSeconds default);
# infc adds initial_delay, the model's load time, on top.
PROGRESS_DEADLINE_S = 600

# Internal load balancer annotations per cloud controller; the others ignore foreign keys.
#   AWS Load Balancer Controller (scheme; its default is internal) and the in-tree AWS controller (internal):
#     https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/
#     https://cloud-provider-aws.sigs.k8s.io/service_controller/
#   AKS: https://learn.microsoft.com/azure/aks/internal-lb
#   GKE: https://cloud.google.com/kubernetes-engine/docs/concepts/service-load-balancer-parameters
INTERNAL_LB = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
    "networking.gke.io/load-balancer-type": "Internal",
}
PUBLIC_LB = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}

# ingress-nginx: redirect HTTP to HTTPS even when no TLS host matches (the Ingress has no host); "Server-side HTTPS
# enforcement through redirect" in
# https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/
FORCE_SSL_REDIRECT = {"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}

# HPA behavior: the stabilization windows come from the spec; the policies are the Kubernetes defaults, written
# out because the provider requires at least one policy per direction (HPAScalingRules in the autoscaling/v2 API:
# scale up by 100% or 4 pods per 15 s, whichever is more; scale down by up to 100% per 15 s).
SCALE_UP_POLICIES = (("Percent", 100, 15), ("Pods", 4, 15))
SCALE_DOWN_POLICIES = (("Percent", 100, 15),)


def labels(service: ir.Service) -> dict[str, str]:
    return {**dict(service.labels), NAME_LABEL: service.name, MANAGED_BY_LABEL: "infc"}


@dataclasses.dataclass(frozen=True)
class Identity:
    """The hook managed clusters give the replicas cloud credentials through (for the model download too): a
    ServiceAccount named after the service that the pods run as, with the annotations and pod labels the cloud's
    mechanism reads (EKS Pod Identity needs none: its association names the namespace and account; AKS workload
    identity needs the client id annotation and the azure.workload.identity/use pod label, and its webhook gives every
    container, the download's too, AZURE_CLIENT_ID)."""

    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    pod_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


def kubelet_literal(text: str) -> str:
    """`text` as the kubelet passes it on: it expands $(VAR) in command, args and env values and reads $$ as $
    (kubernetes third_party/forked/golang/expansion/expand.go), so every $ is doubled to carry the text as written
    (https://kubernetes.io/docs/tasks/inject-data-application/define-command-argument-container/)."""
    return text.replace("$", "$$")


@dataclasses.dataclass(frozen=True)
class Workload:
    """What a managed-cluster target builds on: the namespace (name or reference), the Service and Deployment."""

    namespace: object
    service: object
    deployment: object = None  # e.g. for an Ingress that must be created after the pods exist (GKE)


def emit_workload(stack, service: ir.Service, target: ir.Target, *, settings: Mapping[str, object] | None = None,
                  ingress: bool = True, service_annotations: Mapping[str, str] | None = None,
                  identity: Identity | None = None) -> Workload:
    """Every Kubernetes object of `service`, in dependency order, with the provider already in `stack`.

    target: the model URI and secrets it delivers, and its settings: namespace, namespace_exists, certificate (TLS
    secret), node_selector, ingress_class, host, cpu_limit, liveness_from_readiness, run_as_user, writable_dirs
    (targets.kubernetes; absent keys take its defaults), ip_family ("IPv4" or "IPv6"), the http Service's single
    family, whose source ranges it keeps, and tolerations (extra pod tolerations, e.g. of a managed cluster's spot
    taint), unless `settings` replaces them.
    ingress=False leaves https to the caller (e.g. a GKE Ingress with a pre-shared certificate);
    service_annotations are added to the Service's (e.g. a BackendConfig reference); identity: the pods run as a
    ServiceAccount of their own (Identity), whose cloud identity also serves the model download."""
    settings = target.settings if settings is None else settings
    namespace = _namespace(stack, service, settings)
    account = _service_account(stack, service, namespace, identity) if identity else None
    deployment = _deployment(stack, service, target, settings, namespace, account, identity)
    svc = _service(stack, service, settings, namespace, service_annotations or {})
    if ingress and any(x.protocol == "https" for x in service.load_balancer.listeners):
        _ingress(stack, service, settings, namespace)
    if service.autoscale:
        _autoscaler(stack, service, namespace)
    _disruption_budget(stack, service, namespace)
    stack.output("service_name", svc.metadata[0].name, "Name of the Kubernetes Service in front of the replicas")
    stack.output("service_namespace", namespace, "Namespace of the service's objects")
    return Workload(namespace, svc, deployment)


def _namespace(stack, service: ir.Service, settings: Mapping[str, object]):
    """The namespace name (default: the service's); created unless it is 'default' or marked existing (then a
    reference orders the rest)."""
    name = str(settings.get("namespace") or service.name)
    if name == "default" or settings.get("namespace_exists"):
        return name
    ns = stack.add("kubernetes_namespace_v1", "namespace", metadata=[{"name": name, "labels": labels(service)}])
    return ns.metadata[0].name


def _service_account(stack, service: ir.Service, namespace, identity: Identity):
    """The replicas' own ServiceAccount: no API token is mounted from it (the server needs none); cloud credentials
    come through the identity's own projected token, which the cloud's webhook adds."""
    return stack.add("kubernetes_service_account_v1", "service_account",
                     metadata=_meta(service, namespace, dict(identity.annotations) or None),
                     automount_service_account_token=False)


def _meta(service: ir.Service, namespace, annotations=None) -> dict:
    return {"name": service.name, "namespace": namespace, "labels": labels(service), "annotations": annotations or None}


def _deployment(stack, service: ir.Service, target: ir.Target, settings: Mapping[str, object], namespace,
                account=None, identity: Identity | None = None, key: str = ""):
    pod_labels = {**labels(service), **(dict(identity.pod_labels) if identity else {})}
    gpu = service.accelerator != "none"
    writable = list(settings.get("writable_dirs") or ())
    volumes = [{"name": volume_name(d), "empty_dir": {}} for d in writable]
    download = _download(target, identity)
    if download:
        # The model's files: written by the init container, read-only for the server; on the node's disk.
        volumes.insert(0, {"name": MODEL_VOLUME, "empty_dir": {}})
    # GPU replicas get a memory-backed /dev/shm (the container default is 64 MiB), as `docker run --ipc host`
    # does on VMs; vLLM needs it for tensor parallelism (docs.vllm.ai, deployment/k8s).
    if gpu:
        volumes.insert(0, {"name": "shm", "empty_dir": {"medium": "Memory"}})
    uid = settings.get("run_as_user")
    # A port below 1024 needs no capability when the pod's network namespace makes every port unprivileged: a safe
    # sysctl since Kubernetes 1.22, allowed by Pod Security Standards (baseline and restricted), and unlike
    # NET_BIND_SERVICE it works for a non-root user too (kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster).
    low_port = min(service.ports) < 1024
    pod = {
        "init_container": [download] if download else None,
        "container": [_container(service, target, settings)],
        "node_selector": _node_selector(service, settings),
        "affinity": _gpu_affinity(service, settings),
        "toleration": ([{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}] if gpu else [])
        + list(settings.get("tolerations") or ()) or None,
        "service_account_name": account.metadata[0].name if account else None,
        "volume": volumes or None,
        "termination_grace_period_seconds": service.load_balancer.drain_timeout_s,
        "security_context": {
            "seccomp_profile": {"type": "RuntimeDefault"},
            "run_as_non_root": True if uid else None, "run_as_user": str(uid) if uid else None,
            "sysctl": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}] if low_port else None},
        # The server needs no Kubernetes API token; service links inject <SERVICE>_PORT variables, and a Service
        # named vllm sets VLLM_PORT=tcp://..., which vLLM reads as its own setting and refuses to start.
        "automount_service_account_token": False,
        "enable_service_links": False,
    }
    return stack.add(
        "kubernetes_deployment_v1", f"deployment{key}", metadata=_meta(service, namespace),
        # Deployments are not waited for: a rollout can take initial_delay per replica; `kubectl rollout status`
        # reports it, and progressDeadlineSeconds flags one that stalls.
        wait_for_rollout=False,
        spec={
            # With an HPA, replicas is left to it (Terraform would reset it on every apply).
            "replicas": None if service.autoscale else str(service.min_replicas),
            "selector": {"match_labels": {NAME_LABEL: service.name}},
            "progress_deadline_seconds": PROGRESS_DEADLINE_S + service.initial_delay_s,
            "template": {"metadata": {"labels": pod_labels}, "spec": pod}})


def _download(target: ir.Target, identity: Identity | None) -> dict | None:
    """The init container that downloads the model into the model volume before the server starts: KServe's storage
    initializer with the pod's credentials (its service account's cloud identity; HF_TOKEN for hf://)."""
    found = delivery.source(target.model_uri)
    if found is None:
        return None
    refs = {s.name: s.ref for s in target.secrets}
    env = [_secret_env(name, refs[name]) for name in delivery.download_env(target)]
    if found.scheme == "s3" and not identity:
        # Without a cloud identity boto3 refuses to sign; KServe's awsAnonymousCredential reads a public bucket.
        env.append({"name": "awsAnonymousCredential", "value": "true"})
    return {
        "name": DOWNLOAD_CONTAINER, "image": delivery.STORAGE_INITIALIZER,
        "image_pull_policy": pull_policy(delivery.STORAGE_INITIALIZER),
        "args": [kubelet_literal(found.initializer_uri), MODEL_DIR], "env": env or None,
        "resources": DOWNLOAD_RESOURCES,
        "volume_mount": [{"name": MODEL_VOLUME, "mount_path": MODEL_DIR}],
        "security_context": {"allow_privilege_escalation": False, "run_as_non_root": True,
                             "run_as_user": str(delivery.INITIALIZER_UID), "capabilities": {"drop": ["ALL"]}}}


def _secret_env(name: str, ref: str) -> dict:
    secret, key = delivery.kubernetes_secret(ref)
    return {"name": name, "value_from": {"secret_key_ref": {"name": secret, "key": key}}}


def _container(service: ir.Service, target: ir.Target, settings: Mapping[str, object]) -> dict:
    gpu = service.accelerator != "none"
    env = [("MODEL_NAME", service.model_name)]
    env += [("MODEL_URI", target.model_uri), ("MODEL_DIR", MODEL_DIR)] if target.model_uri else []
    env += list(service.env)
    # Requests are hardware.cpus / memory_gib (or infc's defaults): the replica gets at least them, and its limits
    # are the same (Guaranteed QoS) unless cpu_limit lets CPU burst. GPUs are limits only (an extended resource's
    # request defaults to its limit).
    cpus, gib = requests(service)
    cpu_limit = settings.get("cpu_limit") or cpus
    memory = memory_quantity(gib)
    limits = {"cpu": decimal_quantity(cpu_limit), "memory": memory}
    limits |= {GPU_RESOURCE: str(service.accelerator_count)} if gpu else {}
    writable = list(settings.get("writable_dirs") or ())
    mounts = [("shm", "/dev/shm")] if gpu else []
    mounts += [(volume_name(d), d) for d in writable]
    model = [{"name": MODEL_VOLUME, "mount_path": MODEL_DIR, "read_only": True}] if target.model_uri else []
    hc, live = service.readiness, liveness(service, settings)
    return {
        "name": CONTAINER, "image": service.image, "image_pull_policy": pull_policy(service.image),
        # model.command and model.args as written: the kubelet would expand $(VAR) in them (kubelet_literal).
        "command": [kubelet_literal(a) for a in service.command] if service.command else None,
        "args": [kubelet_literal(a) for a in service.args] or None,
        "env": [{"name": k, "value": kubelet_literal(v)} for k, v in env]
        + [_secret_env(s.name, s.ref) for s in target.secrets],
        "port": [{"name": "http", "container_port": service.port, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": decimal_quantity(cpus), "memory": memory}, "limits": limits},
        "readiness_probe": {
            "http_get": _http_get(hc.path, hc.port), "period_seconds": hc.interval_s,
            "timeout_seconds": hc.timeout_s, "success_threshold": hc.healthy_threshold,
            "failure_threshold": hc.unhealthy_threshold, "initial_delay_seconds": 0},
        # Readiness and liveness start only after the startup probe succeeded; its budget covers initial_delay.
        "startup_probe": {
            "http_get": _http_get(hc.path, hc.port), "period_seconds": hc.interval_s,
            "timeout_seconds": hc.timeout_s, "success_threshold": 1,
            "failure_threshold": startup_failure_threshold(service),
            "initial_delay_seconds": 0} if service.initial_delay_s else None,
        "liveness_probe": {
            "http_get": _http_get(live.path, live.port), "period_seconds": live.interval_s,
            "timeout_seconds": live.timeout_s, "success_threshold": 1, "failure_threshold": live.failure_threshold,
            "initial_delay_seconds": 0} if live else None,
        "volume_mount": model + [{"name": n, "mount_path": d} for n, d in mounts] or None,
        # Serving images often run as root (vLLM's does), so runAsNonRoot only with run_as_user; every capability
        # is dropped. The root filesystem is read-only once writable_dirs says where the server writes.
        "security_context": {"allow_privilege_escalation": False,
                             "read_only_root_filesystem": True if writable else None,
                             "capabilities": {"drop": ["ALL"]}}}


def _http_get(path: str, port: int) -> dict:
    return {"path": path, "port": str(port), "scheme": "HTTP"}


def _node_selector(service: ir.Service, settings: Mapping[str, object]) -> dict[str, str]:
    """The user's node_selector ({} turns selection off), plus the CPU architecture unless it names one."""
    chosen = dict(settings.get("node_selector") or {})
    chosen.setdefault(ARCH_LABEL, ARCH[service.arch])
    return chosen


def _gpu_affinity(service: ir.Service, settings: Mapping[str, object]) -> dict | None:
    """GPU replicas without a node_selector require a node whose GFD product label is one of the accelerator's."""
    products = GPU_PRODUCTS.get(service.accelerator)
    if service.accelerator == "none" or settings.get("node_selector") is not None or not products:
        return None
    term = {"match_expressions": [{"key": GPU_PRODUCT_LABEL, "operator": "In", "values": list(products)}]}
    return {"node_affinity": {"required_during_scheduling_ignored_during_execution": {"node_selector_term": [term]}}}


def _service(stack, service: ir.Service, settings: Mapping[str, object], namespace, extra: Mapping[str, str],
             key: str = "", routed: bool = False):
    """LoadBalancer on the http listeners (https is the Ingress's); ClusterIP behind the Ingress if none is http, or
    behind the Gateway's HTTPRoute if `routed`. The LoadBalancer Service is single-stack in settings["ip_family"]
    and carries the source ranges of that family."""
    lb = service.load_balancer
    http = [x for x in lb.serving if x.protocol == "http"]
    if http and not routed:
        family = str(settings.get("ip_family") or "IPv4")
        ports = [{"name": f"http-{x.port}", "port": x.port, "target_port": str(service.port), "protocol": "TCP"}
                 for x in http]
        annotations = {**(INTERNAL_LB if not lb.public else PUBLIC_LB), **extra}
        spec = {
            "type": "LoadBalancer", "selector": {NAME_LABEL: service.name}, "port": ports,
            "ip_families": [family], "ip_family_policy": "SingleStack",
            "load_balancer_source_ranges": source_ranges(service, family),
            # ClientIP affinity needs the client's address at the node: Local keeps it (no SNAT hop).
            "session_affinity": "ClientIP" if lb.stickiness else None,
            "external_traffic_policy": "Local" if lb.stickiness else None}
    else:
        annotations = dict(extra)
        spec = {"type": "ClusterIP", "selector": {NAME_LABEL: service.name}, "port": [
            {"name": "http", "port": service.port, "target_port": str(service.port), "protocol": "TCP"}]}
    return stack.add("kubernetes_service_v1", f"service{key}", metadata=_meta(service, namespace, annotations),
                     spec=spec)


def service_port(service: ir.Service) -> int:
    """The Service port the Ingress forwards to: the first http listener's, else the model port (ClusterIP)."""
    http = [x.port for x in service.load_balancer.serving if x.protocol == "http"]
    return http[0] if http else service.port


def ingress_rule(service: ir.Service, host: str | None) -> dict:
    """The Ingress rule of `host` (every host if None): every path to the Service."""
    path = {"path": "/", "path_type": "Prefix",
            "backend": {"service": {"name": service.name, "port": {"number": service_port(service)}}}}
    return {"host": host, "http": {"path": [path]}}


def _ingress(stack, service: ir.Service, settings: Mapping[str, object], namespace) -> None:
    """TLS with the namespace's secret, every path to the Service; the redirect as an ingress-nginx annotation."""
    host = settings.get("host") or None
    redirect = any(x.redirect_to for x in service.load_balancer.listeners)
    stack.add("kubernetes_ingress_v1", "ingress",
              metadata=_meta(service, namespace, FORCE_SSL_REDIRECT if redirect else None),
              spec={"ingress_class_name": settings.get("ingress_class") or None,
                    "tls": [{"secret_name": settings.get("certificate"), "hosts": [host] if host else None}],
                    "rule": [ingress_rule(service, host)]})


def _autoscaler(stack, service: ir.Service, namespace, key: str = "") -> None:
    auto = service.autoscale
    if auto.metric == "cpu_percent":
        metric = {"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "average_utilization": int(auto.target)}}}
    else:
        metric = {"type": "Pods", "pods": {
            "metric": {"name": REQUEST_METRIC},
            "target": {"type": "AverageValue", "average_value": decimal_quantity(auto.target)}}}
    behavior = {
        "scale_up": [{"select_policy": "Max", "stabilization_window_seconds": auto.scale_out_delay_s,
                      "policy": _policies(SCALE_UP_POLICIES)}],
        "scale_down": [{"select_policy": "Max", "stabilization_window_seconds": auto.scale_in_delay_s,
                        "policy": _policies(SCALE_DOWN_POLICIES)}]}
    stack.add("kubernetes_horizontal_pod_autoscaler_v2", f"autoscaler{key}", metadata=_meta(service, namespace), spec={
        "min_replicas": service.min_replicas, "max_replicas": service.max_replicas,
        "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": service.name},
        "metric": [metric], "behavior": behavior})


def _policies(policies) -> list[dict]:
    return [{"type": kind, "value": value, "period_seconds": period} for kind, value, period in policies]


def _disruption_budget(stack, service: ir.Service, namespace, key: str = "") -> None:
    """At most one replica evicted at a time by drains and upgrades. maxUnavailable rather than minAvailable: a
    minAvailable of the replica count would block every drain for good with one replica or at the HPA minimum."""
    stack.add("kubernetes_pod_disruption_budget_v1", f"disruption_budget{key}", metadata=_meta(service, namespace),
              spec={"max_unavailable": "1", "selector": {"match_labels": {NAME_LABEL: service.name}}})

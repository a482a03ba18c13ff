"""GKE target: limits and capability gaps of a regional cluster with one node pool running the kubernetes workload."""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re

from compiler import ir
from compiler.errors import Diagnostic
from targets import delivery
from targets.base import Limit, check_limits, check_variants, error, fallback_refused, on_demand_base_refused, warning
from targets.gcp import limits as gcp_limits
from targets.gcp.limits import SUCCESS_CODE, check_labels, gpu_kind
from targets.kubernetes import cluster
from targets.kubernetes.cluster import tiered
from targets.kubernetes.limits import KUBERNETES_VARIANTS, check_workload, source_family_problems

_GKE_DOC = "https://cloud.google.com/kubernetes-engine/docs/"
_ALLOCATABLE_DOC = _GKE_DOC + "concepts/plan-node-sizes#node_allocatable_resources"
_INGRESS_HC_DOC = _GKE_DOC + "concepts/ingress#def_inf_hc"
_INGRESS_CONFIG_DOC = _GKE_DOC + "how-to/ingress-configuration"
_TIMEOUT_DOC = _INGRESS_CONFIG_DOC + "#timeout"
_AFFINITY_DOC = _INGRESS_CONFIG_DOC + "#session_affinity"
_ARMOR_DOC = _INGRESS_CONFIG_DOC + "#cloud_armor"
_FRONTENDCONFIG_DOC = _INGRESS_CONFIG_DOC + "#https_redirect"
_INTERNAL_INGRESS_DOC = _GKE_DOC + "how-to/internal-load-balance-ingress"
_PRE_SHARED_DOC = _GKE_DOC + "how-to/ingress-multi-ssl"
_TF_CLUSTER_DOC = "https://registry.terraform.io/providers/hashicorp/google/8.7.0/docs/resources/container_cluster"
_STACK_DOC = _TF_CLUSTER_DOC + "#stack_type"
_MANIFEST_DOC = ("https://registry.terraform.io/providers/hashicorp/kubernetes/latest/docs/resources/manifest"
                 "#before-you-use-this-resource")
_GPU_ZONES_DOC = "https://cloud.google.com/compute/docs/gpus/gpu-regions-zones"
_DISK_DOC = _TF_CLUSTER_DOC + "#disk_size_gb"
_AUTHORIZED_DOC = _GKE_DOC + "how-to/authorized-networks"

# The node's boot disk: "The smallest allowed disk size is 10GB" (_DISK_DOC); a persistent disk takes at most
# 64 TiB (https://cloud.google.com/compute/docs/disks#introduction).
LIMITS = (
    Limit("hardware.disk_gib", lambda s: s.disk_gib, 10, 65536, "a GKE node boot disk (disk_size_gb)", _DISK_DOC,
          " GiB"),
)

# With the Ingress, the load balancer's health check is inferred from the readiness probe (_INGRESS_HC_DOC): its
# interval and timeout become checkIntervalSec and timeoutSec, whose ranges are Google Cloud's (targets.gcp).
HEALTH_CHECK_LIMITS = tuple(x for x in gcp_limits.LIMITS
                            if x.path in ("probes.readiness.interval", "probes.readiness.timeout"))

# What GKE fixes when it infers the health check from a readiness probe (container-native load balancing), and the
# backend service's response timeout without a BackendConfig (_INGRESS_HC_DOC, _TIMEOUT_DOC).
INFERRED_UNHEALTHY_THRESHOLD = 2
BACKEND_TIMEOUT_S = 30

# Node allocatable (_ALLOCATABLE_DOC): GKE reserves CPU and memory for the kubelet and system daemons, and keeps an
# eviction threshold of 100 MiB. Tiers are (width, share): 6% of the first core, 1% of the next, 0.5% of the next
# two, 0.25% of any above 4; 25% of the first 4 GiB of memory, 20% of the next 4, 10% of the next 8, 6% of the
# next 112, 2% of any above 128 (255 MiB on machines under 1 GiB).
CPU_RESERVED = ((1, 0.06), (1, 0.01), (2, 0.005), (math.inf, 0.0025))
MEMORY_RESERVED = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (math.inf, 0.02))
EVICTION_GIB = 100 / 1024

# GKE node label naming a GPU node's accelerator (Google's accelerator type); replicas select it instead of GPU
# Feature Discovery's product label, which GKE nodes do not carry (_GKE_DOC + "how-to/gpus#multiple_gpus").
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
NEG_ANNOTATION = {"cloud.google.com/neg": '{"ingress": true}'}

# A pre-shared certificate is a Compute Engine SslCertificate named by the annotation (a comma-separated list).
_CERT_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
ALL_IPV4, ALL_IPV6 = "0.0.0.0/0", "::/0"


def allocatable(vcpus: float, memory_gib: float) -> tuple[float, float]:
    """(vCPUs, GiB) a GKE Standard node of this size leaves for pods."""
    memory_reserved = 255 / 1024 if memory_gib < 1 else tiered(memory_gib, MEMORY_RESERVED)
    return vcpus - tiered(vcpus, CPU_RESERVED), memory_gib - memory_reserved - EVICTION_GIB


def workload_settings(service: ir.Service, target: ir.Target) -> dict[str, object]:
    """targets.gke as the kubernetes workload reads it: GPU replicas select GKE's accelerator node label."""
    machine = target.machine
    selector = {ACCELERATOR_LABEL: machine.provider_accelerator} \
        if service.accelerator_count and machine and machine.provider_accelerator else None
    # The cluster is IPv4 only (stack_type unset: IPV4), and so is its Service: its source ranges are the IPv4 ones.
    return cluster.workload_settings(service, target, selector, ip_family="IPv4")


def has_https(service: ir.Service) -> bool:
    return any(x.protocol == "https" for x in service.load_balancer.listeners)


def check(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """Everything GKE cannot express, as errors naming field and range. No CDK needed."""
    out = check_workload(service, "gke", workload_settings(service, target), ingress=False, node_disk=True)
    out += check_variants("gke", service, KUBERNETES_VARIANTS)
    out += delivery.check("gke", service, target)
    out += check_limits("gke", service, LIMITS)
    out += check_labels("gke", service)  # the cluster's and nodes' Google Cloud labels
    out += _check_machine(service, target)
    out += _check_fallback(service, target)
    out += _check_ingress(service, target) if has_https(service) else []
    out += _check_service(service)
    out += _check_cluster(service, target)
    return out


def _check_machine(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    machine, out = target.machine, []
    unknown = [m.instance_type for m in target.machines if not m.provider_accelerator]
    if service.accelerator_count and unknown:
        return [error("gke", "hardware.instance_types.gke",
                      f"hardware.instance_types.gke '{name}' is not in the catalog, so infc does not know Google's "
                      f"accelerator type for {service.accelerator}, which the node pool's guest_accelerator needs; "
                      "pick a catalog type") for name in unknown]
    if machine.accelerator_count < service.accelerator_count:
        out.append(error("gke", "hardware.count",
                         f"hardware.count is {service.accelerator_count}; a {machine.instance_type} node has "
                         f"{machine.accelerator_count}x {service.accelerator}"))
    if gpu_kind(target) == "attached":
        out.append(warning("gke", "hardware.accelerator",
                           f"{machine.instance_type} takes {service.accelerator} as an attached GPU, which not every "
                           "zone offers: the node pool uses the regional cluster's default zones, and creating it "
                           f"fails if one lacks {machine.provider_accelerator} (see {_GPU_ZONES_DOC})"))
    return out + cluster.check_fit("gke", service, target, allocatable, "GKE's", _ALLOCATABLE_DOC)


def _check_ingress(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """https is a GKE Ingress (external Application Load Balancer) whose health check GKE infers from the readiness
    probe: a BackendConfig or FrontendConfig would need kubernetes_manifest, which cannot plan before the cluster
    exists (_MANIFEST_DOC), so what only they express is an error or a warning here."""
    lb, hc, out = service.load_balancer, service.readiness, check_limits("gke", service, HEALTH_CHECK_LIMITS)
    if hc.port != service.port:
        out.append(error("gke", "probes.readiness.port",
                         f"probes.readiness.port is {hc.port}; the GKE Ingress infers its health check from the "
                         f"readiness probe only on the serving port (model.port {service.port}), and checks GET / "
                         f"otherwise (see {_INGRESS_HC_DOC})"))
    if hc.success_codes != SUCCESS_CODE:
        out.append(error("gke", "probes.readiness.success_codes",
                         f"probes.readiness.success_codes is \"{hc.success_codes}\"; the GKE Ingress health check "
                         f"passes only on HTTP 200, which cannot be changed (see {_INGRESS_HC_DOC}); use \"200\""))
    if not lb.public:
        out.append(error("gke", "load_balancer.public",
                         "load_balancer.public: false with an https listener is not supported on gke: an internal "
                         "Ingress (class gce-internal) needs a proxy-only subnet and a regional certificate, which "
                         f"infc does not emit (see {_INTERNAL_INGRESS_DOC})"))
    if ALL_IPV4 not in lb.allowed_cidrs:
        out.append(error("gke", "load_balancer.allowed_cidrs",
                         "load_balancer.allowed_cidrs cannot restrict the https Ingress on gke: its load balancer "
                         "takes source ranges only from a Cloud Armor policy attached through a BackendConfig, "
                         f"which cannot be planned before the cluster exists (see {_ARMOR_DOC})"))
    out += _check_certificate(target)
    # Endpoints join the NEG only once the pod is ready, so the probe's own thresholds still apply; the load
    # balancer's fixed 2 failures only make it drop a failing replica sooner than a larger unhealthy_threshold.
    if hc.unhealthy_threshold > INFERRED_UNHEALTHY_THRESHOLD:
        out.append(warning("gke", "probes.readiness.unhealthy_threshold",
                           f"the GKE Ingress health check takes a replica out after {INFERRED_UNHEALTHY_THRESHOLD} "
                           f"failed checks, which GKE fixes when it infers the check from the readiness probe, "
                           f"sooner than probes.readiness.unhealthy_threshold {hc.unhealthy_threshold} (see "
                           f"{_INGRESS_HC_DOC})"))
    out.append(warning("gke", "load_balancer.idle_timeout",
                       f"the GKE Ingress keeps its backend service's default {BACKEND_TIMEOUT_S}s response timeout "
                       "(only a BackendConfig's timeoutSec changes it, which infc cannot plan with the cluster): a "
                       f"response that takes longer, e.g. a long non-streamed completion, fails with 502 (see "
                       f"{_TIMEOUT_DOC})", always=True))
    for i, listener in enumerate(lb.listeners):
        if listener.redirect_to is not None:
            out.append(warning("gke", f"load_balancer.listeners.{i}.redirect_to",
                               f"load_balancer.listeners[{i}].redirect_to: the GKE Ingress redirects HTTP to HTTPS "
                               "only through a FrontendConfig, which cannot be planned before the cluster exists; "
                               "infc turns plain HTTP off on the Ingress (kubernetes.io/ingress.allow-http: false), so "
                               f"http://{target.get('host') or '<ingress address>'} is refused, not redirected (see "
                               f"{_FRONTENDCONFIG_DOC})"))
    if lb.stickiness:
        out.append(warning("gke", "load_balancer.stickiness",
                           "load_balancer.stickiness is not carried on the https Ingress: its session affinity is a "
                           f"BackendConfig setting (see {_AFFINITY_DOC})"))
    return out


def _check_certificate(target: ir.Target) -> list[Diagnostic]:
    names = str(target.get("certificate") or "").split(",")
    bad = [name for name in names if not _CERT_NAME.fullmatch(name)]
    if bad:
        return [error("gke", "targets.gke.certificate",
                      f"targets.gke.certificate '{bad[0]}' is not the name of a Compute Engine SSL certificate "
                      "(1-63 lowercase letters, digits and '-', starting with a letter; several separated by ','): "
                      f"the Ingress's pre-shared-cert annotation takes names, not paths (see {_PRE_SHARED_DOC})")]
    return []


def _check_service(service: ir.Service) -> list[Diagnostic]:
    """http listeners are a LoadBalancer Service of the IPv4-only cluster: it carries the IPv4 ranges only."""
    return source_family_problems(service, "gke", "IPv4", "the cluster and its Service load balancer are IPv4 only",
                                  _STACK_DOC)


def _check_cluster(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """The cluster settings of targets.gke that pydantic cannot judge alone. No CDK needed."""
    out = []
    v6 = [c for c in target.get("master_authorized_cidrs") or () if ipaddress.ip_network(c).version == 6]
    if v6:
        out.append(error("gke", "targets.gke.master_authorized_cidrs",
                         f"targets.gke.master_authorized_cidrs has IPv6 ranges ({', '.join(v6)}); the cluster's "
                         f"control plane endpoint is IPv4 only, so list IPv4 ranges (see {_AUTHORIZED_DOC})"))
    if target.get("cloud_nat") is False and not target.get("private_nodes"):
        out.append(warning("gke", "targets.gke.cloud_nat", "targets.gke.cloud_nat: false has no effect without "
                                                           "targets.gke.private_nodes: true (nodes have external "
                                                           "IPs and need no NAT)"))
    return out


# "Node pool names must start with a lowercase letter followed by up to 39 lowercase letters, numbers, or hyphens"
# (gcloud container node-pools create; the API's NodePool.name).
_POOL_NAME_MAX = 40
_POOL_DOC = "https://cloud.google.com/sdk/gcloud/reference/container/node-pools/create"


def _check_fallback(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """The capacity fallback as one node pool per type, named <metadata.name>-<type>: one workload serves them all,
    so one accelerator and count (alternatives are refused), and each pool name within _POOL_NAME_MAX."""
    one = dataclasses.replace(service, flexible=False)
    out = fallback_refused("gke", one, None, "the node pools serve one workload, which requests one GPU count and "
                                             "selects one accelerator (cloud.google.com/gke-accelerator)"
                           ) if service.alternatives else []
    for machine in target.fallback:
        name = f"{service.name}-{machine.instance_type}"
        if len(name) > _POOL_NAME_MAX:
            out.append(error("gke", "metadata.name",
                             f"the node pool of {machine.instance_type} would be named '{name}' ({len(name)} "
                             f"characters); GKE takes at most {_POOL_NAME_MAX} (see {_POOL_DOC}): shorten "
                             "metadata.name"))
    return out + on_demand_base_refused("gke", service, "a node pool is all Spot or all standard nodes, and the "
                                                        "workload cannot ask for a number of each")

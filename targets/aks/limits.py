"""AKS target: limits and capability gaps of an AKS cluster with a system pool and a GPU (or CPU) user pool running the
kubernetes workload, http listeners on the Azure Load Balancer (a LoadBalancer Service) and https on the application
routing add-on's NGINX Ingress. No CDK."""

from __future__ import annotations

import ipaddress
import math
import re

from compiler import ir
from compiler.errors import Diagnostic
from targets import delivery
from targets.azure import site as azure_site
from targets.azure.registry import unnamed_registry
from targets.base import Limit, check_limits, check_variants, error, fallback_refused, on_demand_base_refused, warning
from targets.kubernetes import cluster
from targets.kubernetes.limits import KUBERNETES_VARIANTS, check_workload

_AKS_DOC = "https://learn.microsoft.com/en-us/azure/aks/"
_RESERVED_DOC = _AKS_DOC + "node-resource-reservations"
_GPU_DOC = _AKS_DOC + "use-nvidia-gpu"
_SPOT_DOC = _AKS_DOC + "spot-node-pool"
_APP_ROUTING_DOC = _AKS_DOC + "app-routing-dns-ssl"
_AUTHORIZED_DOC = _AKS_DOC + "api-server-authorized-ip-ranges"
_AZUREML_DOC = "https://learn.microsoft.com/en-us/azure/machine-learning/how-to-deploy-kubernetes-extension"
# Service annotations of the Azure cloud provider and their ranges: probe interval at least 5 s, at least 2 probes,
# interval x probes at most 120 s (pkg/consts/consts.go HealthProbeParams*), TCP idle timeout whole minutes 4-30.
_PROBE_DOC = ("https://github.com/kubernetes-sigs/cloud-provider-azure/blob/master/pkg/consts/consts.go "
              "(HealthProbeParamsProbeInterval, HealthProbeParamsNumOfProbe)")
_LB_DOC = "https://cloud-provider-azure.sigs.k8s.io/topics/loadbalancer/#loadbalancer-annotations"
_NODEPOOL_DOC = "https://learn.microsoft.com/en-us/cli/azure/aks/nodepool#az-aks-nodepool-add"
PROBE_TOTAL_S, MIN_PROBES = 120, 2

# http listeners: the Azure Load Balancer of the LoadBalancer Service, its health probe from the readiness probe.
SERVICE_LIMITS = (
    Limit("probes.readiness.interval", lambda s: s.readiness.interval_s, 5, PROBE_TOTAL_S // MIN_PROBES,
          "an AKS load balancer health probe interval (with at least 2 probes in 120s)", _PROBE_DOC, "s"),
    Limit("load_balancer.idle_timeout", lambda s: s.load_balancer.idle_timeout_s, 240, 1800,
          "an AKS load balancer TCP idle timeout (whole minutes 4-30)", _LB_DOC, "s"),
)
# Nodes' OS disks: "Minimum 30 GB" (az aks nodepool add --node-osdisk-size); the API takes at most 2048 GB.
LIMITS = (
    Limit("hardware.disk_gib", lambda s: s.disk_gib, 30, 2048, "an AKS node OS disk (os_disk_size_gb)", _NODEPOOL_DOC,
          " GiB"),
)
MAX_NODES = 1000  # nodes per node pool (the provider's max_count range, 1-1000)

# Node allocatable (_RESERVED_DOC, AKS 1.29 and later): kube-reserved CPU 60m for the first core, 40m for the
# second, 20m for each of the next two and 10m for each above 4 (the page's table: 60/100/140/180/260/420/740m for
# 1-64 cores); kube-reserved memory the smaller of 20 MB x max pods + 50 MB and 25% of memory; a 100 MiB eviction
# threshold. infc sets max pods to 110 on both pools and counts MB as MiB (reserving a little more, never less).
CPU_RESERVED = ((1, 0.06), (1, 0.04), (2, 0.02), (math.inf, 0.01))
MAX_PODS = 110
EVICTION_GIB = 100 / 1024

POOL_LABEL = "kubernetes.azure.com/agentpool"  # set by AKS on every node of a pool
POOL = "model"  # the user pool the replicas run on (Linux pool names: 1-12 lowercase letters and digits)
# AKS taints Spot pools so that only pods that tolerate eviction land there (_SPOT_DOC).
SPOT_TOLERATION = {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot",
                   "effect": "NoSchedule"}
# The application routing add-on's managed NGINX IngressClass (_APP_ROUTING_DOC).
INGRESS_CLASS = "webapprouting.kubernetes.azure.com"
_CERTIFICATE = re.compile(r"https://[a-z0-9-]{3,24}\.vault\.azure\.net/certificates/[A-Za-z0-9-]{1,127}(/[0-9a-f]{32})?")


def allocatable(vcpus: float, memory_gib: float) -> tuple[float, float]:
    """(vCPUs, GiB) an AKS node of this size leaves for pods."""
    kube_reserved = min((20 * MAX_PODS + 50) / 1024, 0.25 * memory_gib)
    return vcpus - cluster.tiered(vcpus, CPU_RESERVED), memory_gib - kube_reserved - EVICTION_GIB


def workload_settings(service: ir.Service, target: ir.Target) -> dict[str, object]:
    """targets.aks as the kubernetes workload reads it: replicas run on the user pool and tolerate its Spot taint."""
    extra = {"tolerations": [SPOT_TOLERATION]} if service.spot else {}
    # The cluster is IPv4 only (network_profile ip_versions unset), and so is its Service.
    return cluster.workload_settings(service, target, {POOL_LABEL: POOL}, ip_family="IPv4", **extra)


def has_https(service: ir.Service) -> bool:
    return any(x.protocol == "https" for x in service.load_balancer.listeners)


def serves_http(service: ir.Service) -> bool:
    return any(x.protocol == "http" for x in service.load_balancer.serving)


def check(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """Everything AKS cannot express, as errors naming field and range. No CDK needed."""
    http, https = serves_http(service), has_https(service)
    out = check_workload(service, "aks", workload_settings(service, target), ingress=False, node_disk=True,
                         idle_timeout=True)
    out += check_variants("aks", service, KUBERNETES_VARIANTS)
    out += delivery.check("aks", service, target)
    out += check_limits("aks", service, LIMITS)
    out += azure_site.check_tags("aks", service)
    out += _check_probe(service) if http else []
    out += _check_ingress(service, target) if https else []
    out += _check_machine(service, target)
    out += fallback_refused("aks", service, target, "the replicas' node pool has one VM size (vm_size), and infc "
                                                    "emits one pool")
    out += on_demand_base_refused("aks", service, "the node pool runs all its nodes at one priority (Regular or Spot)")
    out += _check_cluster(service, target)
    return out


def _check_probe(service: ir.Service) -> list[Diagnostic]:
    """The LoadBalancer Service's probe: the readiness path on the model port, at most 120 s of probes."""
    out = check_limits("aks", service, SERVICE_LIMITS)
    hc, lb = service.readiness, service.load_balancer
    if hc.unhealthy_threshold < MIN_PROBES:
        out.append(error("aks", "probes.readiness.unhealthy_threshold",
                         f"probes.readiness.unhealthy_threshold is {hc.unhealthy_threshold}; an AKS load balancer "
                         f"health probe takes at least {MIN_PROBES} probes (see {_PROBE_DOC})"))
    elif hc.interval_s * hc.unhealthy_threshold > PROBE_TOTAL_S and not out:
        out.append(error("aks", "probes.readiness.unhealthy_threshold",
                         f"probes.readiness.unhealthy_threshold is {hc.unhealthy_threshold}; with interval "
                         f"{hc.interval_s}s that is {hc.interval_s * hc.unhealthy_threshold}s of probes, and an AKS load "
                         f"balancer health probe's probes must fit in {PROBE_TOTAL_S}s (see {_PROBE_DOC})"))
    if lb.idle_timeout_s % 60:
        out.append(error("aks", "load_balancer.idle_timeout",
                         f"load_balancer.idle_timeout is {lb.idle_timeout_s}s; an AKS load balancer TCP idle timeout "
                         f"is whole minutes (see {_LB_DOC})"))
    if hc.port != service.port:
        out.append(warning("aks", "probes.readiness.port",
                           f"probes.readiness.port is {hc.port}, but the Azure Load Balancer probes the Service's "
                           f"target port, model.port {service.port}: it checks {hc.path} there (the pods' readiness "
                           "probe still checks the readiness port)"))
    return out


def _check_ingress(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """https is the application routing add-on's NGINX Ingress with the certificate from Key Vault."""
    lb, out = service.load_balancer, []
    certificate = str(target.get("certificate") or "")
    if not _CERTIFICATE.fullmatch(certificate):
        out.append(error("aks", "targets.aks.certificate",
                         f"targets.aks.certificate '{certificate}' is not a Key Vault certificate URI "
                         "(https://<vault>.vault.azure.net/certificates/<name>), which the application routing "
                         f"add-on reads the https certificate from (see {_APP_ROUTING_DOC})"))
    if not lb.public or lb.allowed_cidrs != ("0.0.0.0/0",):
        out.append(error("aks", "load_balancer.allowed_cidrs" if lb.public else "load_balancer.public",
                         "the https listener is the application routing add-on's NGINX Ingress, whose load balancer "
                         "is public and open to all: an internal or source-restricted one is an NginxIngressController "
                         "resource, which cannot be planned before the cluster exists; use http listeners (the "
                         f"Service's load balancer takes both) or allow 0.0.0.0/0 (see {_APP_ROUTING_DOC})"))
    if not target.get("key_vault_id"):
        out.append(warning("aks", "targets.aks.certificate",
                           "targets.aks.key_vault_id is not set: grant the application routing add-on's identity "
                           "(output ingress_identity) the Key Vault Secrets User role on the vault of "
                           "targets.aks.certificate, or https serves NGINX's default certificate (see "
                           f"{_APP_ROUTING_DOC})"))
    if lb.idle_timeout_s != 240 and not serves_http(service):
        out.append(warning("aks", "load_balancer.idle_timeout",
                           f"load_balancer.idle_timeout ({lb.idle_timeout_s}s) is not carried to the https Ingress: "
                           "the add-on's NGINX load balancer keeps Azure's default of 4 minutes"))
    return out


def _check_machine(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    machine, out = target.machine, []
    if machine.accelerator_count < service.accelerator_count:
        out.append(error("aks", "hardware.count",
                         f"hardware.count is {service.accelerator_count}; a {machine.instance_type} node has "
                         f"{machine.accelerator_count}x {service.accelerator}"))
    bounds = cluster.node_bounds(service, target)
    if bounds.max_nodes > MAX_NODES:
        out.append(error("aks", "replicas.max",
                         f"replicas.max is {service.max_replicas}, {bounds.max_nodes} nodes of "
                         f"{machine.instance_type}; an AKS node pool holds at most {MAX_NODES} nodes (see "
                         f"{_NODEPOOL_DOC})"))
    return out + cluster.check_fit("aks", service, target, allocatable, "AKS's", _RESERVED_DOC)


def _check_cluster(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    out = []
    cidrs = target.get("api_authorized_cidrs") or ()
    v6 = [c for c in cidrs if ipaddress.ip_network(c).version == 6]
    if v6:
        out.append(error("aks", "targets.aks.api_authorized_cidrs",
                         f"targets.aks.api_authorized_cidrs has IPv6 ranges ({', '.join(v6)}); the API server's "
                         f"authorized IP ranges are IPv4 (see {_AUTHORIZED_DOC})"))
    if cidrs and target.get("azureml_compute") is not None:
        out.append(warning("aks", "targets.aks.api_authorized_cidrs",
                           "with targets.aks.api_authorized_cidrs, the Azure ML extension deploys models only if the "
                           "ranges include the Azure Machine Learning control plane's, in the workspace's region and "
                           f"its paired region (see {_AZUREML_DOC})"))
    out += unnamed_registry("aks", service, target, "the nodes", "the kubelet identity",
                            "the pods fail with ErrImagePull")
    v6 = [c for c in service.load_balancer.allowed_cidrs if ipaddress.ip_network(c).version == 6]
    if v6 and serves_http(service) and len(v6) == len(service.load_balancer.allowed_cidrs):
        # the Service carries the IPv4 ranges alone: with none, it would admit every address
        out.append(error("aks", "load_balancer.allowed_cidrs",
                         f"load_balancer.allowed_cidrs has only IPv6 ranges ({', '.join(v6)}), but the cluster and "
                         "its load balancer are IPv4 only: no client could reach it; list IPv4 ranges"))
    elif v6 and serves_http(service):
        out.append(warning("aks", "load_balancer.allowed_cidrs",
                           f"load_balancer.allowed_cidrs has IPv6 ranges ({', '.join(v6)}), but the cluster and its "
                           "load balancer are IPv4 only: clients reach it over IPv4 from the IPv4 ranges alone"))
    return out

"""EKS target: limits and capability gaps of an EKS cluster with one managed node group running the kubernetes
workload, its http listeners on a Classic Load Balancer (the in-tree service controller) and https on an ALB Ingress
(the AWS Load Balancer Controller). No CDK."""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re

from compiler import ir, values
from compiler.errors import Diagnostic
from targets import delivery
from targets.aws import limits as aws_limits
from targets.base import (Limit, check_limits, check_variants, error, fallback_refused, label_errors,
                          on_demand_base_refused, warning)
from targets.kubernetes import cluster
from targets.kubernetes.limits import KUBERNETES_VARIANTS, check_workload

_EKS_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/"
_AMI_DOC = _EKS_DOC + "ml-eks-optimized-ami.html"
_CAPACITY_DOC = _EKS_DOC + "managed-node-groups.html#managed-node-group-capacity-types"
_DEVICE_PLUGIN_DOC = _EKS_DOC + "ml-eks-k8s-device-plugin.html"
_AUTOSCALING_DOC = _EKS_DOC + "autoscaling.html"
_MAX_PODS_DOC = _EKS_DOC + "cni-increase-ip-addresses.html"
_RESERVED_DOC = ("https://github.com/awslabs/amazon-eks-ami/blob/main/nodeadm/internal/kubelet/config.go "
                 "(getCPUMillicoresToReserve, GetMemoryMebibytesToReserve)")
_LBC_DOC = "https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/"
_LBC_INSTALL_DOC = _EKS_DOC + "lbc-helm.html"
_CLB_DOC = "https://cloud-provider-aws.sigs.k8s.io/service_controller/"
_ACM_DOC = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/https-listener-certificates.html"
_ENDPOINT_DOC = _EKS_DOC + "cluster-endpoint.html"

# http listeners: a LoadBalancer Service, which EKS's in-tree service controller makes a Classic Load Balancer;
# its annotations take an idle timeout of 1-4000 s and a connection draining timeout of 1-3600 s (0: draining off).
SERVICE_LIMITS = (
    Limit("load_balancer.idle_timeout", lambda s: s.load_balancer.idle_timeout_s, 1, 4000,
          "a Classic Load Balancer idle timeout", _CLB_DOC, "s"),
    Limit("load_balancer.drain_timeout", lambda s: s.load_balancer.drain_timeout_s, 0, 3600,
          "a Classic Load Balancer connection draining timeout", _CLB_DOC, "s"),
)

# https listeners: an Ingress the AWS Load Balancer Controller makes an ALB of, with the readiness probe as its target
# group's health check and the idle timeout and deregistration delay as attributes: the ALB ranges of targets.aws.
INGRESS_LIMITS = tuple(x for x in aws_limits.LIMITS if x.path in (
    "probes.readiness.interval", "probes.readiness.timeout", "probes.readiness.healthy_threshold",
    "probes.readiness.unhealthy_threshold", "load_balancer.idle_timeout", "load_balancer.drain_timeout"))
ALB_MATCHER = (200, 499)  # ALB health-check matchers: HTTP codes 200-499 (API_Matcher)

# Instance families each EKS-optimized accelerated AMI type supports (_AMI_DOC, "EKS AMI variant" table); the node
# group's ami_type by (GPU?, arch). CPU nodes run the standard AL2023 AMI.
AMI_TYPES = {
    (True, "x86_64"): "AL2023_x86_64_NVIDIA", (True, "arm64"): "AL2023_ARM_64_NVIDIA",
    (False, "x86_64"): "AL2023_x86_64_STANDARD", (False, "arm64"): "AL2023_ARM_64_STANDARD",
}
NVIDIA_FAMILIES = {
    "x86_64": ("p6-b300", "p6-b200", "p5", "p5e", "p5en", "p4d", "p4de", "p3", "p3dn", "g7e", "gr6", "g6", "g6e",
               "g6f", "gr6f", "g5", "g4dn"),
    "arm64": ("p6e-gb200", "p6e-gb300", "g5g"),
}

# Node allocatable on the AL2023 AMIs (nodeadm, _RESERVED_DOC): kube-reserved CPU in GKE's tiers (6% of the first
# core, 1% of the next, 0.5% of the next 2, 0.25% above 4), kube-reserved memory 255 MiB + 11 MiB per pod the node
# may run, and the kubelet's 100 MiB eviction threshold. Managed node groups cap max pods at 110 below 30 vCPUs and at
# 250 from 30 (_MAX_PODS_DOC); a type's network interfaces may allow fewer, so the cap is the most EKS reserves.
CPU_RESERVED = ((1, 0.06), (1, 0.01), (2, 0.005), (math.inf, 0.0025))
EVICTION_GIB = 100 / 1024


def max_pods(vcpus: float) -> int:
    return 110 if vcpus < 30 else 250


def allocatable(vcpus: float, memory_gib: float) -> tuple[float, float]:
    """(vCPUs, GiB) an EKS managed node of this size leaves for pods, at most."""
    kube_reserved = (255 + 11 * max_pods(vcpus)) / 1024
    return vcpus - cluster.tiered(vcpus, CPU_RESERVED), memory_gib - kube_reserved - EVICTION_GIB


NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"  # set by EKS on every node of a managed node group


def node_group_name(service: ir.Service) -> str:
    return f"{service.name}-nodes"


def workload_settings(service: ir.Service, target: ir.Target) -> dict[str, object]:
    """targets.eks as the kubernetes workload reads it: replicas run on the stack's node group."""
    # The cluster is IPv4 only (kubernetes_network_config ip_family unset: ipv4), and so is its Service.
    return cluster.workload_settings(service, target, {NODEGROUP_LABEL: node_group_name(service)}, ip_family="IPv4")


def has_https(service: ir.Service) -> bool:
    return any(x.protocol == "https" for x in service.load_balancer.listeners)


def serves_http(service: ir.Service) -> bool:
    return any(x.protocol == "http" for x in service.load_balancer.serving)


def check(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """Everything EKS cannot express, as errors naming field and range. No CDK needed."""
    out = check_workload(service, "eks", workload_settings(service, target), ingress=False, node_disk=True,
                         idle_timeout=True)
    out += check_variants("eks", service, KUBERNETES_VARIANTS)
    out += delivery.check("eks", service, target)
    out += label_errors("eks", values.aws_tag_problems(list(service.labels), ()))
    out += aws_limits.check_model_uri("eks", target)
    out += check_limits("eks", service, SERVICE_LIMITS) if serves_http(service) else []
    out += _check_ingress(service, target) if has_https(service) else []
    out += _check_machine(service, target)
    out += _check_fallback(service, target)
    out += _check_nodes(service, target)
    v6 = [c for c in service.load_balancer.allowed_cidrs if ipaddress.ip_network(c).version == 6]
    if v6 and len(v6) == len(service.load_balancer.allowed_cidrs):
        # the Service and the ALB carry the IPv4 ranges alone: with none, they would admit every address
        out.append(error("eks", "load_balancer.allowed_cidrs",
                         f"load_balancer.allowed_cidrs has only IPv6 ranges ({', '.join(v6)}), but the cluster's "
                         "load balancers are IPv4 only: no client could reach them; list IPv4 ranges"))
    elif v6:
        out.append(warning("eks", "load_balancer.allowed_cidrs",
                           f"load_balancer.allowed_cidrs has IPv6 ranges ({', '.join(v6)}), but the cluster's load "
                           "balancers are IPv4 only: clients reach them over IPv4 from the IPv4 ranges alone"))
    v6 = [c for c in target.get("public_access_cidrs") or () if ipaddress.ip_network(c).version == 6]
    if v6:
        out.append(error("eks", "targets.eks.public_access_cidrs",
                         f"targets.eks.public_access_cidrs has IPv6 ranges ({', '.join(v6)}); the cluster's public "
                         f"endpoint takes IPv4 ranges (see {_ENDPOINT_DOC})"))
    return out


def _check_ingress(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """https is an ALB Ingress: the AWS Load Balancer Controller must run in the cluster, the certificate is ACM's."""
    out = check_limits("eks", service, INGRESS_LIMITS)
    for part in service.readiness.success_codes.replace("-", ",").split(","):
        if not ALB_MATCHER[0] <= int(part) <= ALB_MATCHER[1]:
            out.append(error("eks", "probes.readiness.success_codes",
                             f"probes.readiness.success_codes has {part}; an ALB health check accepts codes "
                             f"{ALB_MATCHER[0]}-{ALB_MATCHER[1]} (see {aws_limits._TG_DOC})"))
            break
    certificate = str(target.get("certificate") or "")
    region = re.fullmatch(r"arn:aws[a-z-]*:acm:([a-z0-9-]+):[0-9]{12}:certificate/[A-Za-z0-9-]+", certificate)
    if not region:
        out.append(error("eks", "targets.eks.certificate",
                         f"targets.eks.certificate '{certificate}' is not the ARN of an ACM certificate "
                         f"(arn:aws:acm:<region>:<account>:certificate/<id>), which the ALB's https listener takes "
                         f"(see {_ACM_DOC})"))
    elif region.group(1) != target.get("region"):
        out.append(error("eks", "targets.eks.certificate",
                         f"targets.eks.certificate is an ACM certificate in {region.group(1)}; the ALB in "
                         f"{target.get('region')} takes certificates of its own region only (see {_ACM_DOC})"))
    out.append(warning("eks", "load_balancer.listeners",
                       "the https listener is an Ingress of class alb, which only the AWS Load Balancer Controller "
                       "serves: install it in the cluster (with its IAM permissions) after the first apply, then "
                       "apply again to read the ALB's hostname into the endpoint output; infc does not install it "
                       f"(see {_LBC_INSTALL_DOC})"))
    return out


def _check_machine(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    machine, out = target.machine, []
    family = machine.instance_type.partition(".")[0]
    if service.accelerator_count and family not in NVIDIA_FAMILIES[service.arch]:
        out.append(error("eks", "hardware.instance_types.eks",
                         f"instance type {machine.instance_type} is not one the EKS-optimized accelerated AMI "
                         f"{AMI_TYPES[(True, service.arch)]} supports ({', '.join(NVIDIA_FAMILIES[service.arch])}; "
                         f"see {_AMI_DOC})"))
    if machine.accelerator_count < service.accelerator_count:
        out.append(error("eks", "hardware.count",
                         f"hardware.count is {service.accelerator_count}; a {machine.instance_type} node has "
                         f"{machine.accelerator_count}x {service.accelerator}"))
    return out + cluster.check_fit("eks", service, target, allocatable, "EKS's", _RESERVED_DOC)


def _check_nodes(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """EKS resizes a managed node group only when something asks it to: the replicas' HPA adds pods, not nodes."""
    bounds = cluster.node_bounds(service, target)
    if bounds.max_nodes == bounds.min_nodes:
        return []
    return [warning("eks", "replicas.max",
                    f"the node group starts with {bounds.min_nodes} node(s) and may grow to {bounds.max_nodes}, but "
                    "EKS adds nodes only through an autoscaler running in the cluster: install the Cluster Autoscaler "
                    "(it discovers the node group by the tags EKS puts on its autoscaling group) or Karpenter, or "
                    f"replicas beyond {bounds.min_nodes * bounds.replicas_per_node} stay Pending (see "
                    f"{_AUTOSCALING_DOC})")]


def _check_fallback(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """The capacity fallback as the managed node group's instance_types: one accelerator and count (the workload
    requests one GPU count and selects one accelerator), several types of it. On-demand nodes take the list's order,
    spot nodes the pools with most capacity (_CAPACITY_DOC)."""
    out = fallback_refused("eks", dataclasses.replace(service, flexible=False), None,
                           "the node group's instance types serve one workload, which requests one GPU count "
                           "and selects one accelerator") if service.alternatives else []
    for machine in target.fallback:
        if service.accelerator_count and machine.instance_type.partition(".")[0] not in NVIDIA_FAMILIES[service.arch]:
            out.append(error("eks", "hardware.instance_types.eks",
                             f"instance type {machine.instance_type} is not one the EKS-optimized accelerated AMI "
                             f"{AMI_TYPES[(True, service.arch)]} supports (see {_AMI_DOC})"))
    return out + on_demand_base_refused("eks", service, "a managed node group's capacity_type is all SPOT or all "
                                                        "ON_DEMAND, and infc emits one group")

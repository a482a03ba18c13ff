"""What the managed-cluster targets (gke, eks, aks) share: node counts from replicas, node allocatable and the check
that a replica fits it, the workload's settings, the stack wrapper that orders the workload after the nodes, and the
NVIDIA device plugin for node images that do not bring one."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

from compiler import catalog, ir
from compiler.errors import Diagnostic
from targets.base import error
from targets.kubernetes.limits import GPU_RESOURCE

# The _Workload settings (compiler/spec_base.py) every managed-cluster target passes through to the workload as is.
WORKLOAD_KEYS = ("cpu_limit", "liveness_from_readiness", "run_as_user", "writable_dirs")

# The NVIDIA device plugin advertises each node's GPUs as nvidia.com/gpu; its static manifest
# (https://github.com/NVIDIA/k8s-device-plugin/blob/main/deployments/static/nvidia-device-plugin.yml), at the
# version EKS documents (https://docs.aws.amazon.com/eks/latest/userguide/ml-eks-k8s-device-plugin.html).
DEVICE_PLUGIN = "nvidia-device-plugin-daemonset"
DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.17.4"
DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"

Reservations = tuple[tuple[float, float], ...]  # (width, share) tiers: share of each further `width` of a resource


@dataclasses.dataclass(frozen=True)
class NodeBounds:
    """The node pool's total node counts (all zones together) for the replica bounds."""

    replicas_per_node: int
    min_nodes: int
    max_nodes: int


def node_bounds(service: ir.Service, target: ir.Target) -> NodeBounds:
    """One replica per node unless a node has the GPUs of several: replicas_per_node = node GPUs // replica GPUs
    (catalog types have exactly the replica's count, so 1), and nodes = ceil(replicas / replicas_per_node). A CPU
    replica gets a node of its own, the type the catalog chose for one replica: the cluster autoscaler packs more
    where they fit, so the bounds are never too small."""
    machine = target.machine
    per_node = 1
    if service.accelerator_count and machine.accelerator_count:
        per_node = max(machine.accelerator_count // service.accelerator_count, 1)
    return NodeBounds(per_node, -(-service.min_replicas // per_node), -(-service.max_replicas // per_node))


def tiered(size: float, tiers: Reservations) -> float:
    """What tiered reservations keep of `size`: each tier's share of the part of `size` within its width."""
    total, start = 0.0, 0.0
    for width, share in tiers:
        total += max(min(size, start + width) - start, 0) * share
        start += width
    return total


def workload_settings(service: ir.Service, target: ir.Target, node_selector: Mapping[str, str] | None,
                      **extra: object) -> dict[str, object]:
    """targets.<managed cluster> as the kubernetes workload reads it: the _Workload settings, the namespace (default:
    the service's name), the Ingress host, where the replicas run, and `extra` (e.g. tolerations)."""
    workload = {key: target.get(key) for key in WORKLOAD_KEYS if target.get(key) is not None}
    return {**workload, "namespace": target.get("namespace", service.name), "host": target.get("host"),
            "node_selector": dict(node_selector) if node_selector is not None else None, **extra}


def check_fit(name: str, service: ir.Service, target: ir.Target, allocatable: Callable[[float, float], tuple],
              whose: str, doc: str) -> list[Diagnostic]:
    """A replica's requests must fit what one node leaves pods after `whose` reservations: an error naming the
    fraction left and, where the catalog has one, the cheapest type of the same accelerators that fits."""
    machine, out = target.machine, []
    if machine.vcpus is None:
        return out
    cpus, memory = allocatable(machine.vcpus, machine.memory_gib)
    how = catalog.how_bought(name, service.spot)  # suggest only a type the node pool can buy
    fits = [r for r in catalog.rows(catalog.CATALOG_OF[name])
            if (r.accelerator, r.accelerator_count, r.arch) == (machine.accelerator, machine.accelerator_count,
                                                                service.arch)
            and r.sells(how) and not r.retired and fits_requests(service, *allocatable(r.vcpus, r.memory_gib))]
    larger = (f"set hardware.instance_types.{name}: {min(fits, key=lambda r: r.price_usd_hour).instance_type} or "
              if fits else "")
    if service.cpus is not None and service.cpus > cpus:
        out.append(error(name, "hardware.cpus",
                         f"hardware.cpus is {service.cpus}; a {machine.instance_type} node ({machine.vcpus} vCPUs) "
                         f"leaves {cpus:.2f} for pods after {whose} reservations (see {doc}); {larger}"
                         f"request at most {math.floor(cpus)}"))
    if service.memory_gib is not None and service.memory_gib > memory:
        out.append(error(name, "hardware.memory_gib",
                         f"hardware.memory_gib is {service.memory_gib:g}; a {machine.instance_type} node "
                         f"({machine.memory_gib:g} GiB) leaves {memory:.2f} GiB for pods after {whose} reservations "
                         f"and eviction threshold (see {doc}); {larger}request at most "
                         f"{math.floor(memory * 100) / 100:g}"))
    return out


def fits_requests(service: ir.Service, cpus: float, memory: float) -> bool:
    return (service.cpus or 0) <= cpus and (service.memory_gib or 0) <= memory


class After:
    """The stack, with every resource added through it depending on `dependencies` (for emit_workload, which takes
    no dependencies of its own)."""

    def __init__(self, stack, *dependencies):
        self._stack, self._dependencies = stack, list(dependencies)

    def add(self, type_name: str, construct_id: str, /, **attributes):
        return self._stack.add(type_name, construct_id, depends_on=self._dependencies, **attributes)

    def __getattr__(self, name: str):
        return getattr(self._stack, name)


def device_plugin(stack, node_selector: Mapping[str, str], tolerations: list[dict]):
    """The NVIDIA device plugin DaemonSet on the GPU nodes (`node_selector`), as NVIDIA's static manifest has it:
    kube-system, system-node-critical, no privileges, the kubelet's device-plugin socket directory mounted. Node
    images that bring the driver but not the plugin (EKS AL2023 NVIDIA, AKS GPU pools) need it for nvidia.com/gpu."""
    labels = {"app.kubernetes.io/name": "nvidia-device-plugin", "app.kubernetes.io/managed-by": "infc"}
    container = {
        "name": "nvidia-device-plugin-ctr", "image": DEVICE_PLUGIN_IMAGE,
        # FAIL_ON_INIT_ERROR false: a node without usable GPUs logs and idles instead of crash-looping.
        "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
        "security_context": {"allow_privilege_escalation": False, "capabilities": {"drop": ["ALL"]}},
        "volume_mount": [{"name": "kubelet-device-plugins-dir", "mount_path": DEVICE_PLUGIN_DIR}]}
    return stack.add("kubernetes_daemon_set_v1", "device_plugin", metadata={
        "name": DEVICE_PLUGIN, "namespace": "kube-system", "labels": labels}, spec={
        "selector": {"match_labels": labels}, "strategy": {"type": "RollingUpdate"},
        "template": {"metadata": {"labels": labels}, "spec": {
            "node_selector": dict(node_selector),
            "toleration": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}, *tolerations],
            "priority_class_name": "system-node-critical",
            "container": [container],
            "volume": [{"name": "kubelet-device-plugins-dir",
                        "host_path": {"path": DEVICE_PLUGIN_DIR, "type": "Directory"}}]}}},
        # A DaemonSet on nodes the autoscaler has not started yet never finishes rolling out.
        wait_for_rollout=False)

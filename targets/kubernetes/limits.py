"""Kubernetes target (any cluster): limits, capability gaps and the tables the workload uses (no CDK)."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from decimal import Decimal

from compiler import ir, values
from compiler.errors import Diagnostic, format_path
from targets import delivery
from targets.base import (Limit, check_limits, check_scale_to_zero, error, fallback_refused, on_demand_base_refused,
                          unpulled_image, warning)

_PROBE_DOC = "https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#Probe"
_HTTP_PROBE_DOC = ("https://kubernetes.io/docs/tasks/configure-pod-container/"
                   "configure-liveness-readiness-startup-probes/")
_HPA_DOC = "https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/horizontal-pod-autoscaler-v2/"
_LABEL_DOC = values.KUBERNETES_LABELS_DOC
_QUANTITY_DOC = "https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/"
_INGRESS_DOC = "https://kubernetes.io/docs/concepts/services-networking/ingress/#tls"
_ADAPTER_DOC = "https://github.com/kubernetes-sigs/prometheus-adapter/blob/master/docs/config-walkthrough.md"
_GFD_DOC = "https://github.com/NVIDIA/k8s-device-plugin/blob/main/docs/gfd_labels.md"
_QOS_DOC = "https://kubernetes.io/docs/concepts/workloads/pods/pod-qos/"
_DUAL_STACK_DOC = "https://kubernetes.io/docs/concepts/services-networking/dual-stack/#services"

LIMITS = (
    # HPAScalingRules.stabilizationWindowSeconds: "must be greater than or equal to zero and less than or equal
    # to 3600 (one hour)".
    Limit("replicas.autoscale.scale_out_delay", lambda s: s.autoscale.scale_out_delay_s if s.autoscale else None,
          0, 3600, "an HPA scale-up stabilization window", _HPA_DOC, "s"),
    Limit("replicas.autoscale.scale_in_delay", lambda s: s.autoscale.scale_in_delay_s if s.autoscale else None,
          0, 3600, "an HPA scale-down stabilization window", _HPA_DOC, "s"),
)

# Probe fields with only a lower bound (Probe API: "Minimum value is 1"); periods follow from timeout < interval.
MINIMUMS = (
    ("probes.readiness.timeout", lambda s: s.readiness.timeout_s, 1, "a probe's timeoutSeconds"),
    ("probes.liveness.timeout", lambda s: s.liveness.timeout_s if s.liveness else None, 1, "a probe's timeoutSeconds"),
)

# An HTTP probe succeeds on "any code greater than or equal to 200 and less than 400"; nothing narrower.
PROBE_SUCCESS = (200, 399)

# Canonical accelerator -> `nvidia.com/gpu.product` values GPU Feature Discovery sets (the NVML device name with
# spaces replaced by '-', current drivers). Each value was checked against labels reported from real nodes;
# variants (SXM/PCIe, memory sizes) are alternatives of one node-affinity `In` term. The names of the T4G ("NVIDIA
# T4G": the CUDA samples on a g5g in AWS's Deep Learning AMI guide), H100 NVL (node selectors
# `nvidia.com/gpu.product: NVIDIA-H100-NVL` in public manifests) and B200 ("NVIDIA B200" as reported by CUDA in
# https://github.com/sgl-project/sglang/issues/8120) come from device names reported on those GPUs.
GPU_PRODUCTS = {
    "nvidia-t4": ("Tesla-T4",),
    "nvidia-t4g": ("NVIDIA-T4G",),
    "nvidia-l4": ("NVIDIA-L4",),
    "nvidia-a10g": ("NVIDIA-A10G",),
    "nvidia-a10": ("NVIDIA-A10",),
    "nvidia-l40s": ("NVIDIA-L40S",),
    "nvidia-v100-16gb": ("Tesla-V100-SXM2-16GB", "Tesla-V100-PCIE-16GB"),
    "nvidia-v100-32gb": ("Tesla-V100-SXM2-32GB", "Tesla-V100-PCIE-32GB"),
    "nvidia-a100-40gb": ("NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-PCIE-40GB"),
    "nvidia-a100-80gb": ("NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"),
    "nvidia-h100-80gb": ("NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe"),
    "nvidia-h100-nvl": ("NVIDIA-H100-NVL",),
    "nvidia-h200": ("NVIDIA-H200",),
    "nvidia-b200": ("NVIDIA-B200",),
}
GPU_RESOURCE = "nvidia.com/gpu"  # extended resource of the NVIDIA device plugin; also the taint key GPU pools use
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
ARCH_LABEL = "kubernetes.io/arch"  # well-known node label; values are Go's GOARCH names
ARCH = {"x86_64": "amd64", "arm64": "arm64"}

# requests_per_replica becomes this per-pod custom metric (requests per second). It exists only where a metrics
# adapter serves it, e.g. prometheus-adapter's rule turning http_requests_total into http_requests_per_second.
REQUEST_METRIC = "http_requests_per_second"

# Labels infc sets on every object; the selector uses only the name, so user labels may change freely.
NAME_LABEL = "app.kubernetes.io/name"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"

# Spec defaults (compiler/spec.py) of values Kubernetes does not carry: the default is documented in docs/targets/kubernetes.md,
# any other value gets a warning.
SPEC_DEFAULTS = {"idle_timeout_s": 240, "disk_gib": 100, "success_codes": "200"}

# Requests when hardware.cpus / memory_gib are absent, by GPU replica or not: (CPUs, GiB). A CPU replica gets
# KServe's default (1 CPU, 2Gi); a GPU replica the most every single-GPU catalog node leaves for pods (4 vCPUs and
# 15-16 GiB, less the kubelet's reservations and daemon sets). Limits equal the requests unless cpu_limit widens the
# CPU's: Guaranteed QoS, the last class evicted under node pressure, for pods that take minutes to load a model
# (_QOS_DOC). Documented on targets.kubernetes.cpu_limit.
DEFAULT_REQUESTS = {False: (1, 2), True: (2, 8)}

# Without probes.liveness, the liveness probe checks the readiness path with probes.liveness's defaults (spec):
# every 30 s, 5 failures; documented on targets.kubernetes.liveness_from_readiness.
LIVENESS_INTERVAL_S, LIVENESS_FAILURES = 30, 5

SCALE_TO_ZERO = ("an HPA's minReplicas 0 needs the alpha feature gate HPAScaleToZero and an Object or External "
                 f"metric (see {_HPA_DOC}), and while no pod runs nothing holds the requests: that takes a scaler "
                 "with a request proxy in the cluster, such as the KEDA HTTP add-on, which infc does not emit")


_SPLIT_DOC = "https://gateway-api.sigs.k8s.io/guides/traffic-splitting/"
_SPLIT = ("a Service spreads requests over every ready pod it selects, so a split would follow the variants' replica "
          "counts, not their weights; infc splits by weight with a Gateway API HTTPRoute (weighted backendRefs)")

# gke, eks and aks create their cluster in the stack that would hold the route. The HTTPRoute is a kubernetes_manifest,
# which "requires API access during planning time ... and thus cannot be created in the same apply operation", and
# whose CRD must exist when Terraform plans (_MANIFEST_DOC, "Before you use this resource"). The kubernetes target
# plans against an existing cluster: targets.kubernetes.gateway.
_MANIFEST_DOC = "https://registry.terraform.io/providers/hashicorp/kubernetes/latest/docs/resources/manifest"
KUBERNETES_VARIANTS = (f"{_SPLIT}, a kubernetes_manifest, which Terraform plans only against a cluster that already "
                       "has the Gateway API CRDs, not one the same apply creates; once the cluster exists, deploy the "
                       f"variants with the kubernetes target and targets.kubernetes.gateway (see {_MANIFEST_DOC})")


def check(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """Everything the kubernetes target cannot express, as errors naming field and range. No CDK needed."""
    # Behind a Gateway no Ingress is emitted (_check_gateway refuses https listeners there).
    out = check_workload(service, "kubernetes", target.settings, ingress=not target.get("gateway"))
    out += _check_gateway(service, target)
    family = target.get("ip_family")
    out += source_family_problems(service, "kubernetes", family, f"the Service is single-stack {family} "
                                  f"(targets.kubernetes.ip_family)", _DUAL_STACK_DOC)
    out += delivery.check("kubernetes", service, target)
    out += unpulled_image("kubernetes", service, "the cluster's nodes")
    out += _check_fallback(service)
    if service.spot:
        out.append(warning("kubernetes", "hardware.spot",
                           "hardware.spot has no portable Kubernetes form: the cluster's node pools decide capacity, "
                           "so infc emits no spot selector or toleration (pin spot nodes with "
                           "targets.kubernetes.node_selector)"))
    return out


def _check_gateway(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """Variants need targets.kubernetes.gateway; behind a Gateway the load_balancer settings that its listeners and
    addresses decide, not the route, must keep their defaults. The checks of each variant repeat the shared ones,
    which the driver reports once."""
    gateway = target.get("gateway")
    if not gateway:
        if service.variants:
            return [error("kubernetes", "variants",
                          f"variants need targets.kubernetes.gateway: {_SPLIT}, attached to an existing Gateway; set "
                          "targets.kubernetes.gateway (and gateway_namespace if it is in another namespace) to a "
                          "Gateway whose controller implements HTTPRoute, with the Gateway API CRDs installed in the "
                          f"cluster (see {_SPLIT_DOC})")]
        return []
    lb, out, behind = service.load_balancer, [], f"with targets.kubernetes.gateway ({gateway})"
    if [(x.port, x.protocol, x.redirect_to) for x in lb.listeners] != [(80, "http", None)]:
        out.append(error("kubernetes", "load_balancer.listeners",
                         f"load_balancer.listeners {behind}: the Gateway's listeners serve clients, with the ports, "
                         "protocols and TLS certificates the Gateway defines, so the spec's listeners must be the "
                         "default, http on 80; choose a listener with targets.kubernetes.gateway_listener"))
    if not lb.public:
        out.append(error("kubernetes", "load_balancer.public",
                         f"load_balancer.public is false {behind}: the Gateway's addresses decide who reaches it (its "
                         "GatewayClass or infrastructure settings); attach to an internal Gateway instead"))
    if lb.allowed_cidrs != ("0.0.0.0/0",):
        out.append(error("kubernetes", "load_balancer.allowed_cidrs",
                         f"load_balancer.allowed_cidrs {behind}: an HTTPRoute has no source-range filter; restrict "
                         "clients at the Gateway (its controller's policy or the load balancer in front of it) and "
                         "leave allowed_cidrs at its default, 0.0.0.0/0"))
    if lb.stickiness:
        out.append(error("kubernetes", "load_balancer.stickiness",
                         f"load_balancer.stickiness {behind}: an HTTPRoute's sessionPersistence is in the Gateway "
                         "API's experimental channel only (gateway-api apis/v1/httproute_types.go), which infc does "
                         "not emit"))
    for key, what in (("ip_family", "the LoadBalancer Service's IP family"),
                      ("certificate", "the https Ingress's TLS Secret"), ("ingress_class", "the https Ingress's class")):
        value = target.get(key)
        if value and (key, value) != ("ip_family", "IPv4"):
            out.append(error("kubernetes", f"targets.kubernetes.{key}",
                             f"targets.kubernetes.{key} sets {what}, which is not emitted {behind}: the Gateway's "
                             "listeners decide addresses and TLS; remove it"))
    return out


def requests(service: ir.Service) -> tuple[float, float]:
    """(CPUs, GiB) each replica requests: hardware.cpus and memory_gib, else DEFAULT_REQUESTS."""
    cpus, gib = DEFAULT_REQUESTS[service.accelerator != "none"]
    return (service.cpus if service.cpus is not None else cpus,
            service.memory_gib if service.memory_gib is not None else gib)


def liveness(service: ir.Service, settings: Mapping[str, object]) -> ir.Liveness | None:
    """probes.liveness, else (liveness_from_readiness, default true) one on the readiness path and port, its period
    at least the readiness interval so that the readiness timeout stays below it."""
    if service.liveness or not settings.get("liveness_from_readiness", True):
        return service.liveness
    hc = service.readiness
    return ir.Liveness(hc.path, hc.port, max(LIVENESS_INTERVAL_S, hc.interval_s), hc.timeout_s, LIVENESS_FAILURES)


def pull_policy(image: str) -> str | None:
    """Always for a tag, which can move to another image (and each pull checks the pod's credentials); for a digest,
    which names one image for good, unset: Kubernetes then defaults to IfNotPresent (checkov's CKV_K8S_15 passes a
    digest only without an explicit policy)."""
    return None if "@" in image else "Always"


def volume_name(directory: str) -> str:
    """The emptyDir volume of a writable directory: /root/.cache -> rw-root-cache (a DNS label)."""
    return ("rw-" + "-".join(re.findall(r"[a-z0-9]+", directory.lower())))[:63].rstrip("-")


def check_workload(service: ir.Service, name: str, settings: Mapping[str, object], *, ingress: bool = True,
                   node_disk: bool = False, idle_timeout: bool = False) -> list[Diagnostic]:
    """The checks of the Kubernetes workload (also emitted by managed-cluster targets), reported as target `name`.

    ingress=False: the caller emits the https Ingress (emit_workload(ingress=False)) and reports its own warnings
    about it; node_disk=True: the caller sizes the nodes' disks from hardware.disk_gib, so it is carried;
    idle_timeout=True: the caller carries load_balancer.idle_timeout (e.g. in its cloud's Service annotations).
    What the model's download can read is targets/delivery.py's check."""
    out = check_limits(name, service, LIMITS)
    out += check_scale_to_zero(name, service, SCALE_TO_ZERO)
    for path, value, low, what in MINIMUMS:
        got = value(service)
        if got is not None and got < low:
            out.append(error(name, path, f"{path} is {got}s; {what} must be at least {low}s (see {_PROBE_DOC})"))
    out += _success_codes(service, name)
    out += _labels(service, name)
    out += _resources(service, name)
    out += _autoscale(service, name)
    out += _listeners(service, name, settings, ingress)
    out += _not_carried(service, name, node_disk, idle_timeout)
    out += _settings(name, settings, service)
    if service.accelerator != "none" and settings.get("node_selector") is None \
            and service.accelerator not in GPU_PRODUCTS:
        out.append(warning(name, "hardware.accelerator",
                           f"no verified {GPU_PRODUCT_LABEL} value for {service.accelerator}: replicas may run on "
                           f"any GPU node; set targets.{name}.node_selector (see {_GFD_DOC})"))
    return out


def startup_failure_threshold(service: ir.Service) -> int:
    """Failures a startup probe (period = readiness interval) may count before the kubelet restarts the container:
    enough periods to cover initial_delay, plus one because the first probe runs as the container starts
    (failures land at 0, P, 2P, ..., so F failures span (F - 1) x P)."""
    return -(-service.initial_delay_s // service.readiness.interval_s) + 1


def code_ranges(codes: str) -> list[tuple[int, int]]:
    """Success codes as inclusive ranges: "200,204" -> [(200, 200), (204, 204)], "200-299" -> [(200, 299)]."""
    out = []
    for part in codes.split(","):
        low, _, high = part.partition("-")
        out.append((int(low), int(high or low)))
    return out


def _success_codes(service: ir.Service, name: str) -> list[Diagnostic]:
    codes = service.readiness.success_codes
    low, high = PROBE_SUCCESS
    for first, last in code_ranges(codes):
        if first < low or last > high:
            bad = first if first < low else last
            return [error(name, "probes.readiness.success_codes",
                          f"probes.readiness.success_codes has {bad}; a Kubernetes HTTP probe counts exactly the "
                          f"codes {low}-{high} as success (see {_HTTP_PROBE_DOC})")]
    covered = {code for first, last in code_ranges(codes) for code in range(first, last + 1)}
    if codes != SPEC_DEFAULTS["success_codes"] and covered != set(range(low, high + 1)):
        return [warning(name, "probes.readiness.success_codes",
                        f"probes.readiness.success_codes is {codes}, but a Kubernetes HTTP probe counts every code "
                        f"{low}-{high} as success; write \"{low}-{high}\" to say so")]
    return []


def _labels(service: ir.Service, name: str) -> list[Diagnostic]:
    out = []
    for key, value in service.labels:
        path = ("metadata", "labels", key)  # keys hold dots, so not a dotted path
        if key in (NAME_LABEL, MANAGED_BY_LABEL):
            out.append(Diagnostic(f"{name}: metadata.labels: '{key}' is set by infc on every object", path=path))
            continue
        problem = values.kubernetes_label_problem(key, value)
        if problem:
            out.append(Diagnostic(f"{name}: metadata.labels: '{key}: {value}' is not a Kubernetes label: {problem} "
                                  f"(see {_LABEL_DOC})", path=path))
    return out


def _settings(name: str, settings: Mapping[str, object], service: ir.Service) -> list[Diagnostic]:
    """node_selector entries must be labels a node can carry; cpu_limit covers the request; writable_dirs become
    distinct volumes; ingress_class names an IngressClass object."""
    out = []
    for key, value in sorted((settings.get("node_selector") or {}).items()):
        problem = values.kubernetes_label_problem(key, value)
        if problem:
            out.append(Diagnostic(f"{name}: targets.{name}.node_selector: '{key}: {value}' is not a Kubernetes label: "
                                  f"{problem} (see {_LABEL_DOC})", path=("targets", name, "node_selector", key)))
    cpu_limit, cpus = settings.get("cpu_limit"), requests(service)[0]
    if cpu_limit is not None and decimal_quantity(cpu_limit) is None:
        out.append(error(name, f"targets.{name}.cpu_limit",
                         f"targets.{name}.cpu_limit is {cpu_limit:g}; a CPU quantity has at most three decimals "
                         f"(1m = 0.001 CPU) (see {_QUANTITY_DOC})"))
    elif cpu_limit is not None and cpu_limit < cpus:
        source = "hardware.cpus" if service.cpus is not None else "infc's default without hardware.cpus"
        out.append(error(name, f"targets.{name}.cpu_limit",
                         f"targets.{name}.cpu_limit is {cpu_limit:g}; it must be at least the CPU request, {cpus:g} "
                         f"({source}) (see {_QOS_DOC})"))
    out += _writable_dirs(name, service, settings.get("writable_dirs") or ())
    certificate = settings.get("certificate")
    if certificate and not values.dns_subdomain(certificate):
        out.append(error(name, f"targets.{name}.certificate",
                         f"targets.{name}.certificate '{certificate}' is not the name of a TLS Secret (a DNS "
                         f"subdomain: lowercase letters, digits, '-' and '.', at most 253 characters; see "
                         f"{_INGRESS_DOC})"))
    ingress_class = settings.get("ingress_class")
    if ingress_class and not values.dns_subdomain(ingress_class):
        out.append(error(name, f"targets.{name}.ingress_class",
                         f"targets.{name}.ingress_class '{ingress_class}' is not an IngressClass name (a DNS "
                         "subdomain: lowercase letters, digits, '-' and '.', at most 253 characters)"))
    return out


def _writable_dirs(name: str, service: ir.Service, dirs) -> list[Diagnostic]:
    """Each directory is one emptyDir volume named after it: names must differ, and GPU replicas mount /dev/shm."""
    out, volumes = [], {}
    for i, directory in enumerate(dirs):
        path, volume = f"targets.{name}.writable_dirs.{i}", volume_name(directory)
        if directory == "/dev/shm" and service.accelerator != "none":
            out.append(error(name, path, f"targets.{name}.writable_dirs[{i}] is /dev/shm, which GPU replicas mount "
                                         "already (a memory-backed emptyDir)"))
        elif volume in volumes:
            out.append(error(name, path, f"targets.{name}.writable_dirs[{i}] '{directory}' and "
                                         f"'{volumes[volume]}' would both be the volume {volume}"))
        volumes.setdefault(volume, directory)
    return out


def memory_quantity(gib: float) -> str | None:
    """GiB as an exact Kubernetes quantity in the largest binary unit that divides it, or None if not whole bytes."""
    size = Decimal(str(gib)) * 2**30
    if size != size.to_integral_value():
        return None
    size = int(size)
    for unit, factor in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def decimal_quantity(value: float) -> str | None:
    """A plain number as a quantity ("4", "2500m"); None below milli precision, which the HPA does not compare."""
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return str(int(number))
    milli = number * 1000
    return f"{int(milli)}m" if milli == milli.to_integral_value() else None


def _resources(service: ir.Service, name: str) -> list[Diagnostic]:
    if service.memory_gib is not None and memory_quantity(service.memory_gib) is None:
        return [error(name, "hardware.memory_gib",
                      f"hardware.memory_gib is {service.memory_gib:g}, which is not a whole number of bytes; a "
                      f"Kubernetes memory request is a whole number of bytes (see {_QUANTITY_DOC})")]
    if service.memory_gib is None:
        kind = "GPU" if service.accelerator != "none" else "CPU"
        return [warning(name, "hardware.memory_gib",
                        f"hardware.memory_gib is not set: each replica requests, and is limited to, "
                        f"{memory_quantity(requests(service)[1])} of memory, infc's default for a {kind} replica; a "
                        "server that needs more is OOM-killed, so set hardware.memory_gib", always=True)]
    return []


def _autoscale(service: ir.Service, name: str) -> list[Diagnostic]:
    auto, path = service.autoscale, "replicas.autoscale.target"
    if auto is None:
        return []
    if auto.metric == "cpu_percent":
        out = []
        if auto.target != int(auto.target):
            out.append(error(name, path, f"{path} is {auto.target:g}; an HPA CPU averageUtilization is a whole "
                                         f"percentage (see {_HPA_DOC})"))
        return out
    if decimal_quantity(auto.target) is None:
        return [error(name, path, f"{path} is {auto.target:g}; an HPA averageValue is compared in thousandths "
                                  f"(0.001) (see {_QUANTITY_DOC})")]
    return [warning(name, "replicas.autoscale.metric",
                    "replicas.autoscale.metric requests_per_replica scales on the per-pod custom metric "
                    f"'{REQUEST_METRIC}' (requests per second): the cluster needs a metrics adapter that serves it, "
                    f"e.g. prometheus-adapter with a rule for http_requests_total (see {_ADAPTER_DOC})")]


def cidr_family(cidr: str) -> str:
    """"IPv4" or "IPv6": the IP family of a CIDR from load_balancer.allowed_cidrs (Kubernetes' ipFamilies names)."""
    return f"IPv{ipaddress.ip_network(cidr, strict=False).version}"


# Every address, per family: an allowed_cidrs with none of the Service's family but the other family's
# every-address range (the spec's default 0.0.0.0/0) admits everyone, which the Service says in its own family.
EVERY_ADDRESS = {"IPv4": "0.0.0.0/0", "IPv6": "::/0"}


def source_ranges(service: ir.Service, family: str) -> list[str]:
    """The Service's loadBalancerSourceRanges: the allowed_cidrs of its IP family, or that family's every-address
    range when allowed_cidrs has none of it but the other family's every-address range.

    A LoadBalancer Service has the families it asks for (infc: one, SingleStack; see _DUAL_STACK_DOC), and GKE's
    legacy L4 controller writes every source range into one VPC firewall rule, which cannot mix IPv4 and IPv6
    (kubernetes/kops#12170 splits its own GCE rules for that reason; only ingress-gce's backend-service-based L4
    controller filters by family, kubernetes/ingress-gce#1903): a mixed list is refused by the firewall API and the
    Service waits for an address until Terraform's create timeout. Ranges of the other family could not reach a
    single-stack Service anyway."""
    cidrs = service.load_balancer.allowed_cidrs
    own = [c for c in cidrs if cidr_family(c) == family]
    if not own and any(ipaddress.ip_network(c, strict=False).prefixlen == 0 for c in cidrs):
        return [EVERY_ADDRESS[family]]
    return own


def source_family_problems(service: ir.Service, name: str, family: str, why: str, doc: str) -> list[Diagnostic]:
    """allowed_cidrs of the other family than the http listeners' Service: left out with a warning; with nothing
    of the Service's family left, an error (a Service without source ranges admits every address). `why` says why
    the Service is `family` only."""
    lb = service.load_balancer
    if not any(x.protocol == "http" for x in lb.serving):
        return []
    other = [c for c in lb.allowed_cidrs if cidr_family(c) != family]
    if not source_ranges(service, family):
        return [error(name, "load_balancer.allowed_cidrs",
                      f"load_balancer.allowed_cidrs has only {cidr_family(other[0])} ranges ({', '.join(other)}), "
                      f"but {why}: no client could reach it; list {family} ranges (see {doc})")]
    if other and len(other) < len(lb.allowed_cidrs):  # all other: everyone, said in the Service's family
        return [warning(name, "load_balancer.allowed_cidrs",
                        f"load_balancer.allowed_cidrs has {cidr_family(other[0])} ranges ({', '.join(other)}), but "
                        f"{why}: they are left out of the Service's source ranges (one firewall rule cannot mix "
                        f"IPv4 and IPv6), and clients reach it over {family} from the {family} ranges alone "
                        f"(see {doc})")]
    return []


def _listeners(service: ir.Service, name: str, settings: Mapping[str, object], ingress: bool) -> list[Diagnostic]:
    """https listeners terminate on an Ingress, which serves HTTPS on 443 and HTTP on 80 only."""
    lb, out = service.load_balancer, []
    by_port = {x.port: x for x in lb.listeners}
    for i, listener in enumerate(lb.listeners):
        base = f"load_balancer.listeners.{i}"
        if listener.protocol == "https" and listener.port != 443:
            out.append(error(name, f"{base}.port",
                             f"{format_path(('load_balancer', 'listeners', i, 'port'))} is {listener.port}; an "
                             f"https listener terminates on a Kubernetes Ingress, which serves HTTPS on port 443 "
                             f"only (see {_INGRESS_DOC})"))
        if listener.redirect_to is None:
            continue
        to = by_port.get(listener.redirect_to)
        if (listener.port, listener.protocol) != (80, "http") or to is None or (to.port, to.protocol) != (443, "https"):
            out.append(error(name, f"{base}.redirect_to",
                             f"{format_path(('load_balancer', 'listeners', i, 'redirect_to'))}: listener "
                             f"{listener.port} -> {listener.redirect_to} cannot be expressed; the only redirect on "
                             "Kubernetes is the Ingress's own, from http on 80 to https on 443"))
        elif ingress:
            out.append(warning(name, f"{base}.redirect_to",
                               f"{format_path(('load_balancer', 'listeners', i, 'redirect_to'))}: the Ingress API has "
                               "no redirect; infc sets ingress-nginx's force-ssl-redirect annotation, other ingress "
                               "controllers need their own HTTP-to-HTTPS setting"))
    if ingress and any(x.protocol == "https" for x in lb.listeners):
        if not settings.get("host"):
            out.append(warning(name, "load_balancer.listeners",
                               "the https Ingress has no host (the spec names none): controllers that choose the "
                               "certificate by SNI host, such as ingress-nginx, serve their default certificate "
                               f"instead of targets.{name}.certificate (see {_INGRESS_DOC})", always=True))
        if not lb.public or lb.allowed_cidrs != ("0.0.0.0/0",):
            out.append(warning(name, "load_balancer.allowed_cidrs",
                               "https is served by the Ingress, whose exposure and source ranges belong to its "
                               "ingress controller: public and allowed_cidrs apply to the Service's http "
                               "listeners only", always=True))
    if lb.stickiness:
        out.append(warning(name, "load_balancer.stickiness",
                           "load_balancer.stickiness pins each client by IP (Service sessionAffinity ClientIP, "
                           "3 hours), not by cookie: clients behind one NAT share a replica"))
    return out


def _not_carried(service: ir.Service, name: str, node_disk: bool, idle_timeout: bool) -> list[Diagnostic]:
    """Spec values with no portable Kubernetes field: a warning unless they are the spec default."""
    out = []
    if service.load_balancer.idle_timeout_s != SPEC_DEFAULTS["idle_timeout_s"] and not idle_timeout:
        out.append(warning(name, "load_balancer.idle_timeout",
                           f"load_balancer.idle_timeout ({service.load_balancer.idle_timeout_s}s) is not carried: a "
                           "Service has no idle-timeout field, the cloud load balancer's own timeout applies"))
    if service.disk_gib != SPEC_DEFAULTS["disk_gib"] and not node_disk:
        out.append(warning(name, "hardware.disk_gib",
                           f"hardware.disk_gib ({service.disk_gib}) is not carried: pods use their node's disk; size "
                           "the nodes' disks for the image and the model"))
    return out



def _check_fallback(service: ir.Service) -> list[Diagnostic]:
    """The kubernetes target picks no instance type: the replicas already run on any node with the GPU. Other
    accelerators or an on-demand share are the cluster's node pools' to give."""
    out = [warning("kubernetes", "hardware.flexible",
                   "hardware.flexible has no effect on kubernetes: infc picks no instance type there, and the "
                   "replicas run on any node with the accelerator (targets.kubernetes.node_selector)")
           ] if service.flexible else []
    out += fallback_refused("kubernetes", dataclasses.replace(service, flexible=False), None,
                            "the Deployment has one pod template, with one GPU count and one node selector "
                            "(targets.kubernetes.node_selector)")
    return out + on_demand_base_refused("kubernetes", service, "the cluster's node pools decide spot or on-demand "
                                                               "capacity, not the workload")

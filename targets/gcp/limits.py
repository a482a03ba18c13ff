"""Google Cloud target: what a regional managed instance group behind an Application LB can express (no CDK)."""

from __future__ import annotations

import ipaddress

from compiler import ir, values
from compiler.errors import Diagnostic
from targets import delivery, startup
from targets.base import (Limit, args_differ, check_limits, check_scale_to_zero, error, label_errors,
                          on_demand_base_refused, unpulled_image, warning)

_HC_DOC = "https://cloud.google.com/load-balancing/docs/health-check-concepts"
_HC_API = "https://cloud.google.com/compute/docs/reference/rest/v1/healthChecks"
_TF_DOC = "https://registry.terraform.io/providers/hashicorp/google/8.7.0/docs/resources/"
_MIG_DOC = _TF_DOC + "compute_region_instance_group_manager#initial_delay_sec"
_DRAIN_DOC = "https://cloud.google.com/load-balancing/docs/enabling-connection-draining"
_PROXY_DOC = _TF_DOC + "compute_target_http_proxy#http_keep_alive_timeout_sec"
_REGION_PROXY_DOC = _TF_DOC + "compute_region_target_http_proxy#http_keep_alive_timeout_sec"
_PROXY_ONLY_DOC = "https://cloud.google.com/load-balancing/docs/proxy-only-subnets"
PROXY_SUBNET_MAX_PREFIX = 26  # "at least 64 IP addresses" (_PROXY_ONLY_DOC)
_GPU_DOC = "https://cloud.google.com/compute/docs/gpus"
_ARMOR_DOC = "https://cloud.google.com/armor/docs/security-policy-overview"
_AUTOSCALER_DOC = "https://cloud.google.com/compute/docs/autoscaler"
_REDIRECT_DOC = _TF_DOC + "compute_url_map#https_redirect"
_INTERNAL_CERT_DOC = "https://cloud.google.com/load-balancing/docs/l7-internal#ssl_certificates"
_FLEX_DOC = "https://cloud.google.com/compute/docs/instance-groups/about-instance-flexibility"
_WEIGHT_DOC = _TF_DOC + "compute_url_map#weight"


def _live(attr):
    return lambda s: getattr(s.liveness, attr) if s.liveness else None


def _keepalive(public: bool):
    return lambda s: s.load_balancer.idle_timeout_s if s.load_balancer.public == public else None


LIMITS = (
    # Health checks: 1-300 s interval and timeout (timeout <= interval), thresholds 1-10 (_HC_DOC, _HC_API).
    Limit("probes.readiness.interval", lambda s: s.readiness.interval_s, 1, 300,
          "a health-check interval (checkIntervalSec)", _HC_DOC, "s"),
    Limit("probes.readiness.timeout", lambda s: s.readiness.timeout_s, 1, 300,
          "a health-check timeout (timeoutSec)", _HC_DOC, "s"),
    Limit("probes.readiness.healthy_threshold", lambda s: s.readiness.healthy_threshold, 1, 10,
          "a health-check healthy threshold", _HC_DOC),
    Limit("probes.readiness.unhealthy_threshold", lambda s: s.readiness.unhealthy_threshold, 1, 10,
          "a health-check unhealthy threshold", _HC_DOC),
    Limit("probes.liveness.interval", _live("interval_s"), 1, 300,
          "an auto-healing health-check interval (checkIntervalSec)", _HC_DOC, "s"),
    Limit("probes.liveness.timeout", _live("timeout_s"), 1, 300,
          "an auto-healing health-check timeout (timeoutSec)", _HC_DOC, "s"),
    Limit("probes.liveness.failure_threshold", _live("failure_threshold"), 1, 10,
          "an auto-healing health-check unhealthy threshold", _HC_DOC),
    Limit("probes.readiness.initial_delay", lambda s: s.initial_delay_s, 0, 3600,
          "a managed instance group auto-healing initial delay (initial_delay_sec)", _MIG_DOC, "s"),
    Limit("load_balancer.drain_timeout", lambda s: s.load_balancer.drain_timeout_s, 0, 3600,
          "a backend service connection draining timeout", _DRAIN_DOC, "s"),
    Limit("load_balancer.idle_timeout", _keepalive(True), 5, 1200,
          "the HTTP keepalive timeout of a global external Application Load Balancer", _PROXY_DOC, "s"),
    Limit("load_balancer.idle_timeout", _keepalive(False), 5, 600,
          "the HTTP keepalive timeout of a regional internal Application Load Balancer", _REGION_PROXY_DOC, "s"),
)  # cpu_percent <= 100 and liveness timeout < interval are spec rules for every target (compiler/validate.py).

SCALE_TO_ZERO = ("the autoscaler measures CPU and load-balancer utilization on running VMs, so at zero replicas "
                 "it has no signal to scale out again (see " + _AUTOSCALER_DOC + ")")

# N1 machine types take GPUs as guest accelerators; these families come with their GPUs attached (_GPU_DOC).
BUNDLED_GPU_FAMILIES = ("a2-", "a3-", "a4-", "a4x-", "g2-", "g4-")

# Default boot images by (gpu|cpu, arch) as projects/<project>/global/images/family/<family>: the newest image
# of the family at instance creation. GPU: the Deep Learning VM family with CUDA 12.8 and the NVIDIA 570 driver
# preinstalled (https://cloud.google.com/deep-learning-vm/docs/images); CPU: Canonical's Ubuntu 22.04 LTS. The
# startup script installs Docker and the NVIDIA container toolkit where an image lacks them.
IMAGES = {
    ("gpu", "x86_64"):
        "projects/deeplearning-platform-release/global/images/family/common-cu128-ubuntu-2204-nvidia-570",
    ("cpu", "x86_64"): "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts",
    ("cpu", "arm64"): "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts-arm64",
}


_LABEL_DOC = values.GCP_LABELS_DOC
_GCS_NAMES_DOC = "https://cloud.google.com/storage/docs/buckets#naming"
# The startup-script is a metadata value: "their size must be less than or equal to 262144 bytes (256 KiB)".
_METADATA_DOC = "https://cloud.google.com/compute/docs/reference/rest/v1/instanceTemplates#metadata"
METADATA_VALUE_MAX = 262144

SUCCESS_CODE = "200"  # HTTP health checks pass only on 200 OK (_HC_DOC, "Success criteria for HTTP").
ALL_IPV4 = "0.0.0.0/0"


def check(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """Everything this target cannot express, as errors naming field and range. No CDK needed."""
    out = check_limits("gcp", service, LIMITS)
    out += _check_variants(service)
    out += check_scale_to_zero("gcp", service, SCALE_TO_ZERO)
    out += check_labels("gcp", service)
    out += _check_model_uri(target)
    out += delivery.check("gcp", service, target)
    out += unpulled_image("gcp", service, "the replicas", cloud="gcp")
    out += startup.check_size("gcp", service, "startup-script", startup.startup_script(service, target),
                              METADATA_VALUE_MAX, _METADATA_DOC)
    out += _check_probes(service)
    out += _check_machine(service, target)
    out += _check_fallback(service, target)
    out += _check_listeners(service, target)
    out += _check_proxy_subnet(service, target)
    if target.get("cloud_nat") is False and not target.get("private_replicas"):
        out.append(warning("gcp", "targets.gcp.cloud_nat", "targets.gcp.cloud_nat: false has no effect without "
                                                           "targets.gcp.private_replicas: true (replicas have "
                                                           "external IPs and need no NAT)"))
    return out


def _check_variants(service: ir.Service) -> list[Diagnostic]:
    """Variants run behind the URL map's weighted backend services (targets/gcp/lb.py, _route), which both load
    balancers gcp emits, EXTERNAL_MANAGED and INTERNAL_MANAGED, take; each variant's own values are checked on its
    own service (compiler/driver.py). What is left: session affinity decides after the weights (_WEIGHT_DOC)."""
    if not service.variants or not service.load_balancer.stickiness:
        return []
    return [warning("gcp", "load_balancer.stickiness",
                    "load_balancer.stickiness with variants: the URL map picks a variant by weight for a client's "
                    "first request only, and the affinity cookie keeps the client's later requests on that variant, "
                    f"so the weights split clients, not requests (see {_WEIGHT_DOC})")]


def _check_proxy_subnet(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """proxy_subnet (an existing subnet) or proxy_subnet_cidr (a new one), for an internal load balancer only."""
    name, cidr = target.get("proxy_subnet"), target.get("proxy_subnet_cidr")
    if service.load_balancer.public:
        return [warning("gcp", f"targets.gcp.{key}", f"targets.gcp.{key} has no effect with load_balancer.public: "
                                                     "true (only an internal load balancer has a proxy-only subnet)")
                for key in ("proxy_subnet", "proxy_subnet_cidr") if target.get(key)]
    if name and cidr:
        return [error("gcp", "targets.gcp.proxy_subnet_cidr",
                      f"targets.gcp.proxy_subnet_cidr is the range of a new proxy-only subnet, but "
                      f"targets.gcp.proxy_subnet names an existing one ('{name}'); a network has one active per "
                      f"region, so give one of the two (see {_PROXY_ONLY_DOC})")]
    net = ipaddress.ip_network(str(cidr)) if cidr else None
    if net and (net.version != 4 or net.prefixlen > PROXY_SUBNET_MAX_PREFIX):
        return [error("gcp", "targets.gcp.proxy_subnet_cidr",
                      f"targets.gcp.proxy_subnet_cidr is {cidr}; a proxy-only subnet is an IPv4 range of at least "
                      f"64 addresses (/{PROXY_SUBNET_MAX_PREFIX} or larger; /23 recommended) (see {_PROXY_ONLY_DOC})")]
    return []


def check_labels(target: str, service: ir.Service) -> list[Diagnostic]:
    """metadata.labels as Google Cloud labels (gcp's instances and disks, gke's cluster and nodes)."""
    return label_errors(target, values.gcp_label_problems(list(service.labels)))


def _check_model_uri(target: ir.Target) -> list[Diagnostic]:
    """A gs:// model URI's bucket gets an IAM binding for the replicas (_service_account): a name of 3-63 characters,
    or up to 222 with dots (_GCS_NAMES_DOC); the spec's grammar (compiler/values.py) holds the characters."""
    found = delivery.source(target.model_uri)
    if found is None or found.scheme != "gs" or len(found.store) <= 63 or "." in found.store:
        return []
    path = "targets.gcp.model_uri" if target.get("model_uri") else "model.uri"
    return [error("gcp", path, f"{path} names the Cloud Storage bucket '{found.store}', which is not a bucket name "
                               f"(3-63 lowercase letters, digits, '-', '_' and '.', or up to 222 with dots; see "
                               f"{_GCS_NAMES_DOC})")]


def _check_probes(service: ir.Service) -> list[Diagnostic]:
    out = []
    if service.readiness.success_codes != SUCCESS_CODE:
        out.append(error("gcp", "probes.readiness.success_codes",
                         f"probes.readiness.success_codes is \"{service.readiness.success_codes}\"; a Google Cloud "
                         f"HTTP health check passes only on HTTP 200 (see {_HC_DOC}); use \"200\""))
    return out


def _check_machine(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    out = []
    if not target.machine or not service.accelerator_count:
        return out
    for machine in target.machines:
        kind = machine.instance_type
        if kind.startswith("n1-") and not machine.provider_accelerator:
            out.append(error("gcp", "hardware.instance_types.gcp",
                             f"hardware.instance_types.gcp '{kind}' is an N1 type outside the catalog, so infc does "
                             f"not know Google's accelerator type for {service.accelerator}; pick a catalog type"))
        elif not kind.startswith("n1-") and not kind.startswith(BUNDLED_GPU_FAMILIES):
            out.append(error("gcp", "hardware.instance_types.gcp",
                             f"machine type '{kind}' cannot carry {service.accelerator}: GPUs attach only to N1 types "
                             f"or come with the {', '.join(f.rstrip('-') for f in BUNDLED_GPU_FAMILIES)} families "
                             f"(see {_GPU_DOC})"))
    if not target.get("image") and ("gpu", service.arch) not in IMAGES:
        out.append(error("gcp", "targets.gcp.image",
                         f"there is no default GPU image for {service.arch} on gcp; set targets.gcp.image"))
    return out


def _check_listeners(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    lb, out = service.load_balancer, []
    by_port = {x.port: x for x in lb.listeners}
    for listener in lb.listeners:
        to = by_port.get(listener.redirect_to) if listener.redirect_to else None
        if to and (listener.protocol != "http" or to.protocol != "https" or to.port != 443):
            out.append(error("gcp", "load_balancer.listeners",
                             f"listener {listener.port} redirects to {to.protocol} {to.port}; a Google Cloud URL map "
                             f"redirect only switches http to https on port 443 (no port redirect; see "
                             f"{_REDIRECT_DOC})"))
    certificate = str(target.get("certificate") or "")
    if not lb.public and any(x.protocol == "https" for x in lb.listeners) and "/global/" in certificate:
        out.append(error("gcp", "targets.gcp.certificate",
                         f"targets.gcp.certificate '{certificate}' is a global SSL certificate; an internal regional "
                         f"Application Load Balancer needs a regional one (projects/P/regions/R/sslCertificates/N; "
                         f"see {_INTERNAL_CERT_DOC})"))
    if not lb.public and set(lb.allowed_cidrs) != {ALL_IPV4}:
        out.append(warning("gcp", "load_balancer.allowed_cidrs",
                           "load_balancer.allowed_cidrs is not enforced on an internal Application Load Balancer: "
                           "VPC firewall rules do not apply to its forwarding rule and Cloud Armor attaches only to "
                           "external ones, so every client in the VPC network's region can connect "
                           f"(see {_ARMOR_DOC})"))
    return out


def gpu_kind(target: ir.Target) -> str:
    """'attached' (N1 + guest_accelerator), 'bundled' (a2/a3/a4/g2/g4) or 'none', of the target's first type."""
    return machine_gpu_kind(target.machine)


def machine_gpu_kind(machine: ir.Machine | None) -> str:
    """'attached' (N1 + guest_accelerator), 'bundled' (a2/a3/a4/g2/g4) or 'none'."""
    if not machine or not machine.accelerator_count:
        return "none"
    return "attached" if machine.instance_type.startswith("n1-") else "bundled"


# A3 Ultra (H200) boots only from Hyperdisk; every other family in the catalog supports pd-balanced
# (https://cloud.google.com/compute/docs/accelerator-optimized-machines#supported-disk-types).
DISK_TYPES = (("a3-ultragpu-", "hyperdisk-balanced"), ("a4-", "hyperdisk-balanced"), ("", "pd-balanced"))


def disk_type(machine: ir.Machine) -> str:
    return next(disk for prefix, disk in DISK_TYPES if machine.instance_type.startswith(prefix))


def _check_fallback(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """The capacity fallback as instance flexibility of the regional MIG (_FLEX_DOC), which overrides only the
    machine type of the one instance template: every type must take the template's GPUs, boot disk and startup
    script."""
    out = on_demand_base_refused("gcp", service, "a managed instance group creates every VM with the provisioning "
                                                 "model of its instance template, SPOT or STANDARD, not a mix")
    out += args_differ("gcp", service, "instance flexibility overrides only the machine type; every VM runs the "
                                       "instance template's one startup script")
    machines = target.machines
    path = ("hardware.alternatives" if service.alternatives else "hardware.flexible" if service.flexible
            else "hardware.instance_types.gcp")
    kinds = {machine_gpu_kind(m) for m in machines}
    attached = {(m.provider_accelerator, m.accelerator_count) for m in machines if machine_gpu_kind(m) == "attached"}
    if len(kinds) > 1 or len(attached) > 1:
        listed = " and ".join(sorted({f"{m.accelerator_count}x {m.accelerator} on {m.instance_type.split('-')[0]}"
                                      for m in machines}))
        out.append(error("gcp", path,
                         f"the capacity fallback mixes {listed}; an N1 type gets its GPUs from the instance "
                         "template's guest_accelerator, one accelerator type and count for every machine type of the "
                         f"group, so N1 types cannot be mixed with other GPUs or GPU machine families (see "
                         f"{_FLEX_DOC})"))
    disks = {disk_type(m) for m in machines}
    if len(disks) > 1:
        out.append(error("gcp", path,
                         f"the capacity fallback needs boot disks of types {' and '.join(sorted(disks))}; the "
                         "instance template has one boot disk type (google provider 8.7.0's instance_selections "
                         "take no disk override)"))
    return out


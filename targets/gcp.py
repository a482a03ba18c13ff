"""Google Cloud backend: a regional managed instance group of the model container behind an Application LB."""

from __future__ import annotations

import re

from compiler import ir, values
from compiler.errors import Diagnostic
from targets import startup
from targets.base import Limit, check_limits, check_scale_to_zero, error, label_errors, resource_name, warning

# Bindings (cdktn-provider-google 21.1.0) are generated from hashicorp/google 8.7.0; every argument emitted
# here is checked against that schema, so the range starts there and spans its major version.
PROVIDER = ("hashicorp/google", ">= 8.7.0, < 9.0.0")

_HC_DOC = "https://cloud.google.com/load-balancing/docs/health-check-concepts"
_HC_API = "https://cloud.google.com/compute/docs/reference/rest/v1/healthChecks"
_TF_DOC = "https://registry.terraform.io/providers/hashicorp/google/8.7.0/docs/resources/"
_MIG_DOC = _TF_DOC + "compute_region_instance_group_manager#initial_delay_sec"
_DRAIN_DOC = "https://cloud.google.com/load-balancing/docs/enabling-connection-draining"
_PROXY_DOC = _TF_DOC + "compute_target_http_proxy#http_keep_alive_timeout_sec"
_REGION_PROXY_DOC = _TF_DOC + "compute_region_target_http_proxy#http_keep_alive_timeout_sec"
_GPU_DOC = "https://cloud.google.com/compute/docs/gpus"
_ARMOR_DOC = "https://cloud.google.com/armor/docs/security-policy-overview"
_AUTOSCALER_DOC = "https://cloud.google.com/compute/docs/autoscaler"
_REDIRECT_DOC = _TF_DOC + "compute_url_map#https_redirect"
_INTERNAL_CERT_DOC = "https://cloud.google.com/load-balancing/docs/l7-internal#ssl_certificates"


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

# A3 Ultra (H200) boots only from Hyperdisk; every other family in the catalog supports pd-balanced
# (https://cloud.google.com/compute/docs/accelerator-optimized-machines#supported-disk-types).
DISK_TYPES = (("a3-ultragpu-", "hyperdisk-balanced"), ("a4-", "hyperdisk-balanced"), ("", "pd-balanced"))

_LABEL_DOC = values.GCP_LABELS_DOC
_GCS_NAMES_DOC = "https://cloud.google.com/storage/docs/buckets#naming"
_GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")  # 3-63, or up to 222 with dots
# The startup-script is a metadata value: "their size must be less than or equal to 262144 bytes (256 KiB)".
_METADATA_DOC = "https://cloud.google.com/compute/docs/reference/rest/v1/instanceTemplates#metadata"
METADATA_VALUE_MAX = 262144

SUCCESS_CODE = "200"  # HTTP health checks pass only on 200 OK (_HC_DOC, "Success criteria for HTTP").
ALL_IPV4 = "0.0.0.0/0"


def check(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """Everything this target cannot express, as errors naming field and range. No CDK needed."""
    out = check_limits("gcp", service, LIMITS)
    out += check_scale_to_zero("gcp", service, SCALE_TO_ZERO)
    out += check_labels("gcp", service)
    out += _check_model_uri(service)
    out += startup.check_size("gcp", service, "startup-script", startup.startup_script(service), METADATA_VALUE_MAX,
                              _METADATA_DOC)
    out += _check_probes(service)
    out += _check_machine(service, target)
    out += _check_listeners(service, target)
    if target.get("cloud_nat") is False and not target.get("private_replicas"):
        out.append(warning("gcp", "targets.gcp.cloud_nat", "targets.gcp.cloud_nat: false has no effect without "
                                                           "targets.gcp.private_replicas: true (replicas have "
                                                           "external IPs and need no NAT)"))
    return out


def check_labels(target: str, service: ir.Service) -> list[Diagnostic]:
    """metadata.labels as Google Cloud labels (gcp's instances and disks, gke's cluster and nodes)."""
    return label_errors(target, values.gcp_label_problems(list(service.labels)))


def _check_model_uri(service: ir.Service) -> list[Diagnostic]:
    """A gs:// model.uri's bucket gets an IAM binding for the replicas (_service_account): it must be a bucket name."""
    uri = service.model_uri or ""
    bucket = uri.removeprefix("gs://").partition("/")[0]
    if uri.startswith("gs://") and not (_GCS_BUCKET.fullmatch(bucket) and (len(bucket) <= 63 or "." in bucket)):
        return [error("gcp", "model.uri", f"model.uri names the Cloud Storage bucket '{bucket}', which is not a bucket "
                                          f"name (3-63 lowercase letters, digits, '-', '_' and '.'; see "
                                          f"{_GCS_NAMES_DOC})")]
    return []


def _check_probes(service: ir.Service) -> list[Diagnostic]:
    out = []
    if service.readiness.success_codes != SUCCESS_CODE:
        out.append(error("gcp", "probes.readiness.success_codes",
                         f"probes.readiness.success_codes is \"{service.readiness.success_codes}\"; a Google Cloud "
                         f"HTTP health check passes only on HTTP 200 (see {_HC_DOC}); use \"200\""))
    return out


def _check_machine(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    machine, out = target.machine, []
    if not machine or not service.accelerator_count:
        return out
    kind = machine.instance_type
    if kind.startswith("n1-") and not machine.provider_accelerator:
        out.append(error("gcp", "hardware.instance_types.gcp",
                         f"hardware.instance_types.gcp '{kind}' is an N1 type outside the catalog, so infc does not "
                         f"know Google's accelerator type for {service.accelerator}; pick a catalog type"))
    elif not kind.startswith("n1-") and not kind.startswith(BUNDLED_GPU_FAMILIES):
        out.append(error("gcp", "hardware.instance_types.gcp",
                         f"machine type '{kind}' cannot carry {service.accelerator}: GPUs attach only to N1 types or "
                         f"come with the {', '.join(f.rstrip('-') for f in BUNDLED_GPU_FAMILIES)} families "
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


def emit(stack, service: ir.Service, target: ir.Target) -> None:
    """Every resource of the Google Cloud stack, in dependency order."""
    from targets import gcp_lb

    stack.require("google", *PROVIDER)
    labels = dict(service.labels)
    provider = stack.add("google", "provider.GoogleProvider", "google", project=target.get("project"),
                         region=target.get("region"))
    if labels:
        # Set as an override: jsii rewrites the keys of this top-level map ("cost-center" -> "cost_center").
        provider.add_override("default_labels", labels)
    network = gcp_lb.network(stack, target)
    account = _service_account(stack, service)
    template = _instance_template(stack, service, target, network, account)
    health = gcp_lb.health_checks(stack, service, target)
    nat = gcp_lb.nat(stack, service, target, network) \
        if target.get("private_replicas") and target.get("cloud_nat") else None
    group = _instance_group(stack, service, target, template, health, nat)
    if service.autoscale:
        _autoscaler(stack, service, target, group)
    gcp_lb.firewall(stack, service, network)
    gcp_lb.load_balancer(stack, service, target, network, group, health)


def _service_account(stack, service: ir.Service):
    """A service account without roles for the replicas; with a gs:// model URI it may read that bucket."""
    account = stack.add("google", "service_account.ServiceAccount", "replica_account",
                        account_id=f"infc-{service.name}",  # 6-30 characters for every 1-24 character name
                        display_name=f"infc {service.name}: model replicas")
    uri = service.model_uri or ""
    if uri.startswith("gs://"):
        bucket = uri.removeprefix("gs://").partition("/")[0]
        stack.add("google", "storage_bucket_iam_member.StorageBucketIamMember", "model_read", bucket=bucket,
                  role="roles/storage.objectViewer", member=f"serviceAccount:{account.email}")
    return account


def gpu_kind(target: ir.Target) -> str:
    """'attached' (N1 + guest_accelerator), 'bundled' (a2/a3/a4/g2/g4) or 'none'."""
    machine = target.machine
    if not machine or not machine.accelerator_count:
        return "none"
    return "attached" if machine.instance_type.startswith("n1-") else "bundled"


def secure_boot(service: ir.Service, target: ir.Target) -> bool:
    """targets.gcp.secure_boot, else on for CPU replicas only: GPU images may load unsigned NVIDIA kernel modules,
    which secure boot refuses (https://cloud.google.com/compute/shielded-vm/docs/shielded-vm#secure-boot)."""
    chosen = target.get("secure_boot")
    return (not service.accelerator_count) if chosen is None else bool(chosen)


def _instance_template(stack, service: ir.Service, target: ir.Target, network, account):
    T = "compute_region_instance_template.ComputeRegionInstanceTemplate"
    machine, kind = target.machine, gpu_kind(target)
    labels = dict(service.labels)
    image = target.get("image") or IMAGES[("gpu" if service.accelerator_count else "cpu", service.arch)]
    disk_type = next(disk for prefix, disk in DISK_TYPES if machine.instance_type.startswith(prefix))
    if service.spot:
        # Spot: preemptible, no automatic restart, terminate on host maintenance; DELETE lets the MIG recreate
        # the VM elsewhere (https://cloud.google.com/compute/docs/instances/spot).
        scheduling = stack.struct("google", f"{T}Scheduling", provisioning_model="SPOT", preemptible=True,
                                  automatic_restart=False, on_host_maintenance="TERMINATE",
                                  instance_termination_action="DELETE")
    else:
        # GPU VMs cannot live-migrate: they must terminate (and restart) on host maintenance (_GPU_DOC).
        scheduling = stack.struct("google", f"{T}Scheduling", provisioning_model="STANDARD", automatic_restart=True,
                                  on_host_maintenance="TERMINATE" if kind != "none" else "MIGRATE")
    # Public IP unless private_replicas: then the subnet's Cloud NAT (gcp_lb.nat) carries outbound traffic.
    access = None if target.get("private_replicas") else [stack.struct("google", f"{T}NetworkInterfaceAccessConfig")]
    template = stack.add(
        "google", T, "instance_template", name_prefix=f"{service.name}-", region=target.get("region"),
        description=f"infc {service.name}: model replicas", machine_type=machine.instance_type,
        labels=labels or None, tags=[service.name],
        # Project-wide SSH keys would admit every key holder of the project; instance keys (gcloud compute ssh)
        # and OS Login still work (https://cloud.google.com/compute/docs/connect/restrict-ssh-keys).
        metadata={"startup-script": startup.startup_script(service), "block-project-ssh-keys": "TRUE"},
        shielded_instance_config=stack.struct(
            "google", f"{T}ShieldedInstanceConfig", enable_secure_boot=secure_boot(service, target),
            enable_vtpm=True, enable_integrity_monitoring=True),
        disk=[stack.struct("google", f"{T}Disk", boot=True, auto_delete=True, source_image=image,
                           disk_size_gb=service.disk_gib, disk_type=disk_type, labels=labels or None)],
        guest_accelerator=[stack.struct("google", f"{T}GuestAccelerator", type=machine.provider_accelerator,
                                        count=machine.accelerator_count)] if kind == "attached" else None,
        scheduling=scheduling,
        network_interface=[stack.struct(
            "google", f"{T}NetworkInterface", network=network.network, subnetwork=network.subnet,
            # An ephemeral external IP for egress (image pulls, model downloads); ingress is the firewall's job.
            access_config=access)],
        service_account=stack.struct("google", f"{T}ServiceAccount", email=account.email, scopes=["cloud-platform"]))
    # Templates are immutable: a changed one is created under a new name before the old one is deleted.
    template.add_override("lifecycle.create_before_destroy", True)
    return template


def _instance_group(stack, service: ir.Service, target: ir.Target, template, health, nat):
    M = "compute_region_instance_group_manager.ComputeRegionInstanceGroupManager"
    gpus = gpu_kind(target) != "none"
    return stack.add(
        "google", M, "instance_group", name=resource_name(service, ""), base_instance_name=service.name,
        region=target.get("region"), description=f"infc {service.name}: model replicas",
        version=[stack.struct("google", f"{M}Version", name="primary", instance_template=template.self_link)],
        named_port=[stack.struct("google", f"{M}NamedPort", name="http", port=service.port)],
        # Fixed size without an autoscaler; with one, target_size must stay unset (provider docs).
        target_size=None if service.autoscale else service.min_replicas,
        auto_healing_policies=stack.struct("google", f"{M}AutoHealingPolicies", health_check=health.autoheal.id,
                                           initial_delay_sec=service.initial_delay_s),
        # GPUs are not in every zone: BALANCED creates VMs where capacity exists and needs proactive
        # redistribution off (https://cloud.google.com/compute/docs/instance-groups/regional-mig-distribution-shape).
        distribution_policy_target_shape="BALANCED" if gpus else "EVEN",
        update_policy=stack.struct("google", f"{M}UpdatePolicy", type="PROACTIVE", minimal_action="REPLACE",
                                   instance_redistribution_type="NONE" if gpus else "PROACTIVE"),
        wait_for_instances=False,
        depends_on=[nat] if nat else None)  # replicas pull the image on first boot, through the NAT


def _autoscaler(stack, service: ir.Service, target: ir.Target, group) -> None:
    A = "compute_region_autoscaler.ComputeRegionAutoscaler"
    auto = service.autoscale
    if auto.metric == "cpu_percent":
        metric = {"cpu_utilization": stack.struct("google", f"{A}AutoscalingPolicyCpuUtilization",
                                                  target=auto.target / 100)}
    else:
        # Holds the backend's RATE capacity at LB_UTILIZATION, i.e. auto.target requests/s per replica.
        from targets.gcp_lb import LB_UTILIZATION

        metric = {"load_balancing_utilization": stack.struct(
            "google", f"{A}AutoscalingPolicyLoadBalancingUtilization", target=LB_UTILIZATION)}
    stack.add("google", A, "autoscaler", name=resource_name(service, ""), region=target.get("region"),
              target=group.id, autoscaling_policy=stack.struct(
                  "google", f"{A}AutoscalingPolicy", min_replicas=service.min_replicas,
                  max_replicas=service.max_replicas, mode="ON",
                  # The initialization period: data from VMs younger than this is ignored when scaling out.
                  cooldown_period=auto.scale_out_delay_s,
                  # Scale-in decisions wait for load to stay low this long (default 600 s).
                  stabilization_period=auto.scale_in_delay_s, **metric))

"""Azure target: what a VM scale set behind a Standard Load Balancer or Application Gateway can express (no CDK)."""

from __future__ import annotations

import math

from compiler import ir
from compiler.errors import Diagnostic
from targets import delivery, startup
from targets.azure import gateway
from targets.azure import site as azure_site
from targets.base import Limit, check_limits, check_scale_to_zero, error, warning

_DISK_DOC = "https://learn.microsoft.com/en-us/azure/virtual-machines/managed-disks-overview#os-disk"
_VMSS_SIZE_DOC = "https://learn.microsoft.com/en-us/azure/virtual-machines/managed-disks-overview"
_TF_DOCS = "https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/resources"
_AUTOSCALE_DOC = f"{_TF_DOCS}/monitor_autoscale_setting"
_REPAIR_DOC = ("https://learn.microsoft.com/en-us/azure/virtual-machine-scale-sets/"
               "virtual-machine-scale-sets-automatic-instance-repairs#grace-period")
_HEALTH_EXT_DOC = ("https://learn.microsoft.com/en-us/azure/virtual-machine-scale-sets/"
                   "virtual-machine-scale-sets-health-extension")
_SSH_DOC = f"{_TF_DOCS}/linux_virtual_machine_scale_set"
_CUSTOM_DATA_DOC = ("https://learn.microsoft.com/en-us/rest/api/compute/virtual-machine-scale-sets/create-or-update"
                    "#virtualmachinescalesetosprofile")
# customData: "The maximum length of the binary array is 65535 bytes" (_CUSTOM_DATA_DOC), before base64 encoding.
CUSTOM_DATA_MAX = 65535

LIMITS = (
    # A scale set of a Marketplace image holds up to 1,000 VMs (single_placement_group = false); autoscale
    # capacities are 0-1000 as well.
    Limit("replicas.max", lambda s: s.max_replicas, 1, 1000, "the instance count of an Azure VM scale set",
          _VMSS_SIZE_DOC),
    # Autoscale cooldowns: "between 1 minute and 1 week" (ISO 8601).
    Limit("replicas.autoscale.scale_out_delay", lambda s: s.autoscale.scale_out_delay_s if s.autoscale else None,
          60, 604800, "an Azure autoscale cooldown", _AUTOSCALE_DOC, "s"),
    Limit("replicas.autoscale.scale_in_delay", lambda s: s.autoscale.scale_in_delay_s if s.autoscale else None,
          60, 604800, "an Azure autoscale cooldown", _AUTOSCALE_DOC, "s"),
)

MAX_OS_DISK_GIB = 4095  # an OS disk holds at most 4,095 GiB (and at least the image's own size, checked by Azure)
# Automatic instance repair grace period: 10-90 minutes. Above is an error; below is raised to 10 minutes with a
# warning (a longer grace only delays repairs), as is a value that is not a whole number of minutes.
GRACE_MINUTES = (10, 90)

# Default images, (accelerator?, arch) -> publisher:offer:sku:version. GPU: Microsoft's Ubuntu 22.04 HPC image
# (Azure/azhpc-images): NVIDIA driver, NCCL with the NDv4 topology, InfiniBand, Moby and the NVIDIA container
# toolkit, Gen2 (NC/ND A100 and H100 sizes are Gen2-only); a first-party image with no purchase plan, so no `plan`
# block or terms acceptance. CPU: Canonical's Ubuntu 22.04 LTS (cloud-init installs Docker).
IMAGES = {
    ("gpu", "x86_64"): ("microsoft-dsvm", "ubuntu-hpc", "2204", "latest"),
    ("cpu", "x86_64"): ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "latest"),
    ("cpu", "arm64"): ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-arm64", "latest"),
}

SCALE_TO_ZERO = ("Azure autoscale rules read metrics of running replicas (Percentage CPU of the scale set, requests "
                 "per healthy host of the gateway); at zero replicas there is nothing to measure, so no rule scales "
                 "out again")


def check(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """Everything this target cannot express, as errors naming field and range. No CDK needed."""
    out = check_limits("azure", service, LIMITS)
    out += check_scale_to_zero("azure", service, SCALE_TO_ZERO)
    out += azure_site.check_tags("azure", service)
    out += startup.check_size("azure", service, "cloud-init custom data", startup.cloud_init(service, target),
                              CUSTOM_DATA_MAX, _CUSTOM_DATA_DOC)
    out += gateway.check(service, target)
    out += _check_repair(service)
    if service.disk_gib > MAX_OS_DISK_GIB:
        out.append(error("azure", "hardware.disk_gib",
                         f"hardware.disk_gib is {service.disk_gib}GiB; an Azure OS disk must be at most "
                         f"{MAX_OS_DISK_GIB}GiB (see {_DISK_DOC})"))
    if service.liveness:
        out.append(warning("azure", "probes.liveness.timeout",
                           f"probes.liveness.timeout ({service.liveness.timeout_s}s) has no setting on the scale "
                           "set's application health extension, which watches probes.liveness for repairs; path, "
                           f"port, interval and failure_threshold are carried (see {_HEALTH_EXT_DOC})"))
    key = str(target.get("ssh_public_key", ""))
    if key.startswith("ecdsa-"):
        out.append(error("azure", "targets.azure.ssh_public_key",
                         "targets.azure.ssh_public_key is an ECDSA key; Azure VMs accept ssh-rsa (2048 bits or more) "
                         f"or ssh-ed25519 keys (see {_SSH_DOC})"))
    if not target.get("image") and image_key(service) not in IMAGES:
        out.append(error("azure", "targets.azure.image",
                         f"azure has no default image for {service.arch} replicas with "
                         f"{service.accelerator}: set targets.azure.image (publisher:offer:sku:version)"))
    out += delivery.check("azure", service, target)
    return out


def _check_repair(service: ir.Service) -> list[Diagnostic]:
    low, high = GRACE_MINUTES
    delay = service.initial_delay_s
    if delay > high * 60:
        return [error("azure", "probes.readiness.initial_delay",
                      f"probes.readiness.initial_delay is {delay}s; the automatic instance repair grace period of an "
                      f"Azure VM scale set must be {low}-{high} minutes ({low * 60}-{high * 60}s) (see {_REPAIR_DOC})")]
    minutes = grace_minutes(delay)
    if minutes * 60 != delay:
        return [warning("azure", "probes.readiness.initial_delay",
                        f"probes.readiness.initial_delay is {delay}s; the scale set's repair grace period is whole "
                        f"minutes from {low} to {high}, so replicas get {minutes} minutes before they are repaired "
                        f"(see {_REPAIR_DOC})")]
    return []


def grace_minutes(seconds: int) -> int:
    """The repair grace period for `initial_delay`: whole minutes, at least the Azure minimum (never shorter)."""
    return max(GRACE_MINUTES[0], math.ceil(seconds / 60))


def image_key(service: ir.Service) -> tuple[str, str]:
    """The key of the default image in IMAGES: (gpu or cpu, arch)."""
    return ("gpu" if service.accelerator_count else "cpu", service.arch)


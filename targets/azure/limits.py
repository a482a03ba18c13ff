"""Azure target: what a VM scale set behind a Standard Load Balancer or Application Gateway can express (no CDK)."""

from __future__ import annotations

import math

from compiler import ir
from compiler.errors import Diagnostic
from targets import delivery, startup
from targets.azure import gateway
from targets.azure.registry import unnamed_registry
from targets.azure import site as azure_site
from targets.base import (Limit, check_limits, check_scale_to_zero, check_variants, error, fallback_refused,
                          on_demand_base_refused, unpulled_image, warning)

# The replicas are a uniform scale set: one VM size, one priority. Several sizes, and a Regular/Spot mix, belong to
# scale sets in Flexible orchestration (instance mix, Spot Priority Mix), a different resource infc does not emit:
# azurerm_orchestrated_virtual_machine_scale_set's sku_profile {allocation_strategy, vm_sizes} (azurerm 4.x,
# hashicorp/terraform-provider-azurerm TestAccOrchestratedVirtualMachineScaleSet_skuProfile_basic; absent from
# azurerm_linux_virtual_machine_scale_set in compiler/provider_schemas/azurerm-5.10.0.json;
# https://learn.microsoft.com/en-us/azure/virtual-machine-scale-sets/instance-mix-overview).
_ONE_SIZE = ("the replicas are a uniform Linux VM scale set (azurerm_linux_virtual_machine_scale_set), which runs one "
             "VM size at one priority; several sizes or a Regular/Spot mix need a scale set in Flexible orchestration, "
             "which infc does not emit")
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

# The application health extension (ApplicationHealthLinux, binary states) watches probes.liveness when given, else the
# readiness probe behind an Application Gateway (a layer-4 load balancer's probe serves the scale set there instead).
# Its settings schema takes intervalInSeconds 5-60 and numberOfProbes 1-24, in 1.0 (v1.0.7) as today (v2.0.29):
# Azure/applicationhealth-extension-linux main/schema.go. Out of range, the extension (and the scale set) fails.
# The readiness unhealthy_threshold behind a gateway is already held to the gateway's tighter 1-20 (gateway.py).
_HEALTH_EXT_SCHEMA = "https://github.com/Azure/applicationhealth-extension-linux/blob/master/main/schema.go"


def extension_probe(service: ir.Service) -> tuple[str, int, int, int] | None:
    """(path, port, interval, number of probes) the application health extension checks, or None without one."""
    if service.liveness:
        live = service.liveness
        return live.path, live.port, live.interval_s, live.failure_threshold
    if gateway.layer7_reasons(service):
        hc = service.readiness
        return hc.path, hc.port, hc.interval_s, hc.unhealthy_threshold
    return None


def _watched(probe: str, attribute: str):
    """The spec value the extension is set from: liveness when given, else readiness behind a gateway."""
    def value(s: ir.Service):
        if probe == "liveness":
            return getattr(s.liveness, attribute) if s.liveness else None
        return getattr(s.readiness, attribute) if not s.liveness and gateway.layer7_reasons(s) else None
    return value


HEALTH_EXTENSION_LIMITS = (
    Limit("probes.liveness.interval", _watched("liveness", "interval_s"), 5, 60,
          "the application health extension's probe interval (intervalInSeconds)", _HEALTH_EXT_SCHEMA, "s"),
    Limit("probes.liveness.failure_threshold", _watched("liveness", "failure_threshold"), 1, 24,
          "the application health extension's number of probes (numberOfProbes)", _HEALTH_EXT_SCHEMA),
    Limit("probes.readiness.interval", _watched("readiness", "interval_s"), 5, 60,
          "the application health extension's probe interval (intervalInSeconds)", _HEALTH_EXT_SCHEMA, "s"),
)

MAX_OS_DISK_GIB = 4095  # an OS disk holds at most 4,095 GiB (and at least the image's own size, checked by Azure)
# Automatic instance repair grace period: 10-90 minutes. Above is an error; below is raised to 10 minutes with a
# warning (a longer grace only delays repairs), as is a value that is not a whole number of minutes.
GRACE_MINUTES = (10, 90)

# Default images, (GPU family or cpu, arch) -> publisher:offer:sku:version. GPU: Microsoft's Ubuntu 22.04 HPC image
# (Azure/azhpc-images README): NVIDIA data-center driver, NCCL with the NDv4 topology, InfiniBand, Moby and the NVIDIA
# container toolkit, Gen2 (NC/ND A100 and H100 sizes are Gen2-only); a first-party image with no purchase plan, so no
# `plan` block or terms acceptance. Its driver uses NVIDIA's open kernel modules, which do not drive Volta: V100 sizes
# get the image's V100 variant with the proprietary modules (components/install_nvidiagpudriver.sh: "V100 requires
# proprietary kernel modules"). CPU: Canonical's Ubuntu 22.04 LTS (cloud-init installs Docker).
IMAGES = {
    ("gpu", "x86_64"): ("microsoft-dsvm", "ubuntu-hpc", "2204", "latest"),
    ("gpu-v100", "x86_64"): ("microsoft-dsvm", "ubuntu-hpc", "2204-v100", "latest"),
    ("cpu", "x86_64"): ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "latest"),
    ("cpu", "arm64"): ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-arm64", "latest"),
}

# Why no rule can start the first replica on a request: an autoscale rule compares one metric with a threshold,
# whatever the instance count (https://learn.microsoft.com/en-us/azure/azure-monitor/autoscale/
# autoscale-understanding-settings); Percentage CPU and the gateway's AvgRequestCountPerHealthyHost
# need running replicas, and the gateway publishes no metric while no request flows (_AGW_METRICS_DOC). A rule on the
# gateway's 5xx responses (what it answers with no backend) would also add replicas for a replica's own errors.
_AGW_METRICS_DOC = "https://learn.microsoft.com/en-us/azure/application-gateway/application-gateway-metrics"
SCALE_TO_ZERO = ("an autoscale rule compares one metric with a threshold, whatever the instance count, and no metric "
                 "tells requests waiting at zero replicas apart: Percentage CPU and the gateway's requests per healthy "
                 "host need running replicas, and the gateway publishes nothing while no request flows (see "
                 f"{_AGW_METRICS_DOC})")


_NO_WEIGHTS = ("an Application Gateway routing rule and a Standard Load Balancer rule each send requests to one "
               "backend pool, with no weights between pools")


def check(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """Everything this target cannot express, as errors naming field and range. No CDK needed."""
    out = check_limits("azure", service, LIMITS)
    out += check_variants("azure", service, _NO_WEIGHTS)
    out += check_limits("azure", service, HEALTH_EXTENSION_LIMITS)
    out += check_scale_to_zero("azure", service, SCALE_TO_ZERO)
    out += azure_site.check_tags("azure", service)
    out += startup.check_size("azure", service, "cloud-init custom data", startup.cloud_init(service, target),
                              CUSTOM_DATA_MAX, _CUSTOM_DATA_DOC)
    out += gateway.check(service, target)
    out += fallback_refused("azure", service, target, _ONE_SIZE)
    out += on_demand_base_refused("azure", service, _ONE_SIZE)
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
    if not target.get("image") and image_key(service)[0] == "gpu-grid":
        out.append(error("azure", "hardware.accelerator",
                         f"hardware.accelerator is {service.accelerator}, which Azure sells only as virtual GPUs "
                         f"(the NVadsA10 v5 family, here {target.machine.instance_type}) that need NVIDIA's GRID "
                         f"driver (see {_GRID_DOC}); infc's default GPU image, Ubuntu-HPC 22.04, carries the "
                         "data-center driver, "
                         "which cannot use them: set targets.azure.image to an image with the GRID driver, Docker and "
                         "the NVIDIA container toolkit, or choose another accelerator"))
    elif not target.get("image") and image_key(service) not in IMAGES:
        out.append(error("azure", "targets.azure.image",
                         f"azure has no default image for {service.arch} replicas with "
                         f"{service.accelerator}: set targets.azure.image (publisher:offer:sku:version)"))
    out += delivery.check("azure", service, target)
    out += unpulled_image("azure", service, "the replicas", cloud="azure")
    out += unnamed_registry("azure", service, target, "the replicas", "the replicas' managed identity",
                            "the replicas fail to pull it")
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


# Accelerators Azure sells only as virtual GPUs, which need NVIDIA's GRID (vGPU guest) driver rather than the
# data-center driver of the HPC image: every A10 size (NVadsA10 v5, and NCads A10 v4). Azure's NVIDIA GPU driver
# extension installs GRID by default on "NVadsA10_v5 Series" (_GRID_DOC, DefaultSelectionsPerVMFamily), and AKS routes
# these sizes to GRID drivers too. No first-party image carries GRID with Docker and the NVIDIA container toolkit, so
# infc has no default image for them: targets.azure.image must name one.
GRID_ACCELERATORS = ("nvidia-a10",)
_GRID_DOC = "https://github.com/Azure/azhpc-extensions/blob/master/NvidiaGPU/Nvidia-GPU-Linux-Resources.json"


def image_key(service: ir.Service) -> tuple[str, str]:
    """The key of the default image in IMAGES: (cpu, gpu, gpu-v100 or gpu-grid, arch)."""
    if not service.accelerator_count:
        return ("cpu", service.arch)
    if service.accelerator in GRID_ACCELERATORS:
        return ("gpu-grid", service.arch)
    return ("gpu-v100" if service.accelerator.startswith("nvidia-v100") else "gpu", service.arch)


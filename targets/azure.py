"""Azure backend: a Linux VM scale set of the model container behind a Standard Load Balancer or Application Gateway."""

from __future__ import annotations

import base64
import dataclasses
import json
import math

from compiler import ir
from compiler.errors import Diagnostic
from targets import azure_autoscale, azure_site
from targets import azure_gateway as gateway
from targets import startup
from targets.base import (Limit, check_limits, check_scale_to_zero, error, output_endpoint, resource_name,
                          uncredentialed_uri, warning)

# required_providers: the bindings (cdktn-provider-azurerm 18.9.0, cdktn-provider-tls 14.1.1) are generated from
# hashicorp/azurerm 5.10.0 and hashicorp/tls 4.4.1; arguments used here are read from those schemas.
TLS_PROVIDER = ("hashicorp/tls", ">= 4.4.1, < 5.0.0")

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

ADMIN = "azureuser"
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

METRIC = {  # spec metric -> (Azure Monitor metric, namespace, per-second spec value -> metric value)
    "cpu_percent": ("Percentage CPU", "microsoft.compute/virtualmachinescalesets", 1),
    # "Requests per minute per Healthy Host": the spec's target is per second.
    "requests_per_replica": ("AvgRequestCountPerHealthyHost", "microsoft.network/applicationgateways", 60),
}


def check(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """Everything this target cannot express, as errors naming field and range. No CDK needed."""
    out = check_limits("azure", service, LIMITS)
    out += check_scale_to_zero("azure", service, SCALE_TO_ZERO)
    out += azure_site.check_tags("azure", service)
    out += startup.check_size("azure", service, "cloud-init custom data", startup.cloud_init(service),
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
    if not target.get("image") and _image_key(service) not in IMAGES:
        out.append(error("azure", "targets.azure.image",
                         f"azure has no default image for {service.arch} replicas with "
                         f"{service.accelerator}: set targets.azure.image (publisher:offer:sku:version)"))
    out += uncredentialed_uri("azure", service, ("s3", "gs"), "the container must bring its own, or the bucket "
                                                              "must be public")
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


def _image_key(service: ir.Service) -> tuple[str, str]:
    return ("gpu" if service.accelerator_count else "cpu", service.arch)


@dataclasses.dataclass(frozen=True)
class Site:
    """Where the stack's resources go: resource group, location, tags and the subnets (ids) they attach to."""

    resource_group: object
    location: str
    tags: dict | None
    replicas_subnet: object
    gateway_subnet: object | None  # created only when an Application Gateway is emitted
    created_network: bool
    ready: tuple = ()  # what must exist before replicas boot (their outbound route)


def emit(stack, service: ir.Service, target: ir.Target) -> None:
    """Every resource of the Azure stack, in dependency order."""
    site = _site(stack, service, target)
    front = gateway.emit(stack, service, target, site)
    nic_nsg, secured = _replica_security_group(stack, service, site, front)
    scale_set = _scale_set(stack, service, target, site, front, nic_nsg, secured)
    if service.autoscale:
        _autoscale(stack, service, site, scale_set, front)
    output_endpoint(stack, service, front.host)


def _site(stack, service: ir.Service, target: ir.Target) -> Site:
    """Provider, resource group and network: the given ones, or new ones named after the service."""
    group, location, tags = azure_site.start(stack, service, target)
    needs_gateway = bool(gateway.layer7_reasons(service))
    subnet_id = target.get("subnet_id")
    if subnet_id:  # check() rejects subnet_id together with an Application Gateway
        return Site(group, location, tags, subnet_id, None, False)
    vnet = stack.add("azurerm", "virtual_network.VirtualNetwork", "network", name=resource_name(service, "vnet"),
                     resource_group_name=group, location=location, address_space=[gateway.NETWORK["vnet"]], tags=tags)
    # Replicas leave the network only through the NAT gateway below (no default outbound access).
    replicas = stack.add("azurerm", "subnet.Subnet", "replicas_subnet", name="replicas", resource_group_name=group,
                         virtual_network_name=vnet.name, address_prefixes=[gateway.NETWORK["replicas"]],
                         default_outbound_access_enabled=False)
    outbound = _nat(stack, service, group, location, tags, replicas)
    gateway_subnet = None
    if needs_gateway:  # an Application Gateway needs a subnet that holds only application gateways
        gateway_subnet = stack.add("azurerm", "subnet.Subnet", "gateway_subnet", name="gateway",
                                   resource_group_name=group, virtual_network_name=vnet.name,
                                   address_prefixes=[gateway.NETWORK["gateway"]])
    return Site(group, location, tags, replicas.id, gateway_subnet.id if gateway_subnet else None, True, (outbound,))


def _nat(stack, service: ir.Service, group, location: str, tags, subnet):
    """Outbound for image pulls and model downloads: a NAT gateway with its own static IP on the replicas subnet."""
    ip = stack.add("azurerm", "public_ip.PublicIp", "nat_ip", name=resource_name(service, "nat"),
                   resource_group_name=group, location=location, allocation_method="Static", sku="Standard",
                   tags=tags)
    nat = stack.add("azurerm", "nat_gateway.NatGateway", "nat_gateway", name=resource_name(service, "nat"),
                    resource_group_name=group, location=location, sku_name="Standard", tags=tags)
    stack.add("azurerm", "nat_gateway_public_ip_association.NatGatewayPublicIpAssociation", "nat_ip_association",
              nat_gateway_id=nat.id, public_ip_address_id=ip.id)
    return stack.add("azurerm", "subnet_nat_gateway_association.SubnetNatGatewayAssociation",
                     "nat_subnet_association", nat_gateway_id=nat.id, subnet_id=subnet.id)


def _replica_security_group(stack, service: ir.Service, site: Site, front: gateway.Front):
    """Inbound to replicas: what the front end forwards and probes, nothing else (a final deny-all).
    Returns (NSG id for the replicas' NICs or None, what the scale set waits for)."""
    nsg = stack.add("azurerm", "network_security_group.NetworkSecurityGroup", "replica_security_group",
                    name=resource_name(service, "replicas"), resource_group_name=site.resource_group,
                    location=site.location, tags=site.tags)
    rules = gateway.security_rules(stack, nsg, "replica_security_group", front.replica_rules)
    if site.created_network:
        return None, [stack.add(
            "azurerm", "subnet_network_security_group_association.SubnetNetworkSecurityGroupAssociation",
            "replica_security_group_association", subnet_id=site.replicas_subnet, network_security_group_id=nsg.id,
            depends_on=rules)]
    # A given subnet keeps its own NSG (associating ours would replace it): ours goes on the replicas' NICs.
    return nsg.id, rules


def _scale_set(stack, service: ir.Service, target: ir.Target, site: Site, front: gateway.Front, nic_nsg, secured):
    V = "linux_virtual_machine_scale_set.LinuxVirtualMachineScaleSet"
    key = target.get("ssh_public_key") or _generated_key(stack)
    publisher, offer, sku, version = (str(target.get("image")).split(":") if target.get("image")
                                      else IMAGES[_image_key(service)])
    ip_config = stack.struct("azurerm", f"{V}NetworkInterfaceIpConfiguration", name="primary", primary=True,
                             subnet_id=site.replicas_subnet, **front.pool)
    health = _health_extension(stack, service, front)
    scale_set = stack.add(
        "azurerm", V, "scale_set", name=service.name, resource_group_name=site.resource_group,
        location=site.location, sku=target.machine.instance_type, instances=service.min_replicas,
        admin_username=ADMIN, disable_password_authentication=True,
        # Off unless asked: it needs the EncryptionAtHost feature registered on the subscription (spec docs).
        encryption_at_host_enabled=bool(target.get("encryption_at_host")),
        admin_ssh_key=[stack.struct("azurerm", f"{V}AdminSshKey", username=ADMIN, public_key=key)],
        source_image_reference=stack.struct("azurerm", f"{V}SourceImageReference", publisher=publisher, offer=offer,
                                            sku=sku, version=version),
        os_disk=stack.struct("azurerm", f"{V}OsDisk", caching="ReadWrite", storage_account_type="Premium_LRS",
                             disk_size_gb=service.disk_gib),
        network_interface=[stack.struct("azurerm", f"{V}NetworkInterface", name="primary", primary=True,
                                        network_security_group_id=nic_nsg, ip_configuration=[ip_config])],
        custom_data=base64.b64encode(startup.cloud_init(service).encode()).decode(),
        priority="Spot" if service.spot else None,
        eviction_policy="Delete" if service.spot else None,
        max_bid_price=-1 if service.spot else None,  # -1: never evicted for price, only for capacity
        # Only one health source may be enabled: the LB probe, or the application health extension.
        health_probe_id=None if health else front.health_probe_id,
        extension=[health] if health else None,
        automatic_instance_repair=stack.struct("azurerm", f"{V}AutomaticInstanceRepair", enabled=True,
                                               action="Replace",
                                               grace_period=f"PT{grace_minutes(service.initial_delay_s)}M"),
        # Rolling with surge: new replicas come up and turn healthy before old ones are deleted.
        upgrade_mode="Rolling",
        rolling_upgrade_policy=stack.struct(
            "azurerm", f"{V}RollingUpgradePolicy", max_batch_instance_percent=20, max_unhealthy_instance_percent=20,
            max_unhealthy_upgraded_instance_percent=20, pause_time_between_batches="PT0S",
            maximum_surge_instances_enabled=True, prioritize_unhealthy_instances_enabled=True),
        overprovision=False,  # required by surge; GPUs are too scarce to start extra VMs anyway
        single_placement_group=False,  # allows up to 1,000 instances
        boot_diagnostics=stack.struct("azurerm", f"{V}BootDiagnostics"),  # managed storage: cloud-init console
        # LB rules before the scale set joins the pool (azurerm docs); outbound and NSG before replicas boot, or the
        # image pull in cloud-init fails.
        tags=site.tags, depends_on=[*front.depends_on, *site.ready, *secured])
    if service.autoscale:
        # The autoscale setting owns the instance count once it exists.
        scale_set.add_override("lifecycle.ignore_changes", ["instances"])
    return scale_set


def _generated_key(stack) -> str:
    """No ssh_public_key given: an Ed25519 key pair in Terraform state, the private half a sensitive output."""
    stack.require("tls", *TLS_PROVIDER)
    stack.add("tls", "provider.TlsProvider", "tls")
    pair = stack.add("tls", "private_key.PrivateKey", "ssh_key", algorithm="ED25519")
    stack.output("ssh_private_key", pair.private_key_openssh,
                 f"OpenSSH private key of the replicas' admin user '{ADMIN}' (terraform output -raw ssh_private_key)",
                 sensitive=True)
    return pair.public_key_openssh


def _health_extension(stack, service: ir.Service, front: gateway.Front):
    """The application health extension (binary states: 200 is healthy) when the scale set cannot use an LB probe:
    behind an Application Gateway, or to watch probes.liveness instead of readiness."""
    if service.liveness:
        path, port, interval, probes = (service.liveness.path, service.liveness.port, service.liveness.interval_s,
                                        service.liveness.failure_threshold)
    elif front.health_probe_id is None:
        hc = service.readiness
        path, port, interval, probes = hc.path, hc.port, hc.interval_s, hc.unhealthy_threshold
    else:
        return None
    settings = {"protocol": "http", "port": port, "requestPath": path, "intervalInSeconds": interval,
                "numberOfProbes": probes}
    return stack.struct("azurerm", "linux_virtual_machine_scale_set.LinuxVirtualMachineScaleSetExtension",
                        name="health", publisher="Microsoft.ManagedServices", type="ApplicationHealthLinux",
                        type_handler_version="1.0", auto_upgrade_minor_version=True,
                        settings=json.dumps(settings, sort_keys=True))


def _autoscale(stack, service: ir.Service, site: Site, scale_set, front: gateway.Front) -> None:
    name, namespace, per = METRIC[service.autoscale.metric]
    source = front.metric_resource_id if service.autoscale.metric == "requests_per_replica" else scale_set.id
    azure_autoscale.emit(stack, service, group=site.resource_group, location=site.location, tags=site.tags,
                         scaled_id=scale_set.id, metric=name, namespace=namespace, metric_resource_id=source, per=per)

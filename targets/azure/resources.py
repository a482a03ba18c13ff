"""Azure target: the resources of the stack, a Linux VM scale set of the model container behind its front end."""

from __future__ import annotations

import base64
import dataclasses
import json
import math

from compiler import ir
from targets import delivery, startup
from targets.azure import autoscale, gateway, registry, site as azure_site
from targets.azure.grants import grant, lookup, secret_grants
from targets.azure.limits import IMAGES, extension_probe, grace_minutes, image_key
from targets.base import output_endpoint, resource_name

# The generated SSH key: arguments are checked against hashicorp/tls 4.4.1 (compiler/provider_schemas/).
TLS_PROVIDER = ("hashicorp/tls", ">= 4.4.1, < 5.0.0")

ADMIN = "azureuser"

METRIC = {  # spec metric -> (Azure Monitor metric, namespace, per-second spec value -> metric value)
    "cpu_percent": ("Percentage CPU", "microsoft.compute/virtualmachinescalesets", 1),
    # "Requests per minute per Healthy Host": the spec's target is per second.
    "requests_per_replica": ("AvgRequestCountPerHealthyHost", "microsoft.network/applicationgateways", 60),
}


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
    client: object | None = None  # the azurerm_client_config data source, where a part needs the subscription


def emit(stack, service: ir.Service, target: ir.Target) -> None:
    """Every resource of the Azure stack, in dependency order."""
    site = _site(stack, service, target)
    front = gateway.emit(stack, service, target, site)
    nic_nsg, secured = _replica_security_group(stack, service, site, front)
    identity, grants = _replica_identity(stack, service, target, site)
    scale_set = _scale_set(stack, service, target, site, front, nic_nsg, [*secured, *grants], identity)
    if service.autoscale:
        _autoscale(stack, service, site, scale_set, front)
    output_endpoint(stack, service, front.host)


def _site(stack, service: ir.Service, target: ir.Target) -> Site:
    """Provider, resource group and network: the given ones, or new ones named after the service."""
    group, location, tags = azure_site.start(stack, service, target)
    # The subscription: the certificate's vault must be in it (key_vault.py), the registry's name derives from it.
    client = stack.data("azurerm_client_config", "client") \
        if target.get("key_vault_id") or target.get("registry") else None
    needs_gateway = bool(gateway.layer7_reasons(service))
    subnet_id = target.get("subnet_id")
    if subnet_id:  # check() rejects subnet_id together with an Application Gateway
        return Site(group, location, tags, subnet_id, None, False, client=client)
    vnet = stack.add("azurerm_virtual_network", "network", name=resource_name(service, "vnet"),
                     resource_group_name=group, location=location, address_space=[gateway.NETWORK["vnet"]], tags=tags)
    # Replicas leave the network only through the NAT gateway below (no default outbound access).
    replicas = stack.add("azurerm_subnet", "replicas_subnet", name="replicas", resource_group_name=group,
                         virtual_network_name=vnet.name, address_prefixes=[gateway.NETWORK["replicas"]],
                         default_outbound_access_enabled=False)
    outbound = _nat(stack, service, group, location, tags, replicas)
    gateway_subnet = None
    if needs_gateway:  # an Application Gateway needs a subnet that holds only application gateways
        gateway_subnet = stack.add("azurerm_subnet", "gateway_subnet", name="gateway",
                                   resource_group_name=group, virtual_network_name=vnet.name,
                                   address_prefixes=[gateway.NETWORK["gateway"]])
    return Site(group, location, tags, replicas.id, gateway_subnet.id if gateway_subnet else None, True, (outbound,),
                client)


def _nat(stack, service: ir.Service, group, location: str, tags, subnet):
    """Outbound for image pulls and model downloads: a NAT gateway with its own static IP on the replicas subnet."""
    ip = stack.add("azurerm_public_ip", "nat_ip", name=resource_name(service, "nat"),
                   resource_group_name=group, location=location, allocation_method="Static", sku="Standard",
                   tags=tags)
    nat = stack.add("azurerm_nat_gateway", "nat_gateway", name=resource_name(service, "nat"),
                    resource_group_name=group, location=location, sku_name="Standard", tags=tags)
    stack.add("azurerm_nat_gateway_public_ip_association", "nat_ip_association", nat_gateway_id=nat.id,
              public_ip_address_id=ip.id)
    return stack.add("azurerm_subnet_nat_gateway_association", "nat_subnet_association", nat_gateway_id=nat.id,
                     subnet_id=subnet.id)


def _replica_security_group(stack, service: ir.Service, site: Site, front: gateway.Front):
    """Inbound to replicas: what the front end forwards and probes, nothing else (a final deny-all).
    Returns (NSG id for the replicas' NICs or None, what the scale set waits for)."""
    nsg = stack.add("azurerm_network_security_group", "replica_security_group",
                    name=resource_name(service, "replicas"), resource_group_name=site.resource_group,
                    location=site.location, tags=site.tags)
    rules = gateway.security_rules(stack, nsg, "replica_security_group", front.replica_rules)
    if site.created_network:
        return None, [stack.add(
            "azurerm_subnet_network_security_group_association", "replica_security_group_association",
            subnet_id=site.replicas_subnet, network_security_group_id=nsg.id, depends_on=rules)]
    # A given subnet keeps its own NSG (associating ours would replace it): ours goes on the replicas' NICs.
    return nsg.id, rules


def _replica_identity(stack, service: ir.Service, target: ir.Target, site: Site):
    """The replicas' user-assigned identity, when they read the model from Azure Blob, secrets from Key Vault or images
    from a registry infc knows (startup.uses_identity), with the grants it needs from the first boot (created before
    the scale set, unlike a system-assigned one): Storage Blob Data Reader on the model's container, Key Vault Secrets
    User on each secret, AcrPull on the registries (targets.azure.registry, container_registry_id). Returns (identity
    or None, grants)."""
    if not startup.uses_identity(target):
        return None, []
    identity = stack.add("azurerm_user_assigned_identity", "replica_identity", name=resource_name(service, "replicas"),
                         resource_group_name=site.resource_group, location=site.location, tags=site.tags)
    grants = []
    found = delivery.source(target.model_uri)
    if found is not None and found.scheme == "blob":
        account = lookup(stack, "model_storage", "Microsoft.Storage/storageAccounts", found.store)
        scope = stack.fmt("{}/blobServices/default/containers/{}", account, found.container)
        grants.append(grant(stack, "model_read", scope, "Storage Blob Data Reader", identity.principal_id))
    grants += secret_grants(stack, target.secrets, identity.principal_id)
    for construct_id, scope in registry.pull_scopes(stack, service, target, site.resource_group, site.location,
                                                    site.tags, site.client).items():
        grants.append(grant(stack, construct_id, scope, registry.ACR_PULL, identity.principal_id))
    return identity, grants


def _custom_data(stack, service: ir.Service, target: ir.Target, identity):
    """The cloud-init user data, base64: a literal, or built by Terraform around the identity's client id."""
    parts = startup.cloud_init_parts(service, target)
    if identity is None:
        return base64.b64encode(parts[0].encode()).decode()
    return stack.expr('base64encode(join("", [{}, {}, {}]))', parts[0], identity.client_id, parts[1])


def _scale_set(stack, service: ir.Service, target: ir.Target, site: Site, front: gateway.Front, nic_nsg, secured,
               identity):
    key = target.get("ssh_public_key") or _generated_key(stack)
    publisher, offer, sku, version = (str(target.get("image")).split(":") if target.get("image")
                                      else IMAGES[image_key(service)])
    ip_config = {"name": "primary", "primary": True, "subnet_id": site.replicas_subnet, **front.pool}
    health = _health_extension(service)
    return stack.add(
        "azurerm_linux_virtual_machine_scale_set", "scale_set", name=service.name,
        resource_group_name=site.resource_group, location=site.location, sku=target.machine.instance_type,
        instances=service.min_replicas, admin_username=ADMIN, disable_password_authentication=True,
        # Off unless asked: it needs the EncryptionAtHost feature registered on the subscription (spec docs).
        encryption_at_host_enabled=bool(target.get("encryption_at_host")),
        admin_ssh_key=[{"username": ADMIN, "public_key": key}],
        source_image_reference={"publisher": publisher, "offer": offer, "sku": sku, "version": version},
        os_disk={"caching": "ReadWrite", "storage_account_type": "Premium_LRS", "disk_size_gb": service.disk_gib},
        network_interface=[{"name": "primary", "primary": True, "network_security_group_id": nic_nsg,
                            "ip_configuration": [ip_config]}],
        custom_data=_custom_data(stack, service, target, identity),
        identity={"type": "UserAssigned", "identity_ids": [identity.id]} if identity else None,
        priority="Spot" if service.spot else None,
        eviction_policy="Delete" if service.spot else None,
        max_bid_price=-1 if service.spot else None,  # -1: never evicted for price, only for capacity
        # Only one health source may be enabled: the LB probe, or the application health extension.
        health_probe_id=None if health else front.health_probe_id,
        extension=[health] if health else None,
        automatic_instance_repair={"enabled": True, "action": "Replace",
                                   "grace_period": f"PT{grace_minutes(service.initial_delay_s)}M"},
        # Rolling with surge: new replicas come up and turn healthy before old ones are deleted.
        upgrade_mode="Rolling",
        rolling_upgrade_policy={**rolling_thresholds(service), "pause_time_between_batches": "PT0S",
                                "maximum_surge_instances_enabled": True,
                                "prioritize_unhealthy_instances_enabled": True},
        overprovision=False,  # required by surge; GPUs are too scarce to start extra VMs anyway
        single_placement_group=False,  # allows up to 1,000 instances
        boot_diagnostics={},  # managed storage: cloud-init console
        # LB rules before the scale set joins the pool (azurerm docs); outbound, NSG and the identity's grants before
        # replicas boot, or the image pull or the model download in cloud-init fails.
        tags=site.tags, depends_on=[*front.depends_on, *site.ready, *secured],
        # The autoscale setting owns the instance count once it exists.
        lifecycle={"ignore_changes": ["instances"]} if service.autoscale else None)


# Rolling upgrades in batches of BATCH_PERCENT of the instances. A rolling upgrade aborts when, before a batch, more
# than max_unhealthy_instance_percent of all instances are unhealthy (being upgraded counts), or, after a batch, more
# than max_unhealthy_upgraded_instance_percent of the upgraded ones are (RollingUpgradePolicy: 5-100, 5-100 and 0-100,
# Azure/azapi's embedded compute 2024-07-01 types; azurerm 5.x sends them as given). Azure's 20 % aborts any change of
# a set of 1-4 with one unhealthy instance: 1 of N is 100, 50, 33.3 and 25 %. So both thresholds admit one unhealthy
# instance of the smallest set (replicas.min; more instances only lower the share) and of the smallest batch:
#   N (replicas.min)       1    2    3    4    5    9    10   20   25+
#   unhealthy of N  %      100  50   34   25   20   20   20   20   20    max(20, ceil(100 / N))
#   batch B = floor(N/5)   1    1    1    1    1    1    2    4    5+    at least 1 instance
#   unhealthy of B  %      100  100  100  100  100  100  50   25   20    max(20, ceil(100 / B))
BATCH_PERCENT = 20


def rolling_thresholds(service: ir.Service) -> dict[str, int]:
    """The rolling upgrade's batch size and abort thresholds for replicas.min instances (table above)."""
    instances = max(service.min_replicas, 1)
    batch = max(instances * BATCH_PERCENT // 100, 1)
    return {"max_batch_instance_percent": BATCH_PERCENT,
            "max_unhealthy_instance_percent": max(BATCH_PERCENT, math.ceil(100 / instances)),
            "max_unhealthy_upgraded_instance_percent": max(BATCH_PERCENT, math.ceil(100 / batch))}


def _generated_key(stack):
    """No ssh_public_key given: an Ed25519 key pair in Terraform state, the private half a sensitive output."""
    stack.provider("tls", *TLS_PROVIDER)
    pair = stack.add("tls_private_key", "ssh_key", algorithm="ED25519")
    stack.output("ssh_private_key", pair.private_key_openssh,
                 f"OpenSSH private key of the replicas' admin user '{ADMIN}' (terraform output -raw ssh_private_key)",
                 sensitive=True)
    return pair.public_key_openssh


def _health_extension(service: ir.Service) -> dict | None:
    """The application health extension (binary states: 200 is healthy) when the scale set cannot use an LB probe:
    behind an Application Gateway, or to watch probes.liveness instead of readiness (limits.extension_probe)."""
    watched = extension_probe(service)
    if watched is None:
        return None
    path, port, interval, probes = watched
    settings = {"protocol": "http", "port": port, "requestPath": path, "intervalInSeconds": interval,
                "numberOfProbes": probes}
    return {"name": "health", "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
            "type_handler_version": "1.0", "auto_upgrade_minor_version": True,
            "settings": json.dumps(settings, sort_keys=True)}


def _autoscale(stack, service: ir.Service, site: Site, scale_set, front: gateway.Front) -> None:
    name, namespace, per = METRIC[service.autoscale.metric]
    source = front.metric_resource_id if service.autoscale.metric == "requests_per_replica" else scale_set.id
    autoscale.emit(stack, service, group=site.resource_group, location=site.location, tags=site.tags,
                         scaled_id=scale_set.id, metric=name, namespace=namespace, metric_resource_id=source, per=per)

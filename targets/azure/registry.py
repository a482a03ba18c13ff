"""Azure Container Registry for the azure and aks backends: the registry infc creates (`registry`), AcrPull for the
replicas' or nodes' identity on it and on `container_registry_id`, and the warning when neither names the registry
of model.image."""

from __future__ import annotations

from compiler import ir
from compiler.errors import Diagnostic
from targets.azure.site import global_name
from targets.base import private_registry, warning

# Pull only (https://learn.microsoft.com/en-us/azure/container-registry/container-registry-roles).
ACR_PULL = "AcrPull"


def pull_scopes(stack, service: ir.Service, target: ir.Target, group, location: str, tags, client) -> dict:
    """Construct id -> registry id that the replicas or nodes get AcrPull on: the registry infc creates with
    `registry` (Basic SKU, its login server the output `registry_url`) and `container_registry_id`."""
    scopes = {}
    if target.get("registry"):
        registry = stack.add(
            "azurerm_container_registry", "registry", name=global_name(stack, service, target, client),
            resource_group_name=group, location=location, sku="Basic",
            # Pulls authenticate with Microsoft Entra identities, never the shared admin user.
            admin_enabled=False, tags=tags)
        stack.output("registry_url", registry.login_server, "Login server of the Azure Container Registry")
        scopes["registry_pull"] = registry.id
    if target.get("container_registry_id"):
        scopes["container_registry_pull"] = target.get("container_registry_id")
    return scopes


def unnamed_registry(name: str, service: ir.Service, target: ir.Target, who: str, identity: str,
                     consequence: str) -> list[Diagnostic]:
    """A warning when model.image is in an Azure Container Registry and `target` names no registry to grant `who`
    (their `identity`) AcrPull on: the role assignment needs the registry's resource id, which its login server does
    not give."""
    found = private_registry(service.image)
    if found is None or found.cloud != "azure" or target.get("registry") or target.get("container_registry_id"):
        return []
    return [warning(name, "model.image",
                    f"model.image is in the Azure Container Registry {found.host}, but {who} get no pull access to "
                    f"it: set targets.{name}.container_registry_id to its resource id (AcrPull for {identity}), or "
                    f"{consequence} unless the registry allows anonymous pull")]

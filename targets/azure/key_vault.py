"""Azure: the Application Gateway's read access to the Key Vault of its certificate (targets.azure.key_vault_id)."""

from __future__ import annotations

from urllib.parse import urlsplit

from compiler import ir
from compiler.errors import Diagnostic
from targets.base import error, warning

# Application Gateway reads a Key Vault certificate as a secret, with a user-assigned identity that needs "Get" on
# secrets: an access policy, or the Key Vault Secrets User role on a vault using Azure RBAC
# (https://learn.microsoft.com/en-us/azure/application-gateway/key-vault-certs). The vault's permission model is read
# at plan time (data azurerm_key_vault, rbac_authorization_enabled), and exactly one of the two grants is created.
SECRETS_USER = "Key Vault Secrets User"
_KEY_VAULT_DOC = "https://learn.microsoft.com/en-us/azure/application-gateway/key-vault-certs"


def vault_parts(key_vault_id: str) -> tuple[str, str, str]:
    """(subscription, resource group, vault name) of /subscriptions/S/resourceGroups/G/providers/
    Microsoft.KeyVault/vaults/N (the spec's pattern guarantees the shape)."""
    parts = key_vault_id.split("/")
    return parts[2], parts[4], parts[8]


def check(service: ir.Service, target: ir.Target, https: bool) -> list[Diagnostic]:
    """key_vault_id names the vault of the certificate, and only matters where a listener is https."""
    key_vault_id = target.get("key_vault_id")
    if not key_vault_id:
        return []
    if not https:
        return [warning("azure", "targets.azure.key_vault_id",
                        "targets.azure.key_vault_id has no effect without an https listener: only the Application "
                        "Gateway's certificate is read from Key Vault")]
    name = vault_parts(str(key_vault_id))[2]
    host = urlsplit(str(target.get("certificate") or "")).hostname or ""
    if host.partition(".")[0].lower() != name.lower():
        return [error("azure", "targets.azure.key_vault_id",
                      f"targets.azure.key_vault_id names the vault '{name}', but targets.azure.certificate is in "
                      f"'{host}': name the vault that holds the certificate (see {_KEY_VAULT_DOC})")]
    return []


def grant(stack, target: ir.Target, identity, client) -> list:
    """The role assignment or the access policy that lets `identity` read the certificate, or [] without a vault id.
    The vault must be in the provider's subscription (`client`, the azurerm_client_config data source), where the
    data source reads it: a precondition says so at plan time rather than a not-found error."""
    key_vault_id = target.get("key_vault_id")
    if not key_vault_id:
        return []
    subscription, group, name = vault_parts(str(key_vault_id))
    vault = stack.data(
        "azurerm_key_vault", "certificate_vault", name=name, resource_group_name=group,
        lifecycle={"precondition": [{
            "condition": stack.expr("lower({}) == lower({})", client.subscription_id, subscription),
            "error_message": f"targets.azure.key_vault_id is in subscription {subscription}, not the one this stack "
                             "deploys to: grant the gateway_identity_principal_id output read access to its secrets "
                             "yourself and remove key_vault_id."}]})
    rbac = vault.rbac_authorization_enabled
    role = stack.add("azurerm_role_assignment", "gateway_certificate_role", scope=vault.id,
                     role_definition_name=SECRETS_USER, principal_id=identity.principal_id,
                     # a new identity may not have replicated yet; the type spares the lookup that would fail
                     principal_type="ServicePrincipal",
                     description="infc: the Application Gateway reads its certificate",
                     count=stack.expr("{} ? 1 : 0", rbac))
    policy = stack.add("azurerm_key_vault_access_policy", "gateway_certificate_policy", key_vault_id=vault.id,
                       tenant_id=identity.tenant_id, object_id=identity.principal_id, secret_permissions=["Get"],
                       count=stack.expr("{} ? 0 : 1", rbac))
    return [role, policy]

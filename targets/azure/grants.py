"""Azure role assignments for managed identities on resources a spec names by URL (a Key Vault, a storage account),
shared by the azure and azureml backends."""

from __future__ import annotations

from targets import delivery

_ROLE_DOC = "https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/resources/role_assignment"


def lookup(stack, construct_id: str, kind: str, name: str):
    """The resource id of the `kind` resource named `name` in the stack's subscription, looked up at plan time (a URL
    names a vault or a storage account; a role assignment needs its id). Exactly one must exist, or plan stops."""
    found = stack.data("azurerm_resources", construct_id, type=kind, name=name, lifecycle={"postcondition": [{
        "condition": stack.expr("length(self.resources) == 1"),
        "error_message": f"infc: no {kind} named {name} in this subscription (or more than one); the model or a "
                         "secret reference names it, and the replicas' identity needs a role on it"}]})
    return found.resources[0].id


def secret_grants(stack, secrets, principal_id) -> list:
    """Key Vault Secrets User on each secret of `secrets` (ir.Secret, Key Vault URLs) for `principal_id`: each vault
    looked up once, each secret granted once however many variables name it (Azure refuses a second identical role
    assignment). Names compare as Azure's do, case-insensitively."""
    vaults, grants, seen = {}, [], set()
    for secret in secrets:
        ref = delivery.key_vault_secret(secret.ref)
        vault, name = ref.vault.lower(), ref.name.lower()
        if vault not in vaults:
            vaults[vault] = lookup(stack, f"key_vault_{vault}", "Microsoft.KeyVault/vaults", ref.vault)
        if (vault, name) in seen:
            continue
        seen.add((vault, name))
        grants.append(grant(stack, f"secret_read_{secret.name}", stack.fmt("{}/secrets/{}", vaults[vault], ref.name),
                            "Key Vault Secrets User", principal_id))
    return grants


def grant(stack, construct_id: str, scope, role: str, principal_id, depends_on=()):
    """`role` on `scope` for a managed identity; principal_type spares the directory lookup that a new identity may
    not pass yet (_ROLE_DOC)."""
    return stack.add("azurerm_role_assignment", construct_id, scope=scope, role_definition_name=role,
                     principal_id=principal_id, principal_type="ServicePrincipal", depends_on=depends_on)

"""Azure ML target: the resources of the stack, a workspace with its companions and the online endpoint."""

from __future__ import annotations

from compiler import ir
from targets.azure import site as azure_site
from targets.azureml import endpoint
from targets.base import resource_name

# Arguments are checked against Azure/azapi 2.13.0 (compiler/provider_schemas/): the range spans its major version.
AZAPI_PROVIDER = ("Azure/azapi", ">= 2.13.0, < 3.0.0")

SAS_EXPIRATION = "07.00:00:00"  # storage SAS policy: DD.HH:MM:SS
SOFT_DELETE_DAYS = 7  # blob and container soft delete: 1-365 days


def emit(stack, service: ir.Service, target: ir.Target) -> None:
    """Every resource of the Azure ML stack, in dependency order."""
    # A deleted workspace is soft-deleted for 14 days with its name taken, and azurerm purges it on destroy only
    # when asked (purge_soft_deleted_workspace_on_destroy defaults to false: hashicorp/terraform-provider-azurerm
    # internal/features/defaults.go): purged by default, so destroy-then-apply works.
    purge = bool(target.get("purge_workspace_on_destroy"))
    group, location, tags = azure_site.start(stack, service, target, features={
        "machine_learning": [{"purge_soft_deleted_workspace_on_destroy": purge}]})
    stack.provider("azapi", *AZAPI_PROVIDER)
    workspace = build_workspace(stack, service, target, location, tags, group)
    endpoint.emit(stack, service, target, workspace.id, group, location, tags)


def build_workspace(stack, service: ir.Service, target: ir.Target, location: str, tags, group, client=None):
    """The workspace and what it needs: storage account, key vault, and application insights on a Log Analytics
    workspace (workspace-based; classic Application Insights is retired). `client`: the stack's
    azurerm_client_config, if it has one already."""
    client = client or stack.data("azurerm_client_config", "client")
    common = {"location": location, "resource_group_name": group, "tags": tags}
    logs = stack.add("azurerm_log_analytics_workspace", "log_analytics",
                     name=resource_name(service, "logs"), sku="PerGB2018", retention_in_days=30, **common)
    insights = stack.add("azurerm_application_insights", "application_insights",
                         name=resource_name(service, "insights"), application_type="web", workspace_id=logs.id,
                         **common)
    # Standard general-purpose v2 without hierarchical namespace: Azure ML does not take premium storage for the
    # workspace's default datastore.
    storage = stack.add(
        "azurerm_storage_account", "storage_account", name=azure_site.global_name(stack, service, target, client),
        account_tier="Standard", account_replication_type="LRS", min_tls_version="TLS1_2",
        # No anonymous reads of any container. The workspace reaches its storage with the account key (identity-based
        # access to a workspace's system datastores is a preview), so shared keys stay on; SAS tokens signed for
        # longer than a week are logged (not blocked, which would break tokens the workspace issues).
        allow_nested_items_to_be_public=False, shared_access_key_enabled=True,
        sas_policy={"expiration_period": SAS_EXPIRATION, "expiration_action": "Log"},
        # Deleted blobs and containers stay recoverable for a week (billed as stored data meanwhile).
        blob_properties={"delete_retention_policy": {"days": SOFT_DELETE_DAYS},
                         "container_delete_retention_policy": {"days": SOFT_DELETE_DAYS}},
        **common)
    # Access policies (not Azure RBAC): the workspace grants its own identity access when it is created, and
    # azurerm leaves policies it is not given alone. Purge protection only when asked: it cannot be undone and keeps
    # a destroyed vault's name taken for 90 days.
    vault = stack.add("azurerm_key_vault", "key_vault", name=azure_site.global_name(stack, service, target, client),
                      tenant_id=client.tenant_id, sku_name="standard", rbac_authorization_enabled=False,
                      purge_protection_enabled=bool(target.get("purge_protection")), **common)
    return stack.add(
        "azurerm_machine_learning_workspace", "workspace",
        name=resource_name(service, "ws"), application_insights_id=insights.id, key_vault_id=vault.id,
        storage_account_id=storage.id, container_registry_id=target.get("container_registry_id"),
        identity={"type": "SystemAssigned"},
        # Not a high business impact workspace (Azure's default, stated): HBI only trims the diagnostics Microsoft
        # collects and, being fixed at creation, is left to a workspace made for such data.
        high_business_impact=False, **common)

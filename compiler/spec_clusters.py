"""The settings of the managed Kubernetes targets on AWS and Azure (eks, aks): cluster, nodes and the workload."""

from __future__ import annotations

from pydantic import Field

from compiler.spec_base import (_AZURE_ID, _RESOURCE_GROUP, AWS_REGION, AZURE_LOCATION, CONTAINER_REGISTRY_ID,
                                _ManagedCluster, _Model)
from compiler.values import Cidr, Identifier, SubnetId, VpcId

_REGISTRY = ("Create a container registry for the service's images, {what}, and let the {who} pull from it; its URL is "
             "the stack output `registry_url`. Push the image there and name it in model.image (pods retry the pull "
             "until it exists). Default false.")


class EksTarget(_ManagedCluster):
    certificate: Identifier | None = Field(
        default=None,
        description="ARN of the ACM certificate (in the cluster's region) the https listener's ALB terminates with.")
    region: str = Field(pattern=AWS_REGION, description="AWS region of the cluster, e.g. us-east-1.")
    vpc_id: VpcId | None = Field(
        default=None,
        description="VPC of the cluster. Default: the region's default VPC, looked up at plan time.")
    subnet_ids: list[SubnetId] | None = Field(
        default=None, min_length=2,
        description="Subnets (in at least two availability zones) for the cluster and its nodes; nodes need outbound "
        "internet access (a public IP or a NAT) to pull images. Default: the VPC's default subnets in the zones EKS "
        "supports, looked up at plan time.")
    public_access_cidrs: list[Cidr] | None = Field(
        default=None, min_length=1, max_length=40,
        description="IPv4 ranges that may reach the cluster's public API endpoint. They must include the machine "
        "that runs terraform apply: it creates the workload through that endpoint. Default: none (any address, "
        "authenticated by AWS credentials).")
    registry: bool = Field(
        default=False, description=_REGISTRY.format(what="an Amazon ECR repository named after the service",
                                                     who="nodes"))


class AzureMLCompute(_Model):
    """An Azure ML workspace the AKS cluster is attached to as Kubernetes compute."""

    workspace_id: str | None = Field(
        default=None, pattern=_AZURE_ID.format("Microsoft\\.MachineLearningServices/workspaces"),
        description="Existing Azure ML workspace to attach the cluster to. Default: a workspace is created in the "
        "stack with its storage account, key vault and application insights, as the azureml target makes them.")


class AksTarget(_ManagedCluster):
    certificate: Identifier | None = Field(
        default=None,
        description="Key Vault certificate URI (https://<vault>.vault.azure.net/certificates/<name>) the https "
        "Ingress of the application routing add-on terminates with.")
    location: str = Field(pattern=AZURE_LOCATION, description="Azure region of the cluster, e.g. eastus.")
    resource_group: str | None = Field(
        default=None, pattern=_RESOURCE_GROUP,
        description="Existing resource group to deploy into (ASCII letters, digits, '_', '-', '.' and parentheses). "
        "Default: one named after the service is created.")
    subnet_id: str | None = Field(
        default=None, pattern=_AZURE_ID.format("Microsoft\\.Network/virtualNetworks/[^/\\x00-\\x20\\x7f-\\xa0]+/subnets"),
        description="Existing subnet for the nodes (Azure CNI Overlay: pods take addresses from an overlay range, "
        "not from the subnet). Default: AKS creates a virtual network in the node resource group.")
    key_vault_id: str | None = Field(
        default=None, pattern=_AZURE_ID.format("Microsoft\\.KeyVault/vaults"),
        description="The Key Vault (Azure RBAC permission model) that holds targets.aks.certificate: the "
        "application routing add-on's identity gets the Key Vault Secrets User role on it, so one apply serves "
        "https. Default: none (grant that identity access to the certificate yourself; its object id is the output "
        "`ingress_identity`).")
    api_authorized_cidrs: list[Cidr] | None = Field(
        default=None, min_length=1, max_length=200,
        description="IPv4 ranges that may reach the cluster's API server. They must include the machine that runs "
        "terraform apply: it creates the workload through the API server. Default: none (any address, "
        "authenticated by Microsoft Entra ID or cluster credentials).")
    registry: bool = Field(
        default=False, description=_REGISTRY.format(
            what="an Azure Container Registry (Basic SKU, no admin user) with a name derived from the service's",
            who="kubelet identity"))
    container_registry_id: str | None = Field(
        default=None, pattern=CONTAINER_REGISTRY_ID,
        description="An existing Azure Container Registry the nodes may pull model.image from (AcrPull for the "
        "kubelet identity). Default: none.")
    azureml_compute: AzureMLCompute | None = Field(
        default=None,
        description="Attach the cluster to an Azure ML workspace as Kubernetes compute: the Azure ML extension is "
        "installed on the cluster and the workspace gets a Kubernetes compute target named after the service. {} "
        "creates a workspace in the stack; workspace_id attaches to an existing one. Default: none.")

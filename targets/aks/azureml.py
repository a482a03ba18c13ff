"""AKS target: the cluster as Azure ML Kubernetes compute, the Azure ML extension on it and the workspace's compute
target (the "inference cluster" of Azure ML v2), with a workspace of its own unless one is given."""

from __future__ import annotations

from compiler import ir
from targets.azureml.endpoint import API, WORKSPACES
from targets.azureml.resources import AZAPI_PROVIDER, build_workspace

# The Azure ML extension (https://learn.microsoft.com/en-us/azure/machine-learning/how-to-deploy-kubernetes-extension):
# inference only, its router (azureml-fe) behind an Azure Load Balancer, plain HTTP until a certificate is configured
# (sslSecret), one router replica for small clusters. Its own NVIDIA device plugin stays off: the stack runs one
# already on the GPU pool, and two plugins would both advertise nvidia.com/gpu.
EXTENSION_TYPE = "Microsoft.AzureML.Kubernetes"
RELEASE_TRAIN = "stable"
EXTENSION_SETTINGS = {
    "enableTraining": "False", "enableInference": "True", "inferenceRouterServiceType": "LoadBalancer",
    "allowInsecureConnections": "True", "inferenceRouterHA": "False", "installNvidiaDevicePlugin": "False",
}
# Where Azure ML deploys its online deployments in the cluster (the compute's namespace; Azure ML's default).
NAMESPACE = "default"
NAME_LENGTH = 16  # Azure ML compute names: 2-16 letters, digits and '-'


def compute_name(service: ir.Service) -> str:
    return service.name[:NAME_LENGTH].rstrip("-")


def attach(stack, service: ir.Service, target: ir.Target, group, location: str, tags, cluster, pool,
           client) -> None:
    """The Azure ML extension on the cluster, then the workspace's Kubernetes compute target naming the cluster
    (Compute - Create Or Update with computeType Kubernetes, https://learn.microsoft.com/en-us/rest/api/azureml/
    compute/create-or-update; properties as in https://learn.microsoft.com/en-us/azure/templates/
    microsoft.machinelearningservices/workspaces/computes)."""
    settings = target.get("azureml_compute") or {}
    stack.provider("azapi", *AZAPI_PROVIDER)
    workspace_id = settings.get("workspace_id") or build_workspace(stack, service, target, location, tags, group,
                                                                        client).id
    extension = stack.add(
        "azurerm_kubernetes_cluster_extension", "azureml_extension", name="azureml", cluster_id=cluster.id,
        extension_type=EXTENSION_TYPE, release_train=RELEASE_TRAIN, configuration_settings=EXTENSION_SETTINGS,
        depends_on=[pool])  # its pods need nodes to start
    compute = stack.add(
        "azapi_resource", "azureml_compute", type=f"{WORKSPACES}/computes@{API}", name=compute_name(service),
        parent_id=workspace_id, location=location, tags=tags, identity=[{"type": "SystemAssigned"}],
        body={"properties": {
            "computeType": "Kubernetes", "resourceId": cluster.id,
            "description": f"infc {service.name}: AKS cluster {service.name}",
            "properties": {"namespace": NAMESPACE}}},
        depends_on=[extension])
    stack.output("azureml_compute_id", compute.id, "Id of the cluster's Azure ML Kubernetes compute target")

"""AKS target: the resources of the stack, the cluster with its system pool, the replicas' user pool, workload identity,
registry pull, the kubernetes workload with its Azure Load Balancer or https Ingress, and the Azure ML attach."""

from __future__ import annotations

from compiler import ir
from targets import kubernetes
from targets.aks import azureml
from targets.aks import limits as aks
from targets.azure import registry
from targets.azure import site as azure_site
from targets.base import output_endpoint, resource_name
from targets.kubernetes.cluster import After, device_plugin, node_bounds
from targets.kubernetes.workload import Identity, emit_workload, ingress_rule, labels

# The system pool runs AKS's own pods (CoreDNS, metrics server, the add-ons' controllers); AKS asks for at least
# 2 vCPUs and 4 GiB there, and the Azure ML extension for 4 vCPUs and 14 GiB in the cluster
# (https://learn.microsoft.com/en-us/azure/aks/use-system-pools). It scales between one and three nodes.
SYSTEM_POOL = "system"
SYSTEM_VM_SIZE = "Standard_D4ds_v5"
SYSTEM_NODES = (1, 3)
# Azure CNI Overlay powered by Cilium: pods take addresses from an overlay range (not the subnet), and Cilium
# enforces NetworkPolicy (https://learn.microsoft.com/en-us/azure/aks/azure-cni-powered-by-cilium).
NETWORK = {"network_plugin": "azure", "network_plugin_mode": "overlay", "network_data_plane": "cilium",
           "network_policy": "cilium", "load_balancer_sku": "standard", "outbound_type": "loadBalancer"}
# Patch upgrades of Kubernetes and weekly node image upgrades, as AKS recommends
# (https://learn.microsoft.com/en-us/azure/aks/auto-upgrade-cluster).
UPGRADE_CHANNEL, NODE_OS_CHANNEL = "patch", "NodeImage"

# Built-in role names (https://learn.microsoft.com/en-us/azure/role-based-access-control/built-in-roles).
KEY_VAULT_SECRETS_USER = "Key Vault Secrets User"
# Workload identity federation: the cluster's OIDC issuer vouches for the service account's token
# (https://learn.microsoft.com/en-us/azure/aks/workload-identity-overview).
TOKEN_AUDIENCE = "api://AzureADTokenExchange"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
USE_LABEL = "azure.workload.identity/use"
# Azure Load Balancer probe and idle timeout from Service annotations
# (https://cloud-provider-azure.sigs.k8s.io/topics/loadbalancer/#custom-load-balancer-health-probe).
_LB = "service.beta.kubernetes.io/azure-load-balancer-"
# The application routing add-on reads the certificate from Key Vault into the Secret keyvault-<ingress name>
# (https://learn.microsoft.com/en-us/azure/aks/app-routing-dns-ssl).
_KEYVAULT_URI = "kubernetes.azure.com/tls-cert-keyvault-uri"
FORCE_SSL_REDIRECT = {"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}


def emit(stack, service: ir.Service, target: ir.Target) -> None:
    """Provider, resource group, cluster and pools, then the workload on them and its endpoint."""
    group, location, tags = azure_site.start(stack, service, target)
    client = stack.data("azurerm_client_config", "client") \
        if target.get("registry") or target.get("azureml_compute") == {} else None
    https = aks.has_https(service)
    cluster = _cluster(stack, service, target, group, location, tags, https)
    pool = _node_pool(stack, service, target, cluster, tags)
    _registry_pull(stack, service, target, group, location, tags, cluster, client)
    identity = _workload_identity(stack, service, target, group, location, tags, cluster)
    if https:
        routing = cluster.web_app_routing[0].web_app_routing_identity[0].object_id
        stack.output("ingress_identity", routing, "Object id of the application routing add-on's identity, which "
                                                  "reads targets.aks.certificate from Key Vault")
        if target.get("key_vault_id"):
            stack.add("azurerm_role_assignment", "ingress_certificate", scope=target.get("key_vault_id"),
                      role_definition_name=KEY_VAULT_SECRETS_USER, principal_id=routing)
    config = cluster.kube_config[0]
    stack.provider("kubernetes", *kubernetes.PROVIDER, host=config.host,
                   client_certificate=stack.expr("base64decode({})", config.client_certificate),
                   client_key=stack.expr("base64decode({})", config.client_key),
                   cluster_ca_certificate=stack.expr("base64decode({})", config.cluster_ca_certificate))
    selector = {aks.POOL_LABEL: aks.POOL}
    if service.accelerator_count:
        # AKS installs the NVIDIA driver on GPU pools (gpu_driver Install), not the device plugin (aks._GPU_DOC).
        device_plugin(After(stack, pool), selector, [aks.SPOT_TOLERATION] if service.spot else [])
    workload = emit_workload(After(stack, pool), service, target, settings=aks.workload_settings(service, target),
                             ingress=False, service_annotations=service_annotations(service) if aks.serves_http(service) else None,
                             identity=identity)
    if https:
        host = _ingress(stack, service, target, workload, pool)
    else:
        host = workload.service.status[0].load_balancer[0].ingress[0].ip
    output_endpoint(stack, service, host)
    stack.output("cluster_name", cluster.name, "Name of the AKS cluster")
    if target.get("azureml_compute") is not None:
        azureml.attach(stack, service, target, group, location, tags, cluster, pool, client)


def _cluster(stack, service: ir.Service, target: ir.Target, group, location: str, tags, https: bool):
    low, high = SYSTEM_NODES
    cidrs = target.get("api_authorized_cidrs")
    return stack.add(
        "azurerm_kubernetes_cluster", "cluster", name=service.name, location=location, resource_group_name=group,
        dns_prefix=service.name, tags=tags, identity={"type": "SystemAssigned"},
        default_node_pool={
            "name": SYSTEM_POOL, "vm_size": SYSTEM_VM_SIZE, "auto_scaling_enabled": True, "min_count": low,
            "max_count": high, "max_pods": aks.MAX_PODS, "vnet_subnet_id": target.get("subnet_id"),
            # Changing a property of the system pool that needs new nodes cycles through a pool of this name.
            "temporary_name_for_rotation": f"{SYSTEM_POOL}tmp", "tags": tags,
            "upgrade_settings": {"max_surge": "10%"},
            # The system pool is tainted CriticalAddonsOnly, so the replicas and the Azure ML extension's pods run on
            # the user pool and never crowd out CoreDNS (use-system-pools#system-and-user-node-pools).
            "only_critical_addons_enabled": True},
        network_profile=NETWORK,
        # Node autoprovisioning off: the pools below are the cluster's nodes (required block in azurerm 5).
        node_provisioning_profile={"mode": "Manual"},
        # The service account token the replicas' identity trusts (workload identity).
        oidc_issuer_enabled=True, workload_identity_enabled=True,
        automatic_upgrade_channel=UPGRADE_CHANNEL, node_os_upgrade_channel=NODE_OS_CHANNEL,
        api_server_access_profile={"authorized_ip_ranges": list(cidrs)} if cidrs else None,
        # https: the application routing add-on's managed NGINX, reading the certificate from Key Vault through the
        # Secrets Store CSI driver's Key Vault provider.
        web_app_routing={"dns_zone_ids": []} if https else None,
        key_vault_secrets_provider={"secret_rotation_enabled": True} if https else None,
        # The autoscaler owns the system pool's node count once it runs.
        lifecycle={"ignore_changes": ["default_node_pool[0].node_count"]})


def _node_pool(stack, service: ir.Service, target: ir.Target, cluster, tags):
    """The user pool of the replicas: the catalog's VM size, the AKS-installed NVIDIA driver on GPU sizes, Spot when
    asked, and AKS's cluster autoscaler between the replica bounds' node counts."""
    bounds = node_bounds(service, target)
    autoscale = bounds.max_nodes > bounds.min_nodes
    spot = {"priority": "Spot", "eviction_policy": "Delete", "spot_max_price": -1} if service.spot else {}
    return stack.add(
        "azurerm_kubernetes_cluster_node_pool", "node_pool", name=aks.POOL, kubernetes_cluster_id=cluster.id,
        vm_size=target.machine.instance_type, mode="User", max_pods=aks.MAX_PODS,
        os_disk_size_gb=service.disk_gib, vnet_subnet_id=target.get("subnet_id"),
        gpu_driver="Install" if service.accelerator_count else None,
        auto_scaling_enabled=autoscale, min_count=bounds.min_nodes if autoscale else None,
        max_count=bounds.max_nodes if autoscale else None, node_count=None if autoscale else bounds.min_nodes,
        tags=tags, **spot,
        lifecycle={"ignore_changes": ["node_count"]} if autoscale else None)


def _registry_pull(stack, service: ir.Service, target: ir.Target, group, location: str, tags, cluster,
                   client) -> None:
    """The nodes pull with the kubelet identity: AcrPull on the registry infc creates and on container_registry_id."""
    kubelet = cluster.kubelet_identity[0].object_id
    for construct_id, scope in registry.pull_scopes(stack, service, target, group, location, tags, client).items():
        stack.add("azurerm_role_assignment", construct_id, scope=scope, role_definition_name=registry.ACR_PULL,
                  principal_id=kubelet, skip_service_principal_aad_check=True)


def _workload_identity(stack, service: ir.Service, target: ir.Target, group, location: str, tags, cluster):
    """A user-assigned identity the replicas' service account federates with (workload identity): its client id
    annotates the account, and its principal id is an output to grant roles to (model storage, secrets)."""
    identity = stack.add("azurerm_user_assigned_identity", "workload_identity", name=resource_name(service, "workload"),
                         resource_group_name=group, location=location, tags=tags)
    namespace = str(target.get("namespace") or service.name)
    stack.add("azurerm_federated_identity_credential", "workload_federation", name=service.name,
              user_assigned_identity_id=identity.id, issuer=cluster.oidc_issuer_url, audience=[TOKEN_AUDIENCE],
              subject=f"system:serviceaccount:{namespace}:{service.name}")
    stack.output("workload_principal_id", identity.principal_id,
                 "Principal id of the replicas' workload identity (grant it access to model storage and secrets)")
    return Identity(annotations={CLIENT_ID_ANNOTATION: identity.client_id}, pod_labels={USE_LABEL: "true"})


def service_annotations(service: ir.Service) -> dict[str, str]:
    """The Azure Load Balancer's probe per http listener port (HTTP GET of the readiness path on the model port,
    the readiness interval and unhealthy threshold) and its TCP idle timeout in minutes."""
    hc, lb = service.readiness, service.load_balancer
    out = {f"{_LB}tcp-idle-timeout": str(lb.idle_timeout_s // 60),
           f"{_LB}health-probe-interval": str(hc.interval_s),
           f"{_LB}health-probe-num-of-probe": str(hc.unhealthy_threshold),
           f"{_LB}health-probe-request-path": hc.path}
    for listener in lb.serving:
        if listener.protocol == "http":
            # Without an appProtocol the probe is TCP: the port's own probe protocol makes it HTTP.
            out[f"service.beta.kubernetes.io/port_{listener.port}_health-probe_protocol"] = "http"
    return out


def _ingress(stack, service: ir.Service, target: ir.Target, workload, pool):
    """The https listener as an Ingress of the application routing add-on's NGINX, its certificate from Key Vault;
    returns the endpoint's host (targets.aks.host, else the Ingress's address)."""
    redirect = any(x.redirect_to for x in service.load_balancer.listeners)
    host = target.get("host") or None
    annotations = {_KEYVAULT_URI: str(target.get("certificate")), **(FORCE_SSL_REDIRECT if redirect else {})}
    resource = stack.add(
        "kubernetes_ingress_v1", "ingress", depends_on=[workload.deployment, pool],
        metadata={"name": service.name, "namespace": workload.namespace, "labels": labels(service),
                  "annotations": annotations},
        spec={"ingress_class_name": aks.INGRESS_CLASS,
              "tls": [{"hosts": [host] if host else None, "secret_name": f"keyvault-{service.name}"}],
              "rule": [ingress_rule(service, host)]},
        # The add-on runs in the cluster, so its load balancer's address comes within the apply.
        wait_for_load_balancer=True)
    address = resource.status[0].load_balancer[0].ingress[0].ip
    stack.output("ingress_address", address, "IP address of the https Ingress (the DNS record for host)")
    return host or address

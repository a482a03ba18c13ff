"""GKE target: the resources of the stack, node service account, regional cluster, node pool, the workload, Ingress."""

from __future__ import annotations

from compiler import ir
from targets import gcp, kubernetes
from targets.base import output_endpoint, resource_name
from targets.gcp import lb as gcp_lb
from targets.gcp import registry
from targets.gke import limits as gke
from targets.kubernetes.cluster import After, node_bounds
from targets.kubernetes.workload import emit_workload, ingress_rule, labels

# The minimal role Google documents for a custom node service account (logs, metrics, autoscaling metrics):
# https://cloud.google.com/kubernetes-engine/security/configure-node-service-accounts
# Nodes pull images from Artifact Registry with their service account, so an image there adds the reader role on
# its repository (https://cloud.google.com/artifact-registry/docs/access-control#gke; targets/gcp/registry.py).
NODE_ROLES = {"roles/container.defaultNodeServiceAccount": "node_role"}
# IAM decides what the nodes may do; Google recommends the cloud-platform scope with a custom service account
# (https://registry.terraform.io/providers/hashicorp/google/8.7.0/docs/resources/container_cluster#oauth_scopes).
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]

# REGULAR: upgrades a few times a month, the channel Google recommends for production; GPU driver versions follow
# the node's GKE version (https://cloud.google.com/kubernetes-engine/docs/concepts/release-channels).
RELEASE_CHANNEL = "REGULAR"
# LATEST: the newest driver GKE offers for the node version; serving images follow new CUDA releases. COS only
# (container_node_pool#gpu_driver_version), hence the explicit image type.
GPU_DRIVER = "LATEST"
IMAGE_TYPE = "COS_CONTAINERD"
# GKE Dataplane V2 (eBPF, Cilium): enforces Kubernetes NetworkPolicy built in, at no charge; the network_policy
# addon (Calico) must then stay disabled (https://cloud.google.com/kubernetes-engine/docs/concepts/dataplane-v2).
DATAPATH = "ADVANCED_DATAPATH"
BINARY_AUTHORIZATION = "PROJECT_SINGLETON_POLICY_ENFORCE"


def emit(stack, service: ir.Service, target: ir.Target) -> None:
    """Providers, cluster and nodes, then the workload on them and its endpoint."""
    stack.provider("google", *gcp.PROVIDER, project=target.get("project"), region=target.get("region"))
    account, grants = _node_account(stack, service, target)
    cluster = _cluster(stack, service, target, account, grants)
    if target.get("private_nodes") and target.get("cloud_nat"):
        # The cluster is in the project's default network; its nodes and Pods use the region's subnet. The nodes
        # wait for the NAT, so the replicas' first image pull goes through.
        grants = [*grants, gcp_lb.nat(stack, service, target, gcp_lb.network(stack, target))]
    # One node pool per type of a capacity fallback: the cluster autoscaler scales up the pool it can (and, among
    # several, the least expensive: https://cloud.google.com/kubernetes-engine/docs/concepts/cluster-autoscaler).
    zones: list = []  # the region's zones, looked up once for every pool that pins its zones
    pools = [_node_pool(stack, service, target, machine, cluster, account, grants, zones)
             for machine in target.machines]
    # The provider talks to the new cluster with the caller's own Google credentials (an OAuth access token).
    # Terraform configures providers before it creates resources, so a replaced cluster needs its own apply first
    # ("Stacking with managed Kubernetes cluster resources", https://registry.terraform.io/providers/hashicorp/
    # kubernetes/latest/docs).
    client = stack.data("google_client_config", "client_config")
    stack.provider("kubernetes", *kubernetes.PROVIDER, host=stack.fmt("https://{}", cluster.endpoint),
                   token=client.access_token,
                   cluster_ca_certificate=stack.expr("base64decode({})",
                                                     cluster.master_auth[0].cluster_ca_certificate))
    https = gke.has_https(service)
    # Every object waits for the node pool: on destroy, the Deployment and its PodDisruptionBudget go before the
    # nodes, so deleting the pool does not drain replicas one by one against the budget.
    workload = emit_workload(After(stack, *pools), service, target, settings=gke.workload_settings(service, target),
                             ingress=False,
                             service_annotations=gke.NEG_ANNOTATION if https else None)
    if https:
        address = _ingress(stack, service, target, workload, pools)
        stack.output("ingress_address", address.address, "IP address of the https Ingress (the DNS record for host)")
        host = target.get("host") or address.address
    else:
        host = workload.service.status[0].load_balancer[0].ingress[0].ip
    output_endpoint(stack, service, host)
    stack.output("cluster_name", cluster.name, "Name of the GKE cluster")


def _node_account(stack, service: ir.Service, target: ir.Target):
    """A service account for the nodes with GKE's minimal node role instead of the Compute Engine default one."""
    account = stack.add("google_service_account", "node_account",
                        account_id=resource_name(service, "nodes"),  # 7-30 characters for every 1-24 character name
                        display_name=f"infc {service.name}: GKE nodes")
    member = stack.fmt("serviceAccount:{}", account.email)
    grants = [stack.add("google_project_iam_member", construct_id, project=target.get("project"), role=role,
                        member=member) for role, construct_id in NODE_ROLES.items()]
    return account, grants + registry.pull_grants(stack, service, target, member, "node")


# Shielded GKE nodes with secure boot, GPU nodes included: on COS, GKE installs NVIDIA drivers precompiled and signed
# by Google (gpu_driver_installation_config), the kind of out-of-tree module a verified boot admits
# (https://cloud.google.com/kubernetes-engine/security/secure-modules-cos); no other kernel module is loaded.
SHIELDED = {"enable_secure_boot": True, "enable_integrity_monitoring": True}


def _cluster_options(target: ir.Target) -> dict:
    """The targets.gke settings that cost money or need input from the user, as cluster arguments."""
    options = {}
    cidrs = target.get("master_authorized_cidrs")
    if cidrs:
        options["master_authorized_networks_config"] = {
            "cidr_blocks": [{"cidr_block": cidr, "display_name": f"infc {cidr}"} for cidr in cidrs]}
    if target.get("private_nodes"):
        # Private nodes, public control plane endpoint: terraform and kubectl still reach it from outside the VPC.
        options["private_cluster_config"] = {"enable_private_nodes": True, "enable_private_endpoint": False}
    if target.get("binary_authorization"):
        options["binary_authorization"] = {"evaluation_mode": BINARY_AUTHORIZATION}
    if target.get("security_group"):
        options["authenticator_groups_config"] = {"security_group": target.get("security_group")}
    return options


def _cluster(stack, service: ir.Service, target: ir.Target, account, grants):
    """A regional cluster (control plane replicated across the region's zones) whose default pool is removed."""
    return stack.add(
        "google_container_cluster", "cluster", name=service.name, location=target.get("region"),
        depends_on=grants,  # the default pool's nodes run with the nodes' account too
        description=f"infc {service.name}: model replicas",
        # A cluster cannot be created without a node pool: the smallest default pool is made, then deleted, and
        # the nodes come from the separately managed pool (container_cluster#remove_default_node_pool).
        remove_default_node_pool=True, initial_node_count=1,
        # Off on purpose: the cluster holds nothing that is not recreated from the spec, and with protection on
        # `terraform destroy` fails until the state is edited (container_cluster#deletion_protection).
        deletion_protection=False,
        release_channel={"channel": RELEASE_CHANNEL},
        workload_identity_config={"workload_pool": f"{target.get('project')}.svc.id.goog"},
        # VPC-native (alias IPs): the Ingress's container-native load balancing (NEGs) needs it, and only then does
        # GKE take the health check interval from the readiness probe as is.
        networking_mode="VPC_NATIVE",
        ip_allocation_policy={},
        datapath_provider=DATAPATH, network_policy={"enabled": False},
        # Pod-to-Pod traffic on one node passes the VPC too, so firewall rules and flow logs see it (no charge of
        # its own; https://cloud.google.com/kubernetes-engine/docs/how-to/intranode-visibility).
        enable_intranode_visibility=True,
        # Client certificates are a credential that cannot be revoked; the provider authenticates with a token.
        master_auth={"client_certificate_config": {"issue_client_certificate": False}},
        # The default pool lives only until remove_default_node_pool deletes it, but its nodes run meanwhile: with
        # the nodes' account (not the Compute Engine default one), the GKE metadata server and secure boot.
        node_config={"service_account": account.email, "oauth_scopes": SCOPES,
                     "workload_metadata_config": {"mode": "GKE_METADATA"}, "shielded_instance_config": SHIELDED},
        resource_labels=dict(service.labels) or None, **_cluster_options(target),
        # Once the default pool is gone the API reports no node_config, which would plan a new cluster on every apply.
        lifecycle={"ignore_changes": ["node_config"]})


def _node_pool(stack, service: ir.Service, target: ir.Target, machine: ir.Machine, cluster, account, grants,
               zones: list):
    """The node pool of `machine`: `node_pool` for the first type, `node_pool_<type>` for each of a capacity
    fallback, which all start empty so that no one type's capacity holds up the apply."""
    kind, first = gcp.gpu_kind(target), machine == target.machine
    bounds = node_bounds(service, target)
    suffix = "" if first else machine.instance_type
    # GKE needs the accelerator for bundled families (a2, a3, g2) too, with the count the machine type has.
    accelerator = [{"type": machine.provider_accelerator, "count": machine.accelerator_count,
                    "gpu_driver_installation_config": {"gpu_driver_version": GPU_DRIVER}}] if kind != "none" else None
    pool = stack.add(
        "google_container_node_pool", "node_pool" + (f"_{suffix.replace('-', '_')}" if suffix else ""),
        name=resource_name(service, suffix or "nodes"), cluster=cluster.name,
        location=target.get("region"),
        depends_on=grants,  # nodes log and pull with their account from the first boot
        # No initial_node_count: the cluster autoscaler adds nodes for the pending replicas, and a set initial count
        # forces replacement once the pool has been resized (container_node_pool#initial_node_count).
        autoscaling={
            "total_min_node_count": 0 if target.fallback else bounds.min_nodes,
            "total_max_node_count": bounds.max_nodes,
            # ANY scales up in the zones with capacity (and spare reservations), which GPUs and Spot VMs need;
            # BALANCED keeps CPU pools even across zones (container_node_pool#location_policy).
            "location_policy": "ANY" if kind != "none" or service.spot else "BALANCED"},
        # Release channels require auto-upgrade; auto-repair recreates unhealthy nodes.
        management={"auto_repair": True, "auto_upgrade": True},
        node_config={
            "machine_type": machine.instance_type, "image_type": IMAGE_TYPE, "disk_size_gb": service.disk_gib,
            "disk_type": gcp.disk_type(machine),  # the API's default is pd-standard (container_cluster#disk_type)
            "spot": service.spot, "guest_accelerator": accelerator,
            "service_account": account.email, "oauth_scopes": SCOPES, "resource_labels": dict(service.labels) or None,
            # Pods get Workload Identity's metadata server, not the node's credentials.
            "workload_metadata_config": {"mode": "GKE_METADATA"}, "shielded_instance_config": SHIELDED})
    # No taint: GKE taints GPU nodes (nvidia.com/gpu NoSchedule) itself only next to non-GPU pools, and a tainted
    # only pool would leave kube-dns and other system pods nowhere to run; the replicas tolerate it either way.
    if kind != "attached":
        _pin_zones(stack, service, target, machine.instance_type, suffix, pool, zones)
    return pool


def _pin_zones(stack, service: ir.Service, target: ir.Target, kind: str, suffix: str, pool, zones: list) -> None:
    """node_locations: the region's zones that offer the machine type, looked up at plan time. GPU families with
    bundled GPUs (a2, a3, g2) exist only where their GPUs do, and a regional pool fails in a zone without them
    (https://cloud.google.com/compute/docs/gpus/gpu-regions-zones). Attached N1 GPUs cannot be looked up so."""
    region = target.get("region")
    if not zones:
        zones.append(stack.data("google_compute_zones", "zones", region=region, status="UP"))
    found = stack.data("google_compute_machine_types",
                       "machine_types" + (f"_{suffix.replace('-', '_')}" if suffix else ""), zone=stack.expr("each.key"),
                       filter=f'name = "{kind}"', for_each=stack.expr("toset({})", zones[0].names))
    offering = stack.expr("[for zone, types in {} : zone if length(types.machine_types) > 0]", found)
    pool.add_override("node_locations", offering)
    pool.add_override("lifecycle.precondition", [{
        "condition": stack.expr("length({}) > 0", offering),
        "error_message": f"No zone of {region} offers machine type {kind} for {service.name}: pick another region "
                         "or hardware.instance_types.gke."}])


def _ingress(stack, service: ir.Service, target: ir.Target, workload, pools: list):
    """The https listener as a GKE Ingress: an external Application Load Balancer on a reserved global address with
    the pre-shared certificate; its health check is inferred from the replicas' readiness probe."""
    address = stack.add("google_compute_global_address", "address",
                        name=resource_name(service, "ingress"), description=f"infc {service.name}: https Ingress",
                        labels=dict(service.labels) or None)
    # https://cloud.google.com/kubernetes-engine/docs/concepts/ingress#controller_summary: the class is the
    # annotation (the API server rejects it together with spec.ingressClassName, which GKE ignores); allow-http false
    # serves no plain HTTP on the Ingress address (http listeners are the Service's; a redirect needs a FrontendConfig).
    annotations = {
        "kubernetes.io/ingress.class": "gce",
        "kubernetes.io/ingress.global-static-ip-name": address.name,
        "ingress.gcp.kubernetes.io/pre-shared-cert": str(target.get("certificate")),
        "kubernetes.io/ingress.allow-http": "false",
    }
    stack.add(
        "kubernetes_ingress_v1", "ingress",
        # GKE reads the readiness probe from the Service's pods when it creates the health check, so the pods must
        # exist by then (https://cloud.google.com/kubernetes-engine/docs/concepts/ingress#limitations).
        depends_on=[workload.deployment, *pools],
        metadata={"name": service.name, "namespace": workload.namespace, "labels": labels(service),
                  "annotations": annotations},
        spec={"rule": [ingress_rule(service, target.get("host") or None)]})
    return address

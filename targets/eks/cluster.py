"""EKS target: the resources of the stack, cluster and node IAM roles, the cluster, a managed node group, Pod Identity
for the replicas, the registry, and the kubernetes workload on the cluster with its load balancers."""

from __future__ import annotations

import json

from compiler import ir
from targets import aws, kubernetes
from targets.aws import registry
from targets.aws.resources import model_read_policy
from targets.base import output_endpoint, resource_name
from targets.eks import ingress
from targets.eks import limits as eks
from targets.kubernetes.cluster import After, device_plugin, node_bounds
from targets.kubernetes.workload import Identity, emit_workload

# Availability zones whose subnets EKS refuses for a cluster (UnsupportedAvailabilityZoneException): us-east-1's
# use1-az3, us-west-1's usw1-az2 and ca-central-1's cac1-az3
# (https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html#network-requirements-subnets).
UNSUPPORTED_ZONE_IDS = ["use1-az3", "usw1-az2", "cac1-az3"]

# The managed policies each role needs, no more (https://docs.aws.amazon.com/eks/latest/userguide/cluster-iam-role.html,
# .../create-node-role.html): the control plane's, and the nodes' to join, run the VPC CNI and pull from ECR
# (AmazonEC2ContainerRegistryPullOnly: pull only, unlike ReadOnly, which may also list and describe).
CLUSTER_POLICIES = {"AmazonEKSClusterPolicy": "cluster_policy"}
NODE_POLICIES = {"AmazonEKSWorkerNodePolicy": "node_policy", "AmazonEKS_CNI_Policy": "node_cni_policy",
                 "AmazonEC2ContainerRegistryPullOnly": "node_registry_policy"}

# The kubernetes provider authenticates with a token `aws eks get-token` mints at each use: the token of the
# aws_eks_cluster_auth data source lives 15 minutes, shorter than creating a GPU node group, and would be read
# before it ("Exec plugins", https://registry.terraform.io/providers/hashicorp/kubernetes/latest/docs).
EXEC_API = "client.authentication.k8s.io/v1beta1"

# The Pod Identity agent add-on exchanges a pod's service account token for the role's credentials
# (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html).
POD_IDENTITY_AGENT = "eks-pod-identity-agent"


def emit(stack, service: ir.Service, target: ir.Target) -> None:
    """Providers, the cluster and its nodes, then the workload on them and its endpoint."""
    labels = dict(service.labels)
    stack.provider("aws", *aws.PROVIDER, region=target.get("region"),
                   default_tags=[{"tags": labels}] if labels else None)
    partition = stack.data("aws_partition", "partition").partition
    subnets = _subnets(stack, target)
    eks_cluster = _cluster(stack, service, target, subnets, partition)
    nodes = _node_group(stack, service, target, eks_cluster, subnets, partition)
    identity, ready = _pod_identity(stack, service, target, eks_cluster, partition)
    if target.get("registry"):
        # The nodes pull through AmazonEC2ContainerRegistryPullOnly.
        registry.repository(stack, service)
    stack.provider("kubernetes", *kubernetes.PROVIDER, host=eks_cluster.endpoint,
                   cluster_ca_certificate=stack.expr("base64decode({})", eks_cluster.certificate_authority[0].data),
                   exec=[{"api_version": EXEC_API, "command": "aws",
                          "args": ["eks", "get-token", "--cluster-name", eks_cluster.name,
                                   "--region", str(target.get("region"))]}])
    selector = {eks.NODEGROUP_LABEL: eks.node_group_name(service)}
    if service.accelerator_count:
        # The AL2023 NVIDIA AMI brings the driver and container toolkit, not the device plugin (eks._DEVICE_PLUGIN_DOC).
        device_plugin(After(stack, nodes), selector, [])
    # Every object waits for the nodes: on destroy the replicas go first, so deleting the node group does not drain
    # them one by one against their PodDisruptionBudget.
    annotations = ingress.service_annotations(service) if eks.serves_http(service) else None
    workload = emit_workload(After(stack, nodes, *ready), service, target,
                             settings=eks.workload_settings(service, target), ingress=False, service_annotations=annotations, identity=identity)
    if eks.has_https(service):
        host = ingress.emit(stack, service, target, workload, nodes)
    else:
        host = workload.service.status[0].load_balancer[0].ingress[0].hostname
    output_endpoint(stack, service, host)
    stack.output("cluster_name", eks_cluster.name, "Name of the EKS cluster")


def _subnets(stack, target: ir.Target):
    """Given subnets, else the VPC's (the default VPC's default subnets) in the region's zones that EKS supports."""
    if target.get("subnet_ids"):
        return list(target.get("subnet_ids"))
    vpc_id = target.get("vpc_id") or stack.data("aws_vpc", "default_vpc", default=True).id
    zones = stack.data("aws_availability_zones", "zones", state="available", exclude_zone_ids=UNSUPPORTED_ZONE_IDS,
                       # Local and Wavelength Zones are opt-in; EKS control planes run in the region's own zones.
                       filter=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}])
    found = stack.data("aws_subnets", "subnets", filter=[
        {"name": "vpc-id", "values": [vpc_id]}, {"name": "availability-zone", "values": zones.names},
    ] + ([] if target.get("vpc_id") else [{"name": "default-for-az", "values": ["true"]}]))
    return found.ids


def _role(stack, service: ir.Service, construct_id: str, suffix: str, principal: str, what: str, actions,
          policies: dict[str, str], partition):
    """An IAM role `principal` may assume, with AWS managed `policies` (name -> construct id) attached."""
    assume = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Principal": {"Service": principal}}]}
    role = stack.add("aws_iam_role", construct_id, name=resource_name(service, suffix),
                     assume_role_policy=json.dumps(assume, sort_keys=True), description=f"infc {service.name}: {what}")
    attached = [stack.add("aws_iam_role_policy_attachment", attachment, role=role.name,
                          policy_arn=stack.fmt("arn:{}:iam::aws:policy/{}", partition, policy))
                for policy, attachment in policies.items()]
    return role, attached


def _cluster(stack, service: ir.Service, target: ir.Target, subnets, partition):
    # sts:TagSession lets EKS pass session tags (https://docs.aws.amazon.com/eks/latest/userguide/cluster-iam-role.html).
    role, attached = _role(stack, service, "cluster_role", "eks-cluster", "eks.amazonaws.com", "EKS control plane",
                           ["sts:AssumeRole", "sts:TagSession"], CLUSTER_POLICIES, partition)
    cidrs = target.get("public_access_cidrs")
    return stack.add(
        "aws_eks_cluster", "cluster", name=service.name, role_arn=role.arn, depends_on=attached,
        # The public endpoint serves terraform and kubectl (restricted by public_access_cidrs); nodes reach the API
        # server through the private one inside the VPC.
        vpc_config={"subnet_ids": subnets, "endpoint_public_access": True, "endpoint_private_access": True,
                    "public_access_cidrs": list(cidrs) if cidrs else None},
        # EKS access entries only (no aws-auth ConfigMap); the identity that creates the cluster, the Terraform
        # caller, gets cluster-admin, which creating the workload needs
        # (https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html).
        access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
        tags=dict(service.labels) or None)


def _node_group(stack, service: ir.Service, target: ir.Target, eks_cluster, subnets, partition):
    role, attached = _role(stack, service, "node_role", "eks-nodes", "ec2.amazonaws.com", "EKS nodes",
                           "sts:AssumeRole", NODE_POLICIES, partition)
    bounds = node_bounds(service, target)
    return stack.add(
        "aws_eks_node_group", "node_group", cluster_name=eks_cluster.name, node_group_name=eks.node_group_name(service),
        node_role_arn=role.arn, subnet_ids=subnets,
        # Every type of the capacity fallback, in order of preference (_check_fallback in limits.py).
        instance_types=[m.instance_type for m in target.machines],
        ami_type=eks.AMI_TYPES[(bool(service.accelerator_count), service.arch)],
        capacity_type="SPOT" if service.spot else "ON_DEMAND", disk_size=service.disk_gib,
        # Starts at the fewest nodes; an autoscaler in the cluster changes desired_size, which Terraform then leaves
        # alone (check() warns that one is needed to grow).
        scaling_config={"min_size": bounds.min_nodes, "max_size": bounds.max_nodes, "desired_size": bounds.min_nodes},
        update_config={"max_unavailable": 1}, tags=dict(service.labels) or None,
        lifecycle={"ignore_changes": ["scaling_config[0].desired_size"]},
        depends_on=attached)  # the nodes need their policies to join, and keep them until they are gone


def _pod_identity(stack, service: ir.Service, target: ir.Target, eks_cluster, partition):
    """With an s3:// model.uri, a role the replicas' service account assumes through EKS Pod Identity, allowed to read
    that prefix; returns the workload's Identity (always its own service account) and what the pods wait for."""
    policy = model_read_policy(stack, target, partition)
    if policy is None:
        return Identity(), []
    assume = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Principal": {"Service": "pods.eks.amazonaws.com"}}]}
    role = stack.add("aws_iam_role", "workload_role", name=resource_name(service, "eks-workload"),
                     assume_role_policy=json.dumps(assume, sort_keys=True),
                     description=f"infc {service.name}: model replicas (EKS Pod Identity)")
    read = stack.add("aws_iam_role_policy", "model_read", name="model-read", role=role.id, policy=stack.json(policy))
    agent = stack.add("aws_eks_addon", "pod_identity_agent", cluster_name=eks_cluster.name,
                      addon_name=POD_IDENTITY_AGENT, tags=dict(service.labels) or None)
    association = stack.add(
        "aws_eks_pod_identity_association", "pod_identity", cluster_name=eks_cluster.name,
        namespace=str(target.get("namespace") or service.name), service_account=service.name, role_arn=role.arn,
        tags=dict(service.labels) or None, depends_on=[read])
    return Identity(), [agent, association]


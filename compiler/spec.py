"""The user-facing spec (apiVersion infc/v1) as pydantic models: field names, types, defaults, docs."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from compiler.ir import MODEL_DIR
from compiler.spec_base import (_RESOURCE_GROUP, _SEGMENT, AWS_REGION, AZURE_LOCATION, CONTAINER_REGISTRY_ID, HOSTNAME,
                                NAMESPACE, _ManagedCluster, _Model, _Stateful, _TargetSettings, _Workload)
from compiler.spec_clusters import AksTarget, EksTarget
from compiler.values import (INT32_MAX, AmiId, Arg, AwsSecretRef, AzureSecretRef, Cidr, EnvName, GcpSecretRef, HttpPath,
                             Identifier, ImageRef, InstanceTypeName, KubernetesSecretRef, Line, ModelUri, NonEmptyLine,
                             ScalarLine, Seconds, SshPublicKey, SubnetId, SuccessCodes, VpcId, mapping)

TargetName = Literal["aws", "azure", "gcp", "kubernetes", "azureml", "gke", "eks", "aks", "aca"]
NAME_PATTERN = r"^[a-z]([a-z0-9-]{0,22}[a-z0-9])?$"
_VM_REGISTRY = ("Create a container registry for the service's images, {what}, and let the replicas pull from it{how}; "
                "its URL is the stack output `registry_url`. Push the image there and name it in model.image: each "
                "replica signs in and pulls at boot, retrying for about five minutes, and a replica that could not "
                "pull stays unhealthy until it is replaced. Default false.")


class Metadata(_Model):
    name: str = Field(
        pattern=NAME_PATTERN,
        description="Service name, 1-24 characters: lowercase letters, digits and '-', starting with a letter. "
        "Every resource name derives from it, so renaming replaces the infrastructure.")
    labels: mapping(Line, ScalarLine) = Field(
        default_factory=dict,
        description="Key/value labels copied to the tags or labels of every resource that takes them.")


LITERAL = ("passed literally on every target: no shell, no variable expansion ($(VAR) and ${VAR} stay as written; "
           "infc escapes them where Kubernetes would expand them)")


class SecretRefs(_Model):
    """Where one secret lives, per target: every emitted target needs its reference."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"minProperties": 1})

    aws: AwsSecretRef | None = Field(
        default=None, description="Secrets Manager secret ARN (the complete ARN, with the 6 characters Secrets Manager "
        "adds to the name) or SSM parameter ARN; the replicas' role may read it (secretsmanager:GetSecretValue or "
        "ssm:GetParameter on that ARN only).")
    azure: AzureSecretRef | None = Field(
        default=None, description="Key Vault secret URL (https://<vault>.vault.azure.net/secrets/<name>[/<version>]; "
        "without a version, the current one at boot). The vault must use Azure RBAC and be in the stack's "
        "subscription; the replicas' identity gets Key Vault Secrets User on that secret only.")
    gcp: GcpSecretRef | None = Field(
        default=None, description="Secret Manager name (projects/<project>/secrets/<secret>[/versions/<version>]; "
        "without a version, latest); the replicas' service account gets Secret Manager Secret Accessor on that secret "
        "only.")
    kubernetes: KubernetesSecretRef | None = Field(
        default=None, description="<secret>/<key> of a Secret in the service's namespace, read by the kubelet "
        "(secretKeyRef).")
    azureml: AzureSecretRef | None = Field(
        default=None, description="Key Vault secret URL with its version (https://<vault>.vault.azure.net/secrets/"
        "<name>/<version>): Azure ML injects it (secret injection, preview); the endpoint's identity gets Key Vault "
        "Secrets User on that secret only.")
    gke: KubernetesSecretRef | None = Field(
        default=None, description="<secret>/<key> of a Secret in the workload's namespace of the new cluster "
        "(create it after the cluster exists; replicas wait for it).")
    eks: KubernetesSecretRef | None = Field(
        default=None, description="<secret>/<key> of a Secret in the workload's namespace of the new cluster "
        "(create it after the cluster exists; replicas wait for it).")
    aks: KubernetesSecretRef | None = Field(
        default=None, description="<secret>/<key> of a Secret in the workload's namespace of the new cluster "
        "(create it after the cluster exists; replicas wait for it).")
    aca: AzureSecretRef | None = Field(
        default=None, description="Key Vault secret URL (https://<vault>.vault.azure.net/secrets/<name>[/<version>]; "
        "without a version, the latest, refreshed within 30 minutes): a container app secret that references it, read "
        "with a user-assigned identity that gets Key Vault Secrets User on that secret only (the vault must use Azure "
        "RBAC).")


class Model(_Model):
    name: NonEmptyLine = Field(description="The model's name, passed to the container as MODEL_NAME.")
    image: ImageRef = Field(
        description="The serving container image, e.g. vllm/vllm-openai:v0.6.3: an image reference "
        "([registry/]name[:tag][@digest]).")
    uri: ModelUri | None = Field(
        default=None,
        description=f"Where the weights live: s3://<bucket>/<prefix>, gs://<bucket>/<prefix>, "
        "https://<account>.blob.core.windows.net/<container>/<path>, hf://<org>/<model>[@<revision>], or (azureml "
        "only) azureml://registries/<registry>/models/<name>/versions/<version>. Every replica gets the files in "
        f"{MODEL_DIR} (read-only) before the server starts, downloaded with the replica's own identity, which may read "
        f"that location only; the container gets MODEL_URI and MODEL_DIR={MODEL_DIR}. targets.<target>.model_uri "
        "overrides it per target. Default: none, nothing is delivered.")
    port: int = Field(default=8000, ge=1, le=65535, description="The port the container serves on. Default 8000.")
    command: list[Arg] | None = Field(
        default=None, min_length=1,
        description=f"The command that replaces the image's entrypoint, as an argv list, {LITERAL}. model.args "
        "follow it. Default: the image's entrypoint.")
    args: list[Arg] = Field(
        default_factory=list,
        description=f"Arguments after the entrypoint (or model.command), {LITERAL}. Refer to the delivered files as "
        f"{MODEL_DIR}, e.g. [--model, {MODEL_DIR}].")
    env: mapping(EnvName, ScalarLine) = Field(
        default_factory=dict, description="Environment variables for the container: names of letters, digits and "
        f"'_' (not starting with a digit), values one line each, {LITERAL}. Secrets go in model.secrets.")
    secrets: mapping(EnvName, SecretRefs) = Field(
        default_factory=dict,
        description="Environment variables whose values live in a secret store: name -> {<target>: reference}. Each "
        "replica reads the value when it starts, with its own identity, which may read those secrets only; the value "
        "never appears in the spec, the Terraform output or state, or user data. HF_TOKEN also reaches the download of "
        "an hf:// model.uri. Default: none.")


class Alternative(_Model):
    accelerator: str = Field(
        description="Canonical accelerator name from the catalog (as hardware.accelerator; not 'none').")
    count: int = Field(default=1, ge=1, le=INT32_MAX, description="Accelerators per replica. Default 1.")
    args: list[Arg] | None = Field(
        default=None,
        description=f"Arguments that replace model.args for replicas on this accelerator, {LITERAL}, e.g. another "
        "--tensor-parallel-size. aws gives each accelerator its own launch template; targets that run one replica "
        "definition on every type refuse args that differ. Default: model.args.")


class Hardware(_Model):
    accelerator: str = Field(
        description="Canonical accelerator name from the catalog (nvidia-t4, nvidia-t4g, nvidia-l4, nvidia-a10g, "
        "nvidia-a10, nvidia-l40s, nvidia-v100-16gb, nvidia-v100-32gb, nvidia-a100-40gb, nvidia-a100-80gb, "
        "nvidia-h100-80gb, nvidia-h100-nvl, nvidia-h200, nvidia-b200), or 'none' for CPU serving.")
    count: int | None = Field(
        default=None, ge=0, le=INT32_MAX,
        description="Accelerators per replica. Default: 1 with an accelerator, 0 with 'none'. Must be a count "
        "that an instance type of every emitted target offers.")
    cpus: int | None = Field(
        default=None, ge=1, le=INT32_MAX,
        description="Minimum vCPUs per replica. Default: no minimum (on kubernetes and gke, the CPU request: see "
        "targets.kubernetes.cpu_limit).")
    memory_gib: float | None = Field(
        default=None, gt=0, le=1048576, allow_inf_nan=False,
        description="Minimum memory per replica in GiB (at most 1048576, a PiB). Default: no minimum (on kubernetes "
        "and gke, the memory request and limit: see targets.kubernetes.cpu_limit).")
    disk_gib: int = Field(default=100, ge=8, le=16384, description="Root disk per replica in GiB. Default 100.")
    spot: bool = Field(default=False, description="Run replicas on spot/preemptible capacity. Default false: "
                       "on-demand capacity. Selection picks only instance types sold the way this asks.")
    arch: Literal["x86_64", "arm64"] = Field(
        default="x86_64",
        description="CPU architecture of the replicas; must match the container image. Default x86_64.")
    instance_types: dict[TargetName, InstanceTypeName | list[InstanceTypeName]] = Field(
        default_factory=dict,
        description="Per-target instance type that overrides catalog selection, e.g. {aws: g6.2xlarge}, or a list "
        "of them in order of preference, e.g. {aws: [g6.2xlarge, g6.4xlarge]}: the replicas then run on whichever "
        "has capacity (the capacity fallback of hardware.flexible, with these types only). "
        "A catalog entry must have the requested accelerator, count and arch, be sold the way hardware.spot asks "
        "and not be retired. A type outside the catalog is used as given, with a warning (infc cannot check what it "
        "has, nor price it), where the target takes one: azureml only sizes on the managed online endpoints SKU list, "
        "gke a GPU type only from the catalog (the node pool needs Google's accelerator name), gcp a GPU only on an "
        "N1 type or a GPU machine family.")
    flexible: bool = Field(
        default=False,
        description="Capacity fallback: let each target launch replicas on every catalog instance type that fits "
        "(accelerator, count, arch, cpus, memory_gib, spot), cheapest first, in every zone of the region, so that "
        "one type out of capacity does not stop the service. aws: a mixed instances policy; gcp: instance "
        "flexibility of the regional managed instance group; gke: one node pool per type. Other targets refuse it "
        "with the reason. `infc validate` lists the types per target. A target with hardware.instance_types.<target> runs "
        "the types named there instead. Default false: the cheapest type only.")
    alternatives: list[Alternative] = Field(
        default_factory=list,
        description="Other accelerators the service accepts when the first has no capacity, in order of preference "
        "after hardware.accelerator (e.g. nvidia-l4, then nvidia-a10g): each with its own count and, where it "
        "differs, its own model.args. Each gets the cheapest fitting type, or every fitting type with "
        "hardware.flexible; a target that sells none of an alternative skips it with a warning. Targets and "
        "mechanisms as for hardware.flexible. Default: none.")
    on_demand_base: int | None = Field(
        default=None, ge=0, le=INT32_MAX,
        description="With hardware.spot: this many replicas run on on-demand capacity, the rest on spot (aws: the "
        "mixed instances policy's on_demand_base_capacity). Targets without such a split refuse it. Default: none, "
        "every replica on spot.")


class Autoscale(_Model):
    metric: Literal["requests_per_replica", "cpu_percent"] = Field(
        description="requests_per_replica: average requests per second per replica; "
        "cpu_percent: average CPU utilization of the replicas in percent.")
    target: float = Field(gt=0, le=1000000, allow_inf_nan=False,
                           description="The metric value autoscaling holds replicas at (at most 1000000).")
    scale_out_delay: Seconds = Field(
        default=60, description="Time to wait after a scale-out before scaling again. Default 60s.")
    scale_in_delay: Seconds = Field(
        default=300, description="Time to wait after scaling before scaling in. Default 5m.")
    scale_to_zero_after: Seconds = Field(
        default=900, description="With replicas.min 0: time without requests after which the last replica is "
        "stopped. Default 15m. Only aws and aca scale to zero (docs/spec.md, 'Scale to zero').")


class Replicas(_Model):
    min: int = Field(default=1, ge=0, le=INT32_MAX, description="Fewest replicas. Default 1.")
    max: int | None = Field(default=None, ge=1, le=INT32_MAX, description="Most replicas. Default: equal to min.")
    autoscale: Autoscale | None = Field(
        default=None, description="Autoscaling policy. Absent: fixed at min (then min should equal max).")


VARIANT_NAME = r"^[a-z][a-z0-9]{0,7}$"


class Variant(_Model):
    """One version of the service behind the shared endpoint, with its share of the requests (variants)."""

    name: str = Field(
        pattern=VARIANT_NAME,
        description="Variant name, 1-8 lowercase letters and digits, starting with a letter (e.g. stable, canary). "
        "It suffixes the names of the variant's own resources, so renaming a variant replaces its replicas.")
    weight: int = Field(
        ge=0, le=100, description="Percent of requests the variant gets: whole numbers, the variants' weights sum to "
        "100. 0 keeps the variant's replicas running without traffic.")
    image: ImageRef | None = Field(default=None, description="Replaces model.image for this variant.")
    args: list[Arg] | None = Field(
        default=None, description=f"Replaces model.args for this variant, {LITERAL}.")
    env: mapping(EnvName, ScalarLine) | None = Field(
        default=None, description="Variables added to model.env for this variant (a name in both takes this value), "
        f"{LITERAL}.")
    uri: ModelUri | None = Field(default=None, description="Replaces model.uri for this variant.")
    hardware: Hardware | None = Field(
        default=None, description="Replaces the whole hardware section for this variant's replicas.")
    replicas: Replicas | None = Field(
        default=None, description="Replaces the whole replicas section for this variant (its own bounds and "
        "autoscaling).")


class Listener(_Model):
    port: int = Field(ge=1, le=65535, description="Port the load balancer listens on.")
    protocol: Literal["http", "https"] = Field(
        description="http, or https terminated with targets.<target>.certificate.")
    redirect_to: int | None = Field(
        default=None, ge=1, le=65535,
        description="Redirect every request to the listener on this port (e.g. 80 -> 443) instead of serving.")


def _default_listeners() -> list[Listener]:
    return [Listener(port=80, protocol="http")]


class LoadBalancer(_Model):
    public: bool = Field(default=True, description="Internet-facing (true) or internal (false). Default true.")
    allowed_cidrs: list[Cidr] = Field(
        default_factory=lambda: ["0.0.0.0/0"], min_length=1,
        description="Client address ranges allowed to reach the listeners. Default [0.0.0.0/0].")
    listeners: list[Listener] = Field(
        default_factory=_default_listeners, min_length=1,
        description="Ports and protocols the load balancer serves. Default: one http listener on 80.")
    idle_timeout: Seconds = Field(
        default=240, description="Idle connection timeout. Default 4m: the shortest every target can express "
        "(an Azure Load Balancer takes whole minutes from 4), and long enough for streamed responses.")
    drain_timeout: Seconds = Field(
        default=30, description="Time a replica being removed keeps serving in-flight requests. Default 30s.")
    stickiness: bool = Field(default=False, description="Pin each client to one replica by cookie. Default false.")


class _HttpProbe(_Model):
    path: HttpPath = Field(default="/health", description="HTTP path checked. Default /health.")
    port: int | None = Field(default=None, ge=1, le=65535, description="Port checked. Default: model.port.")
    timeout: Seconds = Field(default=5, description="Time a check may take; less than interval. Default 5s.")


class Readiness(_HttpProbe):
    interval: Seconds = Field(default=15, description="Time between checks. Default 15s.")
    healthy_threshold: int = Field(
        default=2, ge=1, le=INT32_MAX, description="Consecutive successes before a replica gets traffic. Default 2.")
    unhealthy_threshold: int = Field(
        default=3, ge=1, le=INT32_MAX, description="Consecutive failures before a replica loses traffic. Default 3.")
    success_codes: SuccessCodes = Field(
        default="200", description="HTTP codes that count as healthy: \"200\", \"200,204\" or \"200-299\". Default 200.")
    initial_delay: Seconds = Field(
        default=600,
        description="Time a new replica gets to start and load its model before it is judged. Default 10m.")


class Liveness(_HttpProbe):
    interval: Seconds = Field(default=30, description="Time between checks. Default 30s.")
    failure_threshold: int = Field(
        default=5, ge=1, le=INT32_MAX, description="Consecutive failures before the replica is replaced. Default 5.")


class Probes(_Model):
    readiness: Readiness = Field(
        default_factory=Readiness, description="Drives the load balancer's health check.")
    liveness: Liveness | None = Field(
        default=None, description="Drives replacement of broken replicas where the target can. Default: none "
        "(on kubernetes and gke, one derived from the readiness probe: see targets.kubernetes.liveness_from_readiness).")


class AwsTarget(_TargetSettings):
    region: str = Field(pattern=AWS_REGION, description="AWS region, e.g. us-east-1.")
    vpc_id: VpcId | None = Field(
        default=None,
        description="VPC to deploy into. Default: the region's default VPC, looked up at plan time.")
    subnet_ids: list[SubnetId] | None = Field(
        default=None, min_length=2,
        description="Subnets (in at least two availability zones) for the load balancer, and for the replicas "
        "unless replica_subnet_ids is set. Default: the subnets of the VPC, looked up at plan time.")
    image: AmiId | None = Field(
        default=None,
        description="AMI for the replicas. Default: the latest AWS Deep Learning Base GPU AMI (Ubuntu 22.04) "
        "for GPU replicas, the latest Ubuntu 22.04 LTS for CPU replicas.")
    replica_subnet_ids: list[SubnetId] | None = Field(
        default=None, min_length=1,
        description="Subnets for the replicas only, e.g. private subnets that route out through a NAT gateway "
        "(the replicas pull the image and the model from the internet). Replicas there get no public IP address. "
        "Needs vpc_id and subnet_ids (the load balancer's subnets, in the same VPC and the same availability zones). "
        "Default: the load balancer's subnets, where replicas keep the subnets' public-IP setting: the default VPC "
        "has no NAT gateway, so replicas there need public addresses to pull images.")
    deletion_protection: bool = Field(
        default=False,
        description="Turn on deletion protection of the load balancer: then `terraform destroy` fails until it is "
        "turned off again (set false and apply). Default false.")
    access_logs_bucket: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="S3 bucket that receives the load balancer's access logs, under the prefix metadata.name. The "
        "bucket must be in the same region, use S3-managed encryption keys (SSE-S3), and have a bucket policy that "
        "allows Elastic Load Balancing to write to it (see "
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html). "
        "Default: no access logs.")
    waf_acl_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws(-[a-z]+)*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/[A-Za-z0-9_-]{1,128}/[0-9a-f-]+$",
        description="ARN of an existing regional AWS WAF (WAFv2) web ACL, in the same region, to associate with the "
        "load balancer. Default: no web ACL.")
    registry: bool = Field(
        default=False, description=_VM_REGISTRY.format(
            what="an Amazon ECR repository named after the service (immutable tags, scanned on push)",
            how=" (the replicas' role may pull from an ECR image's repository whether or not this is set)"))


class AzureTarget(_TargetSettings):
    location: str = Field(pattern=AZURE_LOCATION, description="Azure region, e.g. eastus.")
    resource_group: str | None = Field(
        default=None, pattern=_RESOURCE_GROUP,
        description="Existing resource group to deploy into (ASCII letters, digits, '_', '-', '.' and parentheses). "
        "Default: one named after the service is created.")
    subnet_id: str | None = Field(
        default=None, pattern=f"^/subscriptions/{_SEGMENT}/resourceGroups/{_SEGMENT}/providers/Microsoft\\.Network/"
        f"virtualNetworks/{_SEGMENT}/subnets/{_SEGMENT}$",
        description="Existing subnet id for the replicas. Default: a virtual network and subnet are created.")
    image: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9._-]+:[A-Za-z0-9._-]+:[A-Za-z0-9._-]+:[A-Za-z0-9._-]+$",
        description="Image URN publisher:offer:sku:version. Default: a GPU-ready image for GPU replicas, "
        "Ubuntu 22.04 LTS for CPU replicas.")
    ssh_public_key: SshPublicKey | None = Field(
        default=None,
        description="OpenSSH public key for the replicas' admin user (password login is always disabled). "
        "Default: a key pair is generated with the tls provider and kept in Terraform state.")
    encryption_at_host: bool = Field(
        default=False,
        description="Encrypt the replicas' temporary disk and OS disk cache on the VM host (encryption at host). "
        "Needs the EncryptionAtHost feature registered on the subscription (az feature register --namespace "
        "Microsoft.Compute --name EncryptionAtHost) and a VM size that supports it. Default false: the OS disk is "
        "still encrypted at rest with platform-managed keys.")
    waf: Literal["detection", "prevention"] | None = Field(
        default=None,
        description="Put a Web Application Firewall in front of the replicas: a WAF policy with Microsoft's "
        "Default Rule Set 2.1 is created and the Application Gateway becomes WAF_v2 (billed at the WAF_v2 rate). "
        "detection logs matching requests, prevention blocks them (and requests with bodies over 2 MB). Needs an "
        "Application Gateway (an https listener, a redirect or stickiness). Default: none.")
    waf_policy_id: str | None = Field(
        default=None,
        pattern=f"^/subscriptions/{_SEGMENT}/resourceGroups/{_SEGMENT}/providers/Microsoft\\.Network/"
        f"ApplicationGatewayWebApplicationFirewallPolicies/{_SEGMENT}$",
        description="An existing Application Gateway WAF policy to attach instead of creating one (waf): the "
        "gateway becomes WAF_v2. Needs an Application Gateway. Default: none.")
    key_vault_id: str | None = Field(
        default=None,
        pattern=f"^/subscriptions/{_SEGMENT}/resourceGroups/{_SEGMENT}/providers/Microsoft\\.KeyVault/vaults/"
        r"[0-9A-Za-z-]{3,24}$",
        description="Resource id of the Key Vault that holds targets.azure.certificate, in the subscription the "
        "stack deploys to: infc then lets the gateway's identity read its secrets, with the Key Vault Secrets User "
        "role on a vault that uses Azure RBAC or a Get-secrets access policy on one that uses access policies (read "
        "from the vault at plan time), so one terraform apply serves https. Needs rights to assign roles (RBAC "
        "vault) or to change access policies. Default: none; grant the gateway_identity_principal_id output access "
        "yourself between two applies.")
    registry: bool = Field(
        default=False, description=_VM_REGISTRY.format(
            what="an Azure Container Registry (Basic SKU, no admin user) with a name derived from the service's",
            how=" with their managed identity (AcrPull)"))
    container_registry_id: str | None = Field(
        default=None, pattern=CONTAINER_REGISTRY_ID,
        description="An existing Azure Container Registry the replicas may pull model.image from: their managed "
        "identity gets AcrPull on it and signs docker in at boot. Needs the right to assign roles on it. Default: none "
        "(an image in an Azure Container Registry then gets a warning: its login server does not name its resource "
        "id).")


class GcpTarget(_TargetSettings):
    project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", description="Google Cloud project id.")
    region: str = Field(pattern=r"^[a-z]+-[a-z]+[0-9]+$", description="Region, e.g. us-central1.")
    network: Identifier | None = Field(
        default=None, description="VPC network. Default: the project's default network.")
    subnet: Identifier | None = Field(
        default=None, description="Subnetwork. Default: the network's subnet in the region.")
    image: Identifier | None = Field(
        default=None,
        description="Boot image or image family; it must support Shielded VM (UEFI, vTPM), as Google's public images "
        "do. Default: the Deep Learning VM image with CUDA and the NVIDIA driver for GPU replicas, Ubuntu 22.04 LTS "
        "for CPU replicas.")
    secure_boot: bool | None = Field(
        default=None,
        description="Shielded VM secure boot: the replicas boot only signed boot loaders, kernels and kernel modules "
        "(vTPM and integrity monitoring are always on). Default: on for CPU replicas, off for GPU replicas, whose "
        "NVIDIA kernel modules an image may carry unsigned.")
    private_replicas: bool = Field(
        default=False,
        description="Replicas get no external IP address; a Cloud Router and Cloud NAT in the region give the "
        "replicas' subnet outbound access (image pulls, model downloads). Cloud NAT is billed per gateway hour and "
        "per GB processed. Default false: each replica has an ephemeral external IP for outbound traffic, and the "
        "firewall admits inbound traffic only from Google's health checkers and the load balancer.")
    proxy_subnet: Identifier | None = Field(
        default=None,
        description="Name of the network's existing proxy-only subnet (purpose REGIONAL_MANAGED_PROXY) in the "
        "region, for an internal load balancer (public: false): a network has one active proxy-only subnet per "
        "region, shared by all its internal load balancers there, so a second internal service names the one the "
        "first created (its proxy_subnet_name output). infc reads its range for the firewall and creates none. "
        "Default: infc creates one with proxy_subnet_cidr.")
    proxy_subnet_cidr: Cidr | None = Field(
        default=None,
        description="IPv4 range of the proxy-only subnet infc creates for an internal load balancer (public: "
        "false): /26 or larger (/23 recommended), unused in the network. Default: 10.127.254.0/23.")
    cloud_nat: bool = Field(
        default=True,
        description="With private_replicas: create the Cloud Router and Cloud NAT. Set false when the network "
        "already gives the subnet outbound access (its own Cloud NAT: a second gateway for the same subnet fails to "
        "apply). Default true.")
    registry: bool = Field(
        default=False, description=_VM_REGISTRY.format(
            what="an Artifact Registry Docker repository named after the service in the region (immutable tags)",
            how=" (the replicas' service account may read an Artifact Registry or gcr.io image's repository whether "
            "or not this is set)"))


class KubernetesTarget(_TargetSettings, _Workload):
    namespace: str | None = Field(
        default=None, pattern=NAMESPACE, max_length=63,
        description="Namespace of the service's objects. It is created unless it is 'default' or namespace_exists "
        "is true. Default: one named after the service (metadata.name), created.")
    namespace_exists: bool = Field(default=False, description="The namespace already exists: do not create it.")
    node_selector: mapping(Line, ScalarLine) | None = Field(
        default=None,
        description="Node labels the replicas must run on. Default: none for CPU replicas; for GPU replicas the "
        "accelerator's label from NVIDIA GPU Feature Discovery (nvidia.com/gpu.product).")
    host: str | None = Field(
        default=None, pattern=HOSTNAME,
        description="Hostname the Ingress for https listeners serves, matching its TLS certificate; with gateway, the "
        "HTTPRoute's only hostname. Default: none (ingress-nginx then serves its own default certificate; the "
        "HTTPRoute matches every hostname of its Gateway listener).")
    ingress_class: Line | None = Field(
        default=None, description="IngressClass of the Ingress emitted for https listeners. Default: the "
        "cluster's default class.")
    ip_family: Literal["IPv4", "IPv6"] = Field(
        default="IPv4", description="IP family of the http listeners' LoadBalancer Service (single-stack): the "
        "cluster must serve it (IPv4, or IPv6 on an IPv6 or dual-stack cluster). Only the load_balancer."
        "allowed_cidrs of this family become its source ranges; the others are left out with a warning, because "
        "one firewall rule cannot mix families (GKE). Default: IPv4.")
    # Gateway API v1 ParentReference (gateway-api apis/v1/shared_types.go): Name an object name, Namespace a DNS
    # label, SectionName a DNS subdomain (the pattern below is its kubebuilder pattern), each at most 253/63/253.
    gateway: str | None = Field(
        default=None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", max_length=253,
        description="Name of an existing Gateway (Gateway API v1) that serves the service: an HTTPRoute attached to it "
        "sends every path to ClusterIP Services instead of a LoadBalancer Service, and with variants carries their "
        "weights exactly. The Gateway's listeners decide ports, TLS and who may connect, so load_balancer keeps its "
        "default listeners, public, allowed_cidrs and stickiness. The HTTPRoute CRD must be installed when Terraform "
        "plans (the route is a kubernetes_manifest), and a controller must implement the Gateway. Required for "
        "variants. Default: none, a LoadBalancer Service (and an Ingress for https).")
    gateway_namespace: str | None = Field(
        default=None, pattern=NAMESPACE, max_length=63,
        description="Namespace of targets.kubernetes.gateway; its listener must allow routes from the service's "
        "namespace (allowedRoutes). Default: the service's namespace.")
    gateway_listener: str | None = Field(
        default=None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", max_length=253,
        description="Name of the Gateway listener the HTTPRoute attaches to (its parentRef sectionName). Default: "
        "every listener of the Gateway that allows the route.")


class AzureMLTarget(_Stateful):
    location: str = Field(pattern=AZURE_LOCATION, description="Azure region, e.g. eastus.")
    resource_group: str | None = Field(
        default=None, pattern=_RESOURCE_GROUP,
        description="Existing resource group to deploy into (ASCII letters, digits, '_', '-', '.' and parentheses). "
        "Default: one named after the service is created.")
    image: ImageRef | None = Field(
        default=None,
        description="Image the deployment runs instead of model.image. Azure ML environments take no command or "
        "arguments, so with model.args this must be an image whose CMD carries them (e.g. built FROM model.image). "
        "Default: model.image.")
    container_registry_id: str | None = Field(
        default=None, pattern=CONTAINER_REGISTRY_ID,
        description="Azure Container Registry attached to the workspace, for a private image. Default: none "
        "(public images need no registry).")
    purge_protection: bool = Field(
        default=False,
        description="Turn on purge protection of the workspace's key vault: once deleted, the vault and its secrets "
        "stay recoverable for 90 days and nobody can purge them earlier. It cannot be turned off again, and its "
        "globally unique name stays taken meanwhile (re-applying the stack recovers it). Default false: a "
        "destroyed vault is purged, so the stack can be destroyed and re-created freely.")
    scoring_route: HttpPath = Field(
        default="/v1",
        description="Path of the scoring route on model.port. The endpoint's scoring URI (the endpoint output) is "
        "the endpoint's host followed by this path, and requests to it and to paths below it reach the container at "
        "the same path. Default /v1: the OpenAI API prefix that vLLM, TGI and SGLang serve (/v1/chat/completions, "
        "/v1/completions, /v1/models), so the output is the base URL OpenAI clients take; /score for Azure ML's own "
        "inference server. Azure ML requires a letter, digit or '_' in it, so not '/'.")
    purge_workspace_on_destroy: bool = Field(
        default=True,
        description="terraform destroy deletes the workspace for good (the azurerm provider's "
        "purge_soft_deleted_workspace_on_destroy), so the stack can be applied again at once. false: a destroyed "
        "workspace is soft-deleted, recoverable for 14 days, and its name stays taken meanwhile, so applying the "
        "stack again fails until it is purged or recovered. Default true.")


class AcaTarget(_Stateful):
    location: str = Field(pattern=AZURE_LOCATION, description="Azure region, e.g. westus3 (serverless GPUs are "
                          "offered in some regions only).")
    resource_group: str | None = Field(
        default=None, pattern=_RESOURCE_GROUP,
        description="Existing resource group to deploy into (ASCII letters, digits, '_', '-', '.' and parentheses). "
        "Default: one named after the service is created.")


class GkeTarget(_ManagedCluster):
    project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", description="Google Cloud project id.")
    region: str = Field(pattern=r"^[a-z]+-[a-z]+[0-9]+$", description="Region of the regional cluster, e.g. us-central1.")
    master_authorized_cidrs: list[Cidr] | None = Field(
        default=None, min_length=1, max_length=50,
        description="IPv4 ranges that may reach the cluster's control plane endpoint (master authorized networks). "
        "They must include the machine that runs terraform apply: it creates the workload through that endpoint. "
        "Default: none (any address, authenticated by Google credentials).")
    private_nodes: bool = Field(
        default=False,
        description="Nodes get only internal IP addresses (private nodes; the control plane keeps its public "
        "endpoint); a Cloud Router and Cloud NAT in the region give them outbound access for image pulls and model "
        "downloads. Cloud NAT is billed per gateway hour and per GB processed. Default false: nodes have external "
        "IPs for outbound traffic.")
    cloud_nat: bool = Field(
        default=True,
        description="With private_nodes: create the Cloud Router and Cloud NAT. Set false when the network already "
        "gives the region's subnet outbound access (its own Cloud NAT: a second gateway for the same subnet fails "
        "to apply). Default true.")
    binary_authorization: bool = Field(
        default=False,
        description="Enforce the project's Binary Authorization policy on the cluster's images "
        "(PROJECT_SINGLETON_POLICY_ENFORCE). Needs the Binary Authorization API enabled and a policy that admits "
        "model.image. Default false.")
    security_group: str | None = Field(
        default=None, pattern=r"^gke-security-groups@[a-z0-9]([a-z0-9.-]*[a-z0-9])?$",
        description="Google Groups for RBAC: the gke-security-groups@DOMAIN group of a Google Workspace or Cloud "
        "Identity domain, whose member groups RBAC bindings may name. Default: none.")
    registry: bool = Field(
        default=False,
        description="Create an Artifact Registry Docker repository for the service's images, named after the "
        "service in the cluster's region, and let the nodes read it; its URL is the stack output `registry_url`. "
        "Push the image there and name it in model.image (pods retry the pull until it exists). Default false.")


class Targets(_Model):
    """The backends to emit, each a mapping of its settings ({} for all defaults); at least one."""

    # Not Optional: a key with no value (`kubernetes:`) is null in YAML and would drop that target without a word.
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"minProperties": 1})

    aws: AwsTarget = Field(default=None, description="Emit an AWS stack (EC2 autoscaling group behind an ALB).")
    azure: AzureTarget = Field(
        default=None, description="Emit an Azure stack (VM scale set behind a load balancer).")
    gcp: GcpTarget = Field(
        default=None, description="Emit a Google Cloud stack (managed instance group behind a load balancer).")
    kubernetes: KubernetesTarget = Field(
        default=None, description="Emit Kubernetes objects for an existing cluster.")
    azureml: AzureMLTarget = Field(default=None, description="Emit an Azure Machine Learning online endpoint.")
    gke: GkeTarget = Field(default=None, description="Emit a GKE cluster with a GPU node pool and the workload.")
    eks: EksTarget = Field(default=None, description="Emit an EKS cluster with a managed node group and the workload.")
    aks: AksTarget = Field(default=None, description="Emit an AKS cluster with a GPU (or CPU) node pool and the "
                           "workload.")
    aca: AcaTarget = Field(default=None, description="Emit an Azure Container Apps environment and a container app "
                           "(Consumption, or a serverless GPU workload profile), which can scale to zero.")

    @model_validator(mode="after")
    def _at_least_one(self) -> Targets:
        if not self.named():
            raise ValueError(f"name at least one target ({', '.join(type(self).model_fields)}); a target with all "
                             "default settings is written {}, e.g. kubernetes: {}")
        return self

    def named(self) -> list[str]:
        return [name for name in type(self).model_fields if getattr(self, name) is not None]


class Spec(_Model):
    """One inference service: what to serve, on what hardware, behind which load balancer, on which clouds."""

    model_config = ConfigDict(
        extra="forbid", strict=True, title="infc InferenceService (infc/v1)",
    )

    apiVersion: Literal["infc/v1"] = Field(description="Spec language version: infc/v1.")
    kind: Literal["InferenceService"] = Field(description="Always InferenceService.")
    metadata: Metadata = Field(description="Name and labels of the service.")
    model: Model = Field(description="The serving container and the model it serves.")
    hardware: Hardware = Field(description="What one replica runs on.")
    replicas: Replicas = Field(default_factory=Replicas, description="How many replicas, and how they scale.")
    load_balancer: LoadBalancer = Field(default_factory=LoadBalancer, description="How clients reach the replicas.")
    probes: Probes = Field(default_factory=Probes, description="Health checks of the replicas.")
    targets: Targets = Field(description="Which backends to emit, each with its placement settings.")
    variants: list[Variant] = Field(
        default_factory=list, max_length=5,
        description="Two to five versions of the service behind the one endpoint, each with a whole-percent weight "
        "(summing to 100) and what differs from the sections above (image, args, env, uri, hardware, replicas); "
        "each runs its own replicas, probed and autoscaled separately. Changing only weights changes only the traffic "
        "split. Targets that cannot split traffic by weight refuse variants (docs/spec.md, 'Variants'). Default: "
        "none, one version.")

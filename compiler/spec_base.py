"""What every part of the spec shares: the strict base model, state backends, and the settings many targets take."""

from __future__ import annotations

import functools
import typing
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from compiler.values import Identifier, ModelUri, NonEmptyLine, numbers_and_flags

# One segment of an Azure resource id (/subscriptions/<segment>/resourceGroups/<segment>/...).
_SEGMENT = r"[^/\x00-\x20\x7f-\xa0]+"
# Resource group names: ASCII letters, digits, '_', '-', '.' and parentheses, not ending in '.' (Azure also takes
# Unicode letters, which an ECMA-262 JSON Schema pattern cannot say the way the validator does).
_RESOURCE_GROUP = r"^[-A-Za-z0-9_.()]{0,89}[-A-Za-z0-9_()]$"
# The id of an Azure resource of a type: _AZURE_ID.format("Microsoft\\.KeyVault/vaults").
_AZURE_ID = f"^/subscriptions/{_SEGMENT}/resourceGroups/{_SEGMENT}/providers/{{}}/{_SEGMENT}$"
# An Azure Container Registry's resource id: the azure, aks and azureml targets' container_registry_id.
CONTAINER_REGISTRY_ID = _AZURE_ID.format("Microsoft\\.ContainerRegistry/registries")
AWS_REGION = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"
AZURE_LOCATION = r"^[a-z0-9]+$"
# A Kubernetes namespace (a DNS label) and an Ingress host (a DNS name, optionally a wildcard).
NAMESPACE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _yaml_readings(cls, data: object) -> object:
        return numbers_and_flags(data, _scalar_fields(cls))


@functools.cache
def _scalar_fields(model: type[BaseModel]) -> dict[str, type]:
    """The int, float and bool fields of `model` (optional or not): where YAML's readings of numbers and booleans go."""
    out = {}
    for name, field in model.model_fields.items():
        kinds = [a for a in (typing.get_args(field.annotation) or (field.annotation,)) if a is not type(None)]
        if len(kinds) == 1 and kinds[0] in (int, float, bool):
            out[name] = kinds[0]
    return out



class LocalBackend(_Model):
    """Terraform state in a local file."""

    type: Literal["local"] = Field(description="local: state in a file on the machine that runs terraform.")
    path: NonEmptyLine = Field(
        default="terraform.tfstate", max_length=4096,
        description="State file, relative to the stack directory (cdktf.out/stacks/<name>-<target>) or absolute. "
        "infc never touches it, wherever it is. Default terraform.tfstate, beside cdk.tf.json.")


class S3Backend(_Model):
    """Terraform state in an S3 bucket."""

    type: Literal["s3"] = Field(description="s3: state in an Amazon S3 bucket.")
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="Existing S3 bucket.")
    key: NonEmptyLine | None = Field(
        default=None, max_length=1024,
        description="Object key of the state. Default: infc/<name>-<target>/terraform.tfstate.")
    region: str | None = Field(
        default=None, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$",
        description="Region of the bucket. Default: targets.aws.region for the aws target; required for others.")
    dynamodb_table: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.-]{3,255}$",
        description="DynamoDB table for state locking (the older mechanism; its partition key must be LockID). "
        "Default: none.")
    use_lockfile: bool | None = Field(
        default=None,
        description="Lock with a .tflock object beside the state in the bucket (S3-native locking, Terraform 1.10 "
        "or newer). Default: true unless dynamodb_table is set.")
    kms_key_id: str | None = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+$",
        description="ARN of a KMS key that encrypts the state object. Default: the bucket's encryption "
        "(the state is always stored encrypted: encrypt = true).")


class GcsBackend(_Model):
    """Terraform state in a Google Cloud Storage bucket."""

    type: Literal["gcs"] = Field(description="gcs: state in a Google Cloud Storage bucket (locking is built in).")
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", description="Existing GCS bucket.")
    prefix: NonEmptyLine | None = Field(
        default=None, max_length=1024,
        description="Object prefix of the state (the state is <prefix>/default.tfstate). Default: infc/<name>-<target>.")


class AzurermBackend(_Model):
    """Terraform state in an Azure Storage blob container."""

    type: Literal["azurerm"] = Field(description="azurerm: state in an Azure Storage blob (locking is built in).")
    resource_group_name: str = Field(pattern=_RESOURCE_GROUP, description="Resource group of the account.")
    storage_account_name: str = Field(pattern=r"^[a-z0-9]{3,24}$", description="Existing storage account.")
    container_name: str = Field(pattern=r"^[a-z0-9](-?[a-z0-9]){2,62}$", description="Existing blob container.")
    key: NonEmptyLine | None = Field(
        default=None, max_length=1024,
        description="Blob name of the state. Default: infc/<name>-<target>.tfstate.")
    use_azuread_auth: bool = Field(
        default=True,
        description="Authenticate to the storage account with Microsoft Entra ID (needs Storage Blob Data "
        "Contributor) instead of its access key. Default true.")


Backend = Annotated[LocalBackend | S3Backend | GcsBackend | AzurermBackend, Field(discriminator="type")]


class _Stateful(_Model):
    model_uri: ModelUri | None = Field(
        default=None,
        description="Where this target's replicas get the weights instead of model.uri (e.g. a copy in this cloud's "
        "own storage, next to the replicas). Same forms as model.uri. Default: model.uri.")
    backend: Backend | None = Field(
        default=None,
        description="Where this target's Terraform state lives: {type: local|s3|gcs|azurerm, ...}. Credentials "
        "never go in the spec: terraform init takes them from the environment (or -backend-config). Default: "
        "local, terraform.tfstate in the stack directory, which infc never touches.")


class _TargetSettings(_Stateful):
    certificate: Identifier | None = Field(
        default=None, description="What https listeners terminate with on this target.")


class _Workload(_Model):
    """Settings of the Kubernetes workload, which the kubernetes and gke targets both emit."""

    cpu_limit: float | None = Field(
        default=None, gt=0, le=1000000, allow_inf_nan=False,
        description="CPU limit of each replica in CPUs (0.5 is 500m; at most 1000000); at least the CPU request. "
        "Default: the CPU request, so that with memory (limit = request) the pods are in the Guaranteed QoS class, "
        "the last evicted under node pressure. The requests are hardware.cpus and hardware.memory_gib, else 1 CPU and "
        "2 GiB for a CPU replica (KServe's default), 2 CPUs and 8 GiB for a GPU replica. A larger limit lets a "
        "replica use idle CPU above its request (Burstable QoS).")
    liveness_from_readiness: bool = Field(
        default=True,
        description="Without probes.liveness, restart a replica whose probes.readiness path and port keep failing: "
        "a liveness probe every 30s (or the readiness interval if longer) with the readiness timeout, 5 failures "
        "in a row (the probes.liveness defaults), started after the startup probe. false: no liveness probe "
        "unless probes.liveness is set. Default true.")
    run_as_user: int | None = Field(
        default=None, ge=1, le=2147483647,
        description="User id the container runs as, with runAsNonRoot so that the kubelet refuses uid 0. The "
        "server must be able to run as this user (e.g. write its caches). Default: none, the image's own user; "
        "serving images often run as root (vLLM's does).")
    writable_dirs: list[Annotated[str, Field(pattern=r"^(/\.?[A-Za-z0-9_][-A-Za-z0-9._]*)+$")]] | None = Field(
        default=None, min_length=1,
        description="Directories the server writes (/tmp, caches such as HF_HOME), each an emptyDir volume; "
        "setting it makes the container's root filesystem read-only. Default: none, the root filesystem stays "
        "writable, because serving images write model caches in image-specific places (vLLM ~/.cache, TGI and "
        "TEI /data).")


class _ManagedCluster(_TargetSettings, _Workload):
    """A cluster infc creates (gke, eks, aks) running the kubernetes workload: where the workload goes in it."""

    namespace: str | None = Field(
        default=None, pattern=NAMESPACE, max_length=63,
        description="Namespace of the workload in the new cluster; created unless 'default'. Default: one named "
        "after the service (metadata.name).")
    host: str | None = Field(
        default=None, pattern=HOSTNAME,
        description="Hostname the https Ingress serves, matching its certificate. Default: none (any host).")

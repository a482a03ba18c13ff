"""Model files and secrets on a replica: what each model.uri and secret reference is, which pinned tool reads it with
the replica's own identity, and what each target grants or cannot grant (no CDK: backends emit the grants)."""

from __future__ import annotations

import dataclasses
import re

from compiler import ir, values
from compiler.errors import Diagnostic
from compiler.ir import MODEL_DIR
from targets.base import error, warning

# Tool images, pinned by exact version tag (no digest is published in their sources):
# - KServe's storage initializer (kserve/kserve python/storage-initializer.Dockerfile at v0.20.0; the release workflow
#   pushes kserve/storage-initializer:<tag> for linux/amd64 and arm64): `<uri> <dir>` downloads s3://, gs://, Azure
#   Blob and hf:// URIs with boto3's, google-auth's and azure-identity's default credentials and HF_TOKEN. It runs as
#   uid 1000 (`USER 1000`), so the directory it writes belongs to that uid.
STORAGE_INITIALIZER = "kserve/storage-initializer:v0.20.0"
INITIALIZER_UID = 1000
# - The clouds' own CLIs, to read secrets: AWS CLI v2 from Amazon ECR Public (its entrypoint is `aws`;
#   https://docs.aws.amazon.com/cli/latest/userguide/getting-started-docker.html), the Google Cloud CLI
#   (https://cloud.google.com/sdk/docs/downloads-docker; versions are kept for a year, so this tag needs a bump
#   within a year of its release), the Azure CLI (2.69.0 or newer takes `az login --identity --client-id`).
AWS_CLI = "public.ecr.aws/aws-cli/aws-cli:2.32.2"
GCLOUD = "gcr.io/google.com/cloudsdktool/google-cloud-cli:573.0.0-stable"
AZURE_CLI = "mcr.microsoft.com/azure-cli:2.76.0"
TOOL_IMAGES = (STORAGE_INITIALIZER, AWS_CLI, GCLOUD, AZURE_CLI)

# The variable that gives the download an hf:// token (huggingface_hub reads HF_TOKEN).
HF_TOKEN = "HF_TOKEN"

_KSERVE_DOC = "https://github.com/kserve/kserve/blob/master/python/storage/kserve_storage/kserve_storage.py"
_REGISTRY_DOC = ("https://learn.microsoft.com/en-us/azure/machine-learning/"
                 "how-to-share-models-pipelines-across-workspaces-with-registries")

SCHEMES = {  # scheme -> what the store is called in messages
    "s3": "an S3 bucket", "gs": "a Cloud Storage bucket", "blob": "an Azure Blob container",
    "hf": "a Hugging Face repository", "azureml": "an Azure ML registry model",
}
# The store each cloud's replicas get a read grant for from infc (their own identity); other targets download
# anonymously (public buckets) or with the token of model.secrets.HF_TOKEN.
GRANTED = {"aws": "s3", "gcp": "gs", "azure": "blob", "eks": "s3"}  # eks: through EKS Pod Identity
# Kubernetes pods get cloud credentials from the cluster (EKS Pod Identity or IRSA, GKE Workload Identity, AKS
# workload identity), through the workload's service account: a managed-cluster target wires them up.
CLUSTER_CREDENTIALS = {"s3": "EKS Pod Identity or IRSA", "gs": "GKE Workload Identity",
                       "blob": "AKS workload identity"}


@dataclasses.dataclass(frozen=True)
class Source:
    """A model.uri taken apart: scheme, store (bucket, storage account, org/model, registry) and path in it."""

    scheme: str
    uri: str
    store: str
    container: str = ""  # Azure Blob container
    path: str = ""  # key or object prefix, blob path, hf revision, azureml model/version

    @property
    def initializer_uri(self) -> str:
        """The URI as KServe's storage initializer takes it: hf://org/model:revision (it splits at ':')."""
        if self.scheme == "hf":
            return f"hf://{self.store}" + (f":{self.path}" if self.path else "")
        return self.uri


def source(uri: str | None) -> Source | None:
    """`uri` (one of the forms of compiler/values.py ModelUri) taken apart, or None without one."""
    if not uri:
        return None
    for scheme, pattern in (("s3", values.S3_URI), ("gs", values.GS_URI), ("blob", values.BLOB_URI),
                            ("hf", values.HF_URI), ("azureml", values.AZUREML_URI)):
        found = re.fullmatch(pattern, uri)
        if found:
            parts = [p or "" for p in found.groups()]
            if scheme == "blob":
                return Source(scheme, uri, parts[0], parts[1], parts[2])
            if scheme == "azureml":
                return Source(scheme, uri, parts[0], path=f"{parts[1]}/{parts[2]}")
            return Source(scheme, uri, parts[0], path=parts[1])
    raise ValueError(f"not a model URI: {uri!r}")  # the spec's type admits none other


# --- secrets ------------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class AwsSecret:
    """arn:<partition>:secretsmanager|ssm:<region>:<account>:...: the store, its region, the exact ARN."""

    service: str  # "secretsmanager" | "ssm"
    region: str
    arn: str


def aws_secret(ref: str) -> AwsSecret:
    _, _, service, region, _ = ref.split(":", 4)
    return AwsSecret(service, region, ref)


@dataclasses.dataclass(frozen=True)
class GcpSecret:
    project: str
    secret: str
    version: str  # "latest" unless the reference names one


def gcp_secret(ref: str) -> GcpSecret:
    parts = ref.split("/")
    return GcpSecret(parts[1], parts[3], parts[5] if len(parts) > 5 else "latest")


@dataclasses.dataclass(frozen=True)
class KeyVaultSecret:
    vault: str
    name: str
    version: str  # "" without one

    @property
    def url(self) -> str:
        return f"https://{self.vault}.vault.azure.net/secrets/{self.name}" + (f"/{self.version}" if self.version else "")


def key_vault_secret(ref: str) -> KeyVaultSecret:
    host, _, rest = ref.removeprefix("https://").partition("/")
    parts = rest.split("/")
    return KeyVaultSecret(host.split(".")[0], parts[1], parts[2] if len(parts) > 2 else "")


def kubernetes_secret(ref: str) -> tuple[str, str]:
    """(Secret name, key)."""
    name, _, key = ref.partition("/")
    return name, key


def secret_command(target: str, secret: ir.Secret, client_id: str = "") -> list[str]:
    """The argv, after `docker run --rm`, of the pinned CLI that prints `secret`'s value on a VM replica of `target`,
    signed in as the replica itself (instance role, service account, managed identity `client_id`)."""
    if target == "aws":
        ref = aws_secret(secret.ref)
        if ref.service == "secretsmanager":  # https://docs.aws.amazon.com/cli/latest/reference/secretsmanager/get-secret-value.html
            return [AWS_CLI, "secretsmanager", "get-secret-value", "--region", ref.region, "--secret-id", ref.arn,
                    "--query", "SecretString", "--output", "text"]
        # GetParameter takes a parameter's name or ARN (https://docs.aws.amazon.com/cli/latest/reference/ssm/get-parameter.html).
        return [AWS_CLI, "ssm", "get-parameter", "--region", ref.region, "--name", ref.arn, "--with-decryption",
                "--query", "Parameter.Value", "--output", "text"]
    if target == "gcp":  # https://cloud.google.com/sdk/gcloud/reference/secrets/versions/access
        ref = gcp_secret(secret.ref)
        return [GCLOUD, "gcloud", "secrets", "versions", "access", ref.version, "--secret", ref.secret,
                "--project", ref.project]
    if target == "azure":
        # A user-assigned identity with no subscription role signs in only with --allow-no-subscriptions
        # (https://learn.microsoft.com/en-us/cli/azure/authenticate-azure-cli-managed-identity).
        script = ('az login --identity --client-id "$1" --allow-no-subscriptions --output none && '
                  'az keyvault secret show --id "$2" --query value --output tsv')
        return [AZURE_CLI, "sh", "-c", script, "infc", client_id, key_vault_secret(secret.ref).url]
    raise ValueError(f"{target} reads secrets without a boot script")


# --- checks -------------------------------------------------------------------------------------------------------

def check(name: str, service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """What `target` cannot deliver: a scheme it cannot mount, a store it grants no read on (a warning: public
    buckets still work), a token a gated hf:// repository may need."""
    found = source(target.model_uri)
    path = f"targets.{name}.model_uri" if target.get("model_uri") else "model.uri"
    out: list[Diagnostic] = []
    if found is None:
        return out
    if found.scheme == "azureml" and name != "azureml":
        return [error(name, path, f"{path} is an Azure ML registry model, which only the azureml target mounts; set "
                                  f"targets.{name}.model_uri to a location {name} can download from "
                                  f"({values.MODEL_URI_FORMS.rpartition(' or ')[0]})")]
    if name == "azureml":
        if found.scheme != "azureml":
            out.append(error(name, path, f"{path} is {SCHEMES[found.scheme]}; a managed online deployment mounts "
                                         "Azure ML registered models only: register the files in a registry (az ml "
                                         "model create --registry-name ...) and set targets.azureml.model_uri to "
                                         "azureml://registries/<registry>/models/<name>/versions/<version> (see "
                                         f"{_REGISTRY_DOC})"))
        return out
    kubernetes = name not in GRANTED
    if found.scheme in CLUSTER_CREDENTIALS and kubernetes:
        out.append(warning(name, path, f"{path} is {SCHEMES[found.scheme]}: the init container downloads it with the "
                                       "pod's credentials, which are the cluster's business (e.g. "
                                       f"{CLUSTER_CREDENTIALS[found.scheme]} on the workload's service account); "
                                       "without them only a public one can be read"))
    elif found.scheme in CLUSTER_CREDENTIALS and GRANTED[name] != found.scheme:
        out.append(warning(name, path, f"{path} is {SCHEMES[found.scheme]}, which {name} replicas read without "
                                       "credentials (infc can grant them only their own cloud's storage): only a "
                                       "public one can be read; a copy in this cloud's storage, set as "
                                       f"targets.{name}.model_uri, is also nearer to the replicas"))
    return out


def download_env(target: ir.Target) -> list[str]:
    """The secrets the download sees: HF_TOKEN for an hf:// URI, nothing else."""
    found = source(target.model_uri)
    if found is None or found.scheme != "hf":
        return []
    return [s.name for s in target.secrets if s.name == HF_TOKEN]

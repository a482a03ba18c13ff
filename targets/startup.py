"""Startup of VM replicas: one boot script (secrets, model download, the server's `docker run`) and the cloud-init
document that runs it."""

from __future__ import annotations

import functools
import shlex

import jinja2
import yaml

from compiler import ir
from compiler.errors import Diagnostic
from compiler.ir import MODEL_DIR
from targets import delivery
from targets.base import error, private_registry

# Where a VM replica keeps the model's files; the server mounts them read-only at MODEL_DIR. Not under /mnt, which
# is the temporary (resource) disk on Azure VMs, wiped when a VM is redeployed.
HOST_MODEL_DIR = "/var/lib/infc/models"
ENV_FILE, SECRETS_FILE, DOWNLOAD_ENV_FILE = "/etc/infc/model.env", "/etc/infc/secrets.env", "/etc/infc/download.env"
IDENTITY_FILE = "/etc/infc/identity"
# Stands in for the managed identity's client id (36 characters, like the id) where only the size matters.
SAMPLE_CLIENT_ID = "00000000-0000-0000-0000-000000000000"


class ShellVar(str):
    """An argv element that is a shell variable's value (the client id read at boot), written "${name}" after an
    optional literal prefix; every other element is quoted as literal text."""

    def __new__(cls, prefix: str, name: str):
        word = super().__new__(cls, f"{prefix}${{{name}}}")
        word.prefix, word.name = prefix, name
        return word


CLIENT_ID = ShellVar("", "client_id")


def shell_words(argv: list[str]) -> str:
    return " ".join(f'{shlex.quote(a.prefix) if a.prefix else ""}"${{{a.name}}}"' if isinstance(a, ShellVar)
                    else shlex.quote(a) for a in argv)


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("targets", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["yaml"] = yaml_flow
    return env


def yaml_flow(value: str | list[str]) -> str:
    """`value` as one YAML flow node that PyYAML, which cloud-init reads user data with, reads back as exactly
    `value`: double-quoted, with escapes YAML defines (JSON's \\ud83d\\ude00 for an emoji would read back as two
    lone surrogates; a raw U+2028 would end a line)."""
    return yaml.dump(value, Dumper=_DUMPER, default_flow_style=True, default_style='"', allow_unicode=True,
                     width=2**31 - 1).rstrip("\n")


# libyaml's emitter (PyYAML's wheels carry it) writes the same bytes as PyYAML's pure-Python one, 30x faster on a
# boot script (tests/test_hostile.py compares the two on any text).
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def env_file(service: ir.Service, target: ir.Target) -> str:
    """Docker --env-file text: values are taken literally by docker, so no quoting is needed or wanted."""
    env = [("MODEL_NAME", service.model_name)]
    if target.model_uri:
        env += [("MODEL_URI", target.model_uri), ("MODEL_DIR", MODEL_DIR)]
    env += list(service.env)
    return "".join(f"{key}={value}\n" for key, value in env)


def acr_pull(target: ir.Target) -> bool:
    """Whether Azure replicas pull from an Azure Container Registry with their identity (AcrPull): the one infc
    creates (targets.azure.registry) or targets.azure.container_registry_id."""
    return target.name == "azure" and bool(target.get("registry") or target.get("container_registry_id"))


def uses_identity(target: ir.Target) -> bool:
    """Whether the boot script signs in as a managed identity it must be told about (Azure: Key Vault secrets, the
    model in Azure Blob, or images in a registry it has AcrPull on), given as /etc/infc/identity."""
    found = delivery.source(target.model_uri)
    return target.name == "azure" and (bool(target.secrets) or (found is not None and found.scheme == "blob")
                                       or acr_pull(target))


def registry_login(service: ir.Service, target: ir.Target) -> dict[str, str] | None:
    """How the boot script signs docker in to model.image's registry as the replica itself, for the registries infc
    grants pull on: Amazon ECR on aws, Artifact Registry and gcr.io on gcp, an Azure Container Registry on azure with
    AcrPull (acr_pull). The template's `kind` and shell-quoted words; None for any other image."""
    found = private_registry(service.image)
    if found is None or found.cloud != target.name or (target.name == "azure" and not acr_pull(target)):
        return None
    host = found.host
    words = {"kind": found.cloud, "host": shlex.quote(host), "image": shlex.quote(service.image)}
    if found.cloud == "aws":  # <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]
        words["token"] = shell_words(["docker", "run", "--rm", delivery.AWS_CLI, "ecr", "get-login-password",
                                      "--region", host.split(".")[3]])
    if found.cloud == "azure":
        words["service"] = shlex.quote(f"service={host}")
        words["exchange"] = shlex.quote(f"https://{host}/oauth2/exchange")
    return words


def docker_run(service: ir.Service, target: ir.Target) -> list[str]:
    """The server's command line as an argv list: model.command replaces the entrypoint (its first word) and the image's
    arguments (the rest), model.args follow, each one argv element."""
    argv = ["docker", "run", "--detach", "--name", "model", "--restart", "unless-stopped", "--env-file", ENV_FILE]
    if target.secrets:
        argv += ["--env-file", SECRETS_FILE]
    if service.accelerator_count:
        # All GPUs of the instance; host IPC because NCCL/PyTorch need more shared memory than docker's 64 MB.
        argv += ["--gpus", "all", "--ipc", "host"]
    for port in service.ports:
        argv += ["--publish", f"{port}:{port}"]
    if target.model_uri:
        argv += ["--volume", f"{HOST_MODEL_DIR}:{MODEL_DIR}:ro"]
    command = list(service.command or ())
    if command:
        argv += ["--entrypoint", command[0]]
    return argv + [service.image, *command[1:], *service.args]


def download(target: ir.Target) -> list[str] | None:
    """The model download's command line: KServe's storage initializer, signed in as the replica (instance role,
    service account, managed identity); anonymous for another cloud's store, whose public buckets it can read."""
    found = delivery.source(target.model_uri)
    if found is None:
        return None
    argv = ["docker", "run", "--rm", "--volume", f"{HOST_MODEL_DIR}:{MODEL_DIR}"]
    if delivery.download_env(target):
        argv += ["--env-file", DOWNLOAD_ENV_FILE]
    if found.scheme == "blob" and target.name == "azure":
        # azure-identity's DefaultAzureCredential takes AZURE_CLIENT_ID as the managed identity to use, and KServe
        # asks it for a token only when that variable is set (_get_azure_storage_token).
        argv += ["--env", ShellVar("AZURE_CLIENT_ID=", CLIENT_ID.name)]
    if found.scheme == "s3" and target.name != "aws":
        # Without credentials boto3 refuses to sign; KServe's awsAnonymousCredential makes it read a public bucket.
        argv += ["--env", "awsAnonymousCredential=true"]
    return argv + [delivery.STORAGE_INITIALIZER, found.initializer_uri, MODEL_DIR]


def boot_script(service: ir.Service, target: ir.Target) -> str:
    """The bash script every VM replica runs as root: cloud-init runs it on AWS and Azure, Compute Engine's
    startup-script is this script."""
    to_download = set(delivery.download_env(target))
    secrets = []
    for secret in target.secrets:
        files = [SECRETS_FILE + ".new"] + ([DOWNLOAD_ENV_FILE] if secret.name in to_download else [])
        command = ["docker", "run", "--rm", *delivery.secret_command(target.name, secret, CLIENT_ID)]
        secrets.append((secret.name, shell_words(files), shell_words(command)))
    fetch = download(target)
    return _templates().get_template("boot.sh.j2").render(
        service=service, env_file=shlex.quote(env_file(service, target)), gpu=bool(service.accelerator_count),
        identity=uses_identity(target), secrets=secrets, download_env=bool(to_download),
        download=shell_words(fetch) if fetch else "", host_dir=HOST_MODEL_DIR, uid=delivery.INITIALIZER_UID,
        login=registry_login(service, target),
        docker_run=shell_words(docker_run(service, target)))


def cloud_init_parts(service: ir.Service, target: ir.Target) -> list[str]:
    """The cloud-init user data that writes the boot script to /etc/infc/boot.sh and runs it: one text, or, when the
    replicas sign in as a managed identity, the text before and after its client id (written to /etc/infc/identity),
    which only the cloud knows: the backend joins them with a reference to it."""
    text = _templates().get_template("cloud-init.yaml.j2").render(service=service,
                                                                   script=boot_script(service, target))
    if not uses_identity(target):
        return [text]
    # The header line "write_files:" is infc's own text and comes first; the identity file goes right after it.
    head, marker, rest = text.partition("write_files:\n")
    return [f'{head}{marker}  - path: {IDENTITY_FILE}\n    permissions: "0600"\n    content: "', f'"\n{rest}']


def cloud_init(service: ir.Service, target: ir.Target) -> str:
    """The cloud-init user data as the replicas get it (with a stand-in client id): what its size is checked on."""
    return SAMPLE_CLIENT_ID.join(cloud_init_parts(service, target))


def startup_script(service: ir.Service, target: ir.Target) -> str:
    """Compute Engine's `startup-script` metadata value: the guest agent runs it as root on every boot of every image
    family (cloud-init `user-data` is read only by some of them)."""
    return boot_script(service, target)


def check_size(target: str, service: ir.Service, what: str, text: str, limit: int, doc: str) -> list[Diagnostic]:
    """The start-up data as it would be emitted (`text`), measured in UTF-8 bytes against the cloud's `limit`: an
    error naming both, at the spec fields that make it large."""
    size = len(text.encode())
    if size <= limit:
        return []
    where = "model.env" if service.env else "model.args" if service.args else "model"
    return [error(target, where, f"the replicas' {what} would be {size} bytes; {target} takes at most {limit} bytes "
                                 f"(see {doc}): shorten model.env, model.args, model.name or model.uri, or build them "
                                 "into the image")]

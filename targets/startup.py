"""Startup configuration for VM replicas: the docker command and the cloud-init document that runs it."""

from __future__ import annotations

import functools
import re
import shlex

import jinja2
import yaml

from compiler import ir
from compiler.errors import Diagnostic
from targets.base import error


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
    return yaml.safe_dump(value, default_flow_style=True, default_style='"', allow_unicode=True,
                          width=2**31 - 1).rstrip("\n")


def env_file(service: ir.Service) -> str:
    """Docker --env-file text: values are taken literally by docker, so no quoting is needed or wanted."""
    env = [("MODEL_NAME", service.model_name)]
    if service.model_uri:
        env.append(("MODEL_URI", service.model_uri))
    env += list(service.env)
    return "".join(f"{key}={value}\n" for key, value in env)


def docker_run(service: ir.Service) -> list[str]:
    """The container's command line as an argv list (cloud-init runs lists without a shell)."""
    argv = ["docker", "run", "--detach", "--name", "model", "--restart", "unless-stopped",
            "--env-file", "/etc/infc/model.env"]
    if service.accelerator_count:
        # All GPUs of the instance; host IPC because NCCL/PyTorch need more shared memory than docker's 64 MB.
        argv += ["--gpus", "all", "--ipc", "host"]
    for port in service.ports:
        argv += ["--publish", f"{port}:{port}"]
    return argv + [service.image, *service.args]


def cloud_init(service: ir.Service) -> str:
    return _templates().get_template("cloud-init.yaml.j2").render(
        service=service, env_file=env_file(service), docker_run=docker_run(service))


def startup_script(service: ir.Service) -> str:
    """A bash script for Compute Engine's `startup-script` metadata key: the guest agent runs it as root on
    every boot of every image family (cloud-init `user-data` is read only by some of them)."""
    return _templates().get_template("startup-script.sh.j2").render(
        service=service, env_file=shlex.quote(env_file(service)),
        docker_run=" ".join(shlex.quote(arg) for arg in docker_run(service)))


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

"""Startup configuration for VM replicas: the docker command and the cloud-init document that runs it."""

from __future__ import annotations

import functools
import shlex

import jinja2

from compiler import ir


@functools.cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("targets", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


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

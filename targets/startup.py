"""Startup configuration for VM replicas: the docker command and the cloud-init document that runs it."""

from __future__ import annotations

import functools
import re
import shlex

import jinja2
from jinja2.utils import htmlsafe_json_dumps

from compiler import ir


# A JSON surrogate pair (a character outside the Basic Multilingual Plane, such as an emoji), not itself preceded by
# an escaping backslash.
_PAIR = re.compile(r"(?<!\\)((?:\\\\)*)\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})")


def yaml_json(value) -> str:
    """`value` as JSON that YAML reads back as written: a JSON string is a YAML double-quoted scalar, except that
    YAML decodes each \\u escape alone, so a surrogate pair would come back as two lone surrogates, which cloud-init
    (PyYAML) cannot write to a file or pass to a command; those characters get YAML's \\UXXXXXXXX escape instead
    (https://yaml.org/spec/1.2.2/#57-escaped-characters)."""
    def astral(match: re.Match) -> str:
        high, low = int(match[2], 16), int(match[3], 16)
        return f"{match[1]}\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"

    return _PAIR.sub(astral, str(htmlsafe_json_dumps(value)))


@functools.cache
def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("targets", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.filters["yaml_json"] = yaml_json
    return environment


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

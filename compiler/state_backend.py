"""Where each stack's Terraform state lives: the `backend` block from targets.<t>.backend, defaults filled in."""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT = ("local", {"path": "terraform.tfstate"})  # beside cdk.tf.json; infc never touches it (compiler/output.py)


def resolve(stack: str, target: str, settings: Mapping[str, object]) -> tuple[str, dict]:
    """(backend type, its Terraform arguments) for `stack` of `target` with the target's settings. Keys name the stack
    so that stacks never share a state; credentials are never here (terraform init reads them from the environment)."""
    backend = dict(settings.get("backend") or {})  # type: ignore[arg-type]
    kind = str(backend.pop("type", DEFAULT[0]))
    if kind == "local":
        return kind, {"path": backend.get("path", DEFAULT[1]["path"])}
    if kind == "s3":
        locked_by_table = bool(backend.get("dynamodb_table"))
        backend.setdefault("key", f"infc/{stack}/terraform.tfstate")
        if not backend.get("region") and target == "aws":
            backend["region"] = settings.get("region")
        if backend.get("use_lockfile") is None:
            backend["use_lockfile"] = not locked_by_table
        return kind, {**backend, "encrypt": True}
    if kind == "gcs":
        backend.setdefault("prefix", f"infc/{stack}")
        return kind, backend
    if kind == "azurerm":
        backend.setdefault("key", f"infc/{stack}.tfstate")
        return kind, backend
    raise ValueError(f"unknown backend type {kind!r}")  # the spec's tagged union admits no other


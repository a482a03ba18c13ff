"""What every Azure backend starts with: the azurerm provider, the resource group the stack deploys into, and the
names of resources that must be unique across Azure."""

from __future__ import annotations

from compiler import ir, values
from compiler.errors import Diagnostic
from targets.base import label_errors, resource_name

# Every azurerm argument infc emits is checked against hashicorp/azurerm 5.10.0 (compiler/provider_schemas/): the
# range starts there and spans its major version.
PROVIDER = ("hashicorp/azurerm", ">= 5.10.0, < 6.0.0")


def start(stack, service: ir.Service, target: ir.Target, features: dict | None = None
          ) -> tuple[object, str, dict | None]:
    """The azurerm provider with `features` (the provider's features block) and the resource group:
    `target.resource_group`, else `<name>-rg` created here. Returns (resource group name, location, tags)."""
    # `features {}` is required in the azurerm provider block, even empty.
    stack.provider("azurerm", *PROVIDER, features=[features or {}])
    location = str(target.get("location"))
    tags = dict(service.labels) or None
    group = target.get("resource_group")
    if not group:
        group = stack.add("azurerm_resource_group", "resource_group",
                          name=resource_name(service, "rg"), location=location, tags=tags).name
    return group, location, tags


def check_tags(target: str, service: ir.Service, max_key: int = 512) -> list[Diagnostic]:
    """metadata.labels as the tags of every resource the stack creates; `max_key` is 128 where a storage account
    takes them (values.AZURE_TAGS_DOC)."""
    return label_errors(target, values.azure_tag_problems(list(service.labels), max_key))


def global_name(stack, service: ir.Service, target: ir.Target, client):
    """Storage account and key vault names are unique across Azure: the service name without dashes (at most 16
    characters) and 8 hex digits of a hash of subscription, resource group and service, fixed at plan time."""
    group = target.get("resource_group") or resource_name(service, "rg")
    digest = stack.expr('substr(sha1(join("/", [{}, {}, {}])), 0, 8)', client.subscription_id, str(group),
                        service.name)
    return stack.fmt("{}{}", service.name.replace("-", "")[:16], digest)

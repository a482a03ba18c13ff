"""Checkov findings infc accepts on its examples, each with its reason: the one table behind the checkov
baseline (docs/checkov-baseline.json) and the list in docs/security.md. Regenerate both with
`python -m tests.checkov_findings`; tests/test_security.py fails when a finding is missing here or a row is stale."""

from __future__ import annotations

import json
import pathlib
import sys
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parent.parent
BASELINE = ROOT / "docs" / "checkov-baseline.json"
SECURITY_DOC = ROOT / "docs" / "security.md"
BEGIN, END = "<!-- findings:begin -->", "<!-- findings:end -->"


@dataclass(frozen=True)
class Finding:
    target: str
    check: str      # checkov check id, e.g. CKV_AWS_150
    resource: str   # as checkov names it: "aws_lb.load_balancer", or "resource.load_balancer" for some checks
    reason: str     # why it still fails on an example
    option: str = ""  # the spec setting that makes it pass, if any


# Grouped by target; within a target, by check id.
ACCEPTED: tuple[Finding, ...] = (
    # aws
    Finding("aws", "CKV2_AWS_20", "aws_lb.load_balancer",
            "the example serves plain http only: redirecting http to https needs an https listener, and that needs "
            "an ACM certificate", "targets.aws.certificate"),
    Finding("aws", "CKV2_AWS_28", "aws_lb.load_balancer",
            "the example's internet-facing load balancer has no WAF web ACL: a web ACL is billed per ACL, rule and "
            "request, and its rules are the user's choice (internal load balancers pass)", "targets.aws.waf_acl_arn"),
    Finding("aws", "CKV_AWS_103", "aws_lb_listener.listener_80",
            "the example's listener on 80 is plain http, which has no TLS policy: https listeners get "
            "ELBSecurityPolicy-TLS13-1-2-2021-06, but need an ACM certificate", "targets.aws.certificate"),
    Finding("aws", "CKV_AWS_150", "resource.load_balancer",
            "deletion protection is off by default: with it on, `terraform destroy` fails until it is turned off "
            "again", "targets.aws.deletion_protection"),
    Finding("aws", "CKV_AWS_2", "resource.listener_80",
            "the example has only an http listener: HTTPS needs an ACM certificate", "targets.aws.certificate"),
    Finding("aws", "CKV_AWS_260", "resource.lb_ingress_80_0-0-0-0_0",
            "load_balancer.allowed_cidrs defaults to 0.0.0.0/0: a public endpoint takes clients from anywhere on its "
            "listener ports, here 80 (serving http, or redirecting to https)", "load_balancer.allowed_cidrs"),
    Finding("aws", "CKV_AWS_260", "resource.replica_ingress_80",
            "false positive: the rule admits only the load balancer's security group (referenced_security_group_id) "
            "to the replicas' model port 80; checkov's AbsSecurityGroupUnrestrictedIngress ignores that argument of "
            "aws_vpc_security_group_ingress_rule and reads a rule without a CIDR as open to all"),
    Finding("aws", "CKV_AWS_341", "resource.launch_template",
            "IMDSv2 is required, with hop limit 2: the model container runs on Docker's bridge network, one hop "
            "beyond the instance, and needs the instance role's credentials to read an s3:// model.uri"),
    Finding("aws", "CKV_AWS_378", "aws_lb_target_group.target_group",
            "TLS terminates at the load balancer; replicas serve plain HTTP inside the VPC, reachable only from the "
            "load balancer's security group (HTTPS to the targets would need a certificate on every replica)"),
    Finding("aws", "CKV_AWS_91", "resource.load_balancer",
            "access logs need an S3 bucket whose policy lets Elastic Load Balancing write to it; the examples name "
            "none", "targets.aws.access_logs_bucket"),
    # azure
    Finding("azure", "CKV_AZURE_120", "azurerm_application_gateway.gateway",
            "A WAF_v2 gateway costs more than Standard_v2, and its managed rules can block legitimate prompts (code, "
            "SQL or markup in request bodies): the user chooses detection or prevention",
            "targets.azure.waf"),
    Finding("azure", "CKV_AZURE_217", "resource.gateway",
            "The llama example's http listener on 80 serves nothing: it only redirects permanently to the https "
            "listener on 443, as load_balancer.listeners asks; remove the 80 listener to pass"),
    Finding("azure", "CKV_AZURE_97", "resource.scale_set",
            "Encryption at host needs the EncryptionAtHost feature registered on the subscription and a VM size "
            "that supports it, so it cannot be on by default; OS disks are encrypted at rest with platform keys "
            "either way",
            "targets.azure.encryption_at_host"),
    # azureml
    Finding("azureml", "CKV2_AZURE_1", "azurerm_storage_account.storage_account",
            "A customer-managed key needs a key in a purge-protected vault, an identity and access to it; the "
            "workspace storage holds no model data (the image does), and platform-managed keys encrypt it at rest"),
    Finding("azureml", "CKV2_AZURE_32", "azurerm_key_vault.key_vault",
            "A private endpoint is billed hourly and needs a virtual network and private DNS zone the workspace "
            "would be reached through; infc emits a public workspace (no network isolation)"),
    Finding("azureml", "CKV2_AZURE_33", "azurerm_storage_account.storage_account",
            "A private endpoint is billed hourly and needs a virtual network and private DNS zone the workspace "
            "would be reached through; infc emits a public workspace (no network isolation)"),
    Finding("azureml", "CKV2_AZURE_40", "azurerm_storage_account.storage_account",
            "The workspace reaches its default storage with the account key; identity-based access to a "
            "workspace's system datastores with shared keys off is a preview Microsoft does not recommend for "
            "production"),
    Finding("azureml", "CKV_AZURE_109", "resource.key_vault",
            "A deny-by-default vault firewall without private endpoints cuts off the workspace's own clients "
            "(studio, CLI, deployments) that read its secrets over the public endpoint; access policies still "
            "limit who can read them"),
    Finding("azureml", "CKV_AZURE_110", "resource.key_vault",
            "Purge protection can never be turned off and keeps a destroyed vault's name taken for 90 days, so "
            "it is the user's choice",
            "targets.azureml.purge_protection"),
    Finding("azureml", "CKV_AZURE_144", "resource.workspace",
            "A workspace without public network access is reachable only through a private endpoint (billed, "
            "needs a virtual network), which infc does not emit; the online endpoint has its own key auth"),
    Finding("azureml", "CKV_AZURE_189", "resource.key_vault",
            "A vault without public network access needs private endpoints for the workspace's clients (billed, "
            "needs a virtual network), which infc does not emit; access policies limit who can read secrets"),
    Finding("azureml", "CKV_AZURE_206", "resource.storage_account",
            "Geo-redundant storage roughly doubles the account's cost, and the workspace storage holds nothing "
            "the stack cannot re-create (logs, snapshots); the model comes from the image"),
    Finding("azureml", "CKV_AZURE_33", "resource.storage_account",
            "Storage Analytics queue logging writes billed logs into the account itself, for queues the serving "
            "workspace does not use; azurerm manages it through the data plane (queue_properties)"),
    Finding("azureml", "CKV_AZURE_42", "resource.key_vault",
            "Checkov counts a vault as recoverable only with purge protection, which can never be turned off "
            "(soft delete is always on: a deleted vault is recoverable until purged)",
            "targets.azureml.purge_protection"),
    Finding("azureml", "CKV_AZURE_43", "resource.storage_account",
            "The name is the service name without dashes and 8 hex digits of a hash computed at plan time, always "
            "3-24 lowercase letters and digits; checkov cannot evaluate the expression and fails it"),
    Finding("azureml", "CKV_AZURE_59", "resource.storage_account",
            "The workspace, studio and the managed online deployment reach the default storage over its public "
            "endpoint; closing it needs private endpoints (billed, need a virtual network), which infc does not emit"),
    # gcp
    # gke
    Finding("gke", "CKV_GCP_20", "resource.cluster",
            "the control plane endpoint takes connections from any address (every request still needs Google "
            "credentials): which networks may reach it is the user's choice, and they must include where terraform "
            "runs", "targets.gke.master_authorized_cidrs"),
    Finding("gke", "CKV_GCP_25", "resource.cluster",
            "nodes have external IPs for outbound traffic (image pulls, model downloads); private nodes need a Cloud "
            "NAT, billed per gateway hour and per GB", "targets.gke.private_nodes"),
    Finding("gke", "CKV_GCP_64", "resource.cluster",
            "nodes have external IPs for outbound traffic (image pulls, model downloads); private nodes need a Cloud "
            "NAT, billed per gateway hour and per GB", "targets.gke.private_nodes"),
    Finding("gke", "CKV_GCP_65", "resource.cluster",
            "Google Groups for RBAC needs the gke-security-groups group of the user's Google Workspace or Cloud "
            "Identity domain", "targets.gke.security_group"),
    Finding("gke", "CKV_GCP_66", "resource.cluster",
            "Binary Authorization needs its API enabled in the project and a project policy that admits model.image; "
            "enforcing it without them would block the workload", "targets.gke.binary_authorization"),
    Finding("gke", "CKV_K8S_22", "resource.deployment",
            "The workload's root filesystem stays writable: serving images write model caches in image-specific "
            "places (vLLM ~/.cache, TGI and TEI /data); naming them makes it read-only with an emptyDir each",
            "targets.gke.writable_dirs"),
    Finding("gke", "CKV_K8S_43", "resource.deployment",
            "The examples' images are pinned by tag; a digest is the user's choice, and model.image as "
            "name@sha256:... is emitted as given (pulled only if not present)", "model.image"),
    # kubernetes
    Finding("kubernetes", "CKV_K8S_22", "resource.deployment",
            "The root filesystem stays writable by default: serving images write model caches in image-specific "
            "places (vLLM ~/.cache, TGI and TEI /data); naming them makes it read-only with an emptyDir each",
            "targets.kubernetes.writable_dirs"),
    Finding("kubernetes", "CKV_K8S_43", "resource.deployment",
            "The examples' images are pinned by tag; a digest is the user's choice, and model.image as "
            "name@sha256:... is emitted as given (pulled only if not present)", "model.image"),
)


def baseline() -> dict:
    """A checkov baseline (`checkov --baseline FILE`) suppressing exactly the accepted findings of any stack."""
    checks: dict[str, set[str]] = {}
    for f in ACCEPTED:
        checks.setdefault(f.resource, set()).add(f.check)
    findings = [{"resource": r, "check_ids": sorted(c)} for r, c in sorted(checks.items())]
    return {"failed_checks": [{"file": "/cdk.tf.json", "findings": findings}]}


def table() -> str:
    """The Markdown table of accepted findings for docs/security.md."""
    rows = ["| target | check | resource | why it fails on the examples | spec setting that fixes it |",
            "|---|---|---|---|---|"]
    for f in ACCEPTED:
        option = f"`{f.option}`" if f.option else "—"
        rows.append(f"| {f.target} | {f.check} | `{f.resource}` | {f.reason} | {option} |")
    return "\n".join(rows)


def update(doc: str) -> str:
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def render_baseline() -> str:
    return json.dumps(baseline(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    BASELINE.write_text(render_baseline(), encoding="utf-8")
    SECURITY_DOC.write_text(update(SECURITY_DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {BASELINE.relative_to(ROOT)} and the findings table of {SECURITY_DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

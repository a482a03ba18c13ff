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
    Finding("aws", "CKV_AWS_341", "resource.launch_template_nvidia_l4_x4",
            "as launch_template: the launch template of a capacity fallback's alternative with its own args "
            "(examples/l4-fallback.yaml), with the same metadata options"),
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
    # aks
    Finding("aks", "CKV2_AZURE_1", "azurerm_storage_account.storage_account",
            "the Azure ML workspace of azureml_compute, as the azureml target makes it: a customer-managed key needs "
            "a key in a purge-protected vault, an identity and access to it; the workspace storage holds no model "
            "data (the image does), and platform-managed keys encrypt it at rest"),
    Finding("aks", "CKV2_AZURE_32", "azurerm_key_vault.key_vault",
            "the Azure ML workspace of azureml_compute, as the azureml target makes it: a private endpoint is billed "
            "hourly and needs a virtual network and private DNS zone the workspace would be reached through; infc "
            "emits a public workspace (no network isolation)"),
    Finding("aks", "CKV2_AZURE_33", "azurerm_storage_account.storage_account",
            "the Azure ML workspace of azureml_compute, as the azureml target makes it: a private endpoint is billed "
            "hourly and needs a virtual network and private DNS zone the workspace would be reached through; infc "
            "emits a public workspace (no network isolation)"),
    Finding("aks", "CKV2_AZURE_40", "azurerm_storage_account.storage_account",
            "the Azure ML workspace of azureml_compute, as the azureml target makes it: the workspace reaches its "
            "default storage with the account key; identity-based access to a workspace's system datastores with "
            "shared keys off is a preview Microsoft does not recommend for production"),
    Finding("aks", "CKV_AZURE_109", "resource.key_vault",
            "the Azure ML workspace of azureml_compute, as the azureml target makes it: a deny-by-default vault "
            "firewall without private endpoints cuts off the workspace's own clients (studio, CLI, deployments) that "
            "read its secrets over the public endpoint; access policies still limit who can read them"),
    Finding("aks", "CKV_AZURE_110", "resource.key_vault",
            "the Azure ML workspace of azureml_compute, as the azureml target makes it: purge protection can never be"
            " turned off and keeps a destroyed vault's name taken for 90 days, so it is the user's choice"),
    Finding("aks", "CKV_AZURE_115", "resource.cluster",
            "a private cluster's API server is reachable only from its virtual network, and terraform creates the "
            "workload through it: the stack would need a runner inside the network; the API server takes Entra ID or "
            "cluster credentials, and its authorized ranges are a setting", "targets.aks.api_authorized_cidrs"),
    Finding("aks", "CKV_AZURE_116", "resource.cluster",
            "the Azure Policy add-on enforces policies the user assigns; with none assigned it only adds pods to the "
            "system pool"),
    Finding("aks", "CKV_AZURE_117", "resource.cluster",
            "a disk encryption set needs a customer-managed key in a purge-protected Key Vault; OS disks are "
            "encrypted at rest with platform keys either way"),
    Finding("aks", "CKV_AZURE_139", "resource.registry",
            "the registry is Basic, the cheapest tier; disabling public network access needs Premium and a private "
            "endpoint in the nodes' network; pulls authenticate with the kubelet's Entra ID identity (AcrPull), and "
            "the admin user is off"),
    Finding("aks", "CKV_AZURE_141", "resource.cluster",
            "the kubernetes provider authenticates with the cluster's admin credentials (kube_config); disabling "
            "local accounts needs Microsoft Entra ID integration and kubelogin on the machine that runs terraform"),
    Finding("aks", "CKV_AZURE_144", "resource.workspace",
            "the Azure ML workspace of azureml_compute, as the azureml target makes it: a workspace without public "
            "network access is reachable only through a private endpoint (billed, needs a virtual network), which "
            "infc does not emit"),
    Finding("aks", "CKV_AZURE_163", "resource.registry",
            "vulnerability scanning of registry images is Microsoft Defender for Containers, billed per subscription;"
            " the user's choice"),
    Finding("aks", "CKV_AZURE_164", "resource.registry",
            "the registry is Basic, the cheapest tier; content trust needs Premium, and Microsoft is retiring it in "
            "favour of Notation signing"),
    Finding("aks", "CKV_AZURE_165", "resource.registry",
            "the registry is Basic, the cheapest tier; geo-replication needs Premium and is billed per replica "
            "region; the cluster runs in one region"),
    Finding("aks", "CKV_AZURE_166", "resource.registry",
            "quarantine holds pushed images until a scanner marks them verified; without one (Defender or the user's "
            "own) every pull would fail"),
    Finding("aks", "CKV_AZURE_167", "resource.registry",
            "the registry is Basic, the cheapest tier; a retention policy for untagged manifests needs Premium; tags "
            "are what the spec names"),
    Finding("aks", "CKV_AZURE_170", "resource.cluster",
            "the Standard tier's uptime SLA is billed per cluster hour; the Free tier runs the same control plane "
            "without the financially backed SLA"),
    Finding("aks", "CKV_AZURE_172", "resource.cluster",
            "the Secrets Store CSI driver runs only for https (the certificate from Key Vault), with rotation on; the "
            "http example has no driver whose rotation could be on", "targets.aks.certificate"),
    Finding("aks", "CKV_AZURE_189", "resource.key_vault",
            "the Azure ML workspace of azureml_compute, as the azureml target makes it: a vault without public "
            "network access needs private endpoints for the workspace's clients (billed, needs a virtual network), "
            "which infc does not emit; access policies limit who can read secrets"),
    Finding("aks", "CKV_AZURE_206", "resource.storage_account",
            "the Azure ML workspace of azureml_compute, as the azureml target makes it: geo-redundant storage roughly"
            " doubles the account's cost, and the workspace storage holds nothing the stack cannot re-create (logs, "
            "snapshots); the model comes from the image"),
    Finding("aks", "CKV_AZURE_226", "resource.cluster",
            "ephemeral OS disks need a VM size whose cache or temp disk holds the OS disk (disk_gib), which the "
            "system pool's Standard_D4ds_v5 and many GPU sizes do not at the examples' sizes"),
    Finding("aks", "CKV_AZURE_227", "resource.cluster",
            "encryption at host needs the EncryptionAtHost feature registered on the subscription and a VM size "
            "that supports it; OS disks are encrypted at rest with platform keys either way"),
    Finding("aks", "CKV_AZURE_227", "resource.node_pool",
            "as for the cluster's system pool: encryption at host needs a subscription feature and a supporting size"),
    Finding("aks", "CKV_AZURE_233", "resource.registry",
            "the registry is Basic, the cheapest tier; zone redundancy needs Premium"),
    Finding("aks", "CKV_AZURE_237", "resource.registry",
            "the registry is Basic, the cheapest tier; dedicated data endpoints need Premium"),
    Finding("aks", "CKV_AZURE_33", "resource.storage_account",
            "the Azure ML workspace of azureml_compute, as the azureml target makes it: storage Analytics queue "
            "logging writes billed logs into the account itself, for queues the serving workspace does not use; "
            "azurerm manages it through the data plane (queue_properties)"),
    Finding("aks", "CKV_AZURE_4", "resource.cluster",
            "Container Insights needs a Log Analytics workspace, billed per GB ingested; the user's monitoring "
            "choice"),
    Finding("aks", "CKV_AZURE_42", "resource.key_vault",
            "the Azure ML workspace of azureml_compute, as the azureml target makes it: checkov counts a vault as "
            "recoverable only with purge protection, which can never be turned off (soft delete is always on: a "
            "deleted vault is recoverable until purged)"),
    Finding("aks", "CKV_AZURE_43", "resource.storage_account",
            "the Azure ML workspace of azureml_compute, as the azureml target makes it: the name is the service name "
            "without dashes and 8 hex digits of a hash computed at plan time, always 3-24 lowercase letters and "
            "digits; checkov cannot evaluate the expression and fails it"),
    Finding("aks", "CKV_AZURE_59", "resource.storage_account",
            "the Azure ML workspace of azureml_compute, as the azureml target makes it: the workspace, studio and the"
            " managed online deployment reach the default storage over its public endpoint; closing it needs private "
            "endpoints (billed, need a virtual network), which infc does not emit"),
    Finding("aks", "CKV_AZURE_6", "resource.cluster",
            "the API server takes connections from any address (each request still needs credentials): which "
            "networks may reach it is the user's choice, and they must include where terraform runs",
            "targets.aks.api_authorized_cidrs"),
    Finding("aks", "CKV_K8S_22", "resource.deployment",
            "The workload's root filesystem stays writable: serving images write model caches in image-specific "
            "places (vLLM ~/.cache, TGI and TEI /data); naming them makes it read-only with an emptyDir each",
            "targets.aks.writable_dirs"),
    Finding("aks", "CKV_K8S_43", "resource.deployment",
            "The examples' images are pinned by tag; a digest is the user's choice, and model.image as "
            "name@sha256:... is emitted as given (pulled only if not present)", "model.image"),
    # eks
    Finding("eks", "CKV_AWS_37", "resource.cluster",
            "control plane logs go to CloudWatch Logs, billed per GB ingested and stored; the user's monitoring "
            "choice"),
    Finding("eks", "CKV_AWS_38", "resource.cluster",
            "the public API endpoint takes connections from any address (each request still needs AWS credentials "
            "and an access entry): which networks may reach it is the user's choice, and they must include where "
            "terraform runs", "targets.eks.public_access_cidrs"),
    Finding("eks", "CKV_AWS_39", "resource.cluster",
            "terraform creates the workload through the API endpoint, so a private-only endpoint would need a runner "
            "inside the VPC; nodes use the private endpoint, which is on too"),
    Finding("eks", "CKV_AWS_394", "data.zones",
            "the lookup excludes the zones EKS does not support and opt-in zones, and only picks the VPC's default "
            "subnets: a new zone adds a subnet for the nodes, which is what a regional cluster wants"),
    Finding("eks", "CKV_AWS_58", "resource.cluster",
            "EKS envelope-encrypts all Kubernetes API data, Secrets included, with an AWS-owned KMS key on every "
            "cluster of Kubernetes 1.28 and later; encryption_config names a customer-managed key, billed monthly"),
    Finding("eks", "CKV_K8S_22", "resource.deployment",
            "The workload's root filesystem stays writable: serving images write model caches in image-specific "
            "places (vLLM ~/.cache, TGI and TEI /data); naming them makes it read-only with an emptyDir each",
            "targets.eks.writable_dirs"),
    Finding("eks", "CKV_K8S_43", "resource.deployment",
            "The examples' images are pinned by tag; a digest is the user's choice, and model.image as "
            "name@sha256:... is emitted as given (pulled only if not present)", "model.image"),
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
    Finding("gke", "CKV_GCP_84", "resource.registry",
            "a customer-managed key needs a Cloud KMS key (billed monthly) and the Artifact Registry service agent's "
            "access to it; images are encrypted at rest with Google-managed keys either way"),
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

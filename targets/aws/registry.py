"""Amazon ECR for the aws and eks backends: the repository an image is in, the repository infc creates (`registry`),
and the least policy that pulls from them."""

from __future__ import annotations

import dataclasses
import re

from compiler import ir

# <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn] (https://docs.aws.amazon.com/AmazonECR/latest/userguide/
# Registries.html); the China regions' hosts end in .cn, GovCloud regions are us-gov-*.
_HOST = re.compile(r"(?P<account>[0-9]{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?P<cn>\.cn)?")
# Pulling an image: a registry token (an action on no resource, "*"), then the manifest and layers of the repository
# (https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-pull.html, the actions of the AWS managed policy
# AmazonEC2ContainerRegistryPullOnly, .../security-iam-awsmanpol.html).
TOKEN_ACTION = "ecr:GetAuthorizationToken"
PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


@dataclasses.dataclass(frozen=True)
class EcrImage:
    """An image in Amazon ECR: registry host, account, region, partition and repository name."""

    host: str
    account: str
    region: str
    partition: str
    repository: str

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:ecr:{self.region}:{self.account}:repository/{self.repository}"


def partition(region: str) -> str:
    """The AWS partition of a region (https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/
    partitions.html)."""
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def ecr_image(image: str) -> EcrImage | None:
    """The ECR repository of `image` (a valid image reference: the repository is its path without tag and digest),
    else None."""
    host, _, path = image.partition("/")
    found = _HOST.fullmatch(host)
    if found is None or not path:
        return None
    path = path.partition("@")[0]
    head, _, last = path.rpartition("/")
    repository = f"{head}/{last.partition(':')[0]}" if head else last.partition(":")[0]
    region = found["region"]
    return EcrImage(host, found["account"], region, "aws-cn" if found["cn"] else partition(region), repository)


def pull_policy(images: list[str], own=None) -> dict | None:
    """An IAM policy that may pull from the repositories `images` (model.image, or each variant's) are in and from
    `own` (infc's repository, a resource), nothing else; None when there is none."""
    repositories = [own.arn] if own is not None else []
    for image in images:
        found = ecr_image(image)
        if found is not None and found.arn not in repositories:
            repositories.append(found.arn)
    if not repositories:
        return None
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": TOKEN_ACTION, "Resource": "*"},
        {"Effect": "Allow", "Action": PULL_ACTIONS, "Resource": repositories}]}


def repository(stack, service: ir.Service):
    """An ECR repository named after the service, whose URL is the output `registry_url`."""
    created = stack.add(
        "aws_ecr_repository", "registry", name=service.name,
        # Tags name one image for good (a new build is a new tag in the spec); every push is scanned for CVEs (basic
        # scanning, no charge). Destroying the stack deletes the repository with its images.
        image_tag_mutability="IMMUTABLE", image_scanning_configuration={"scan_on_push": True},
        # Images at rest under the account's AWS managed key aws/ecr (no key of its own to pay for or lose)
        # (https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html).
        encryption_configuration={"encryption_type": "KMS"},
        force_delete=True, tags=dict(service.labels) or None)
    stack.output("registry_url", created.repository_url, "URL of the ECR repository for the service's images")
    return created

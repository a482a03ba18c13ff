"""Artifact Registry for the gcp and gke backends: the repository an image is in (gcr.io hosts included), the
repository infc creates (`registry`), and the reader role on them for the replicas' or nodes' service account."""

from __future__ import annotations

from collections.abc import Sequence

from compiler import ir

# Read-only access to a repository's images, granted on that repository only
# (https://cloud.google.com/artifact-registry/docs/access-control#roles).
REGISTRY_ROLE = "roles/artifactregistry.reader"

# gcr.io is served by Artifact Registry repositories named after the host, in these multi-regions
# (https://cloud.google.com/artifact-registry/docs/transition/gcr-repositories).
GCR_LOCATIONS = {"gcr.io": "us", "us.gcr.io": "us", "eu.gcr.io": "europe", "asia.gcr.io": "asia"}


def image_repository(image: str) -> tuple[str, str, str] | None:
    """(project, location, repository) of an image Artifact Registry serves, which the service account is granted
    read on: <location>-docker.pkg.dev/<project>/<repository>/... and <host>.gcr.io/<project>/..., else None (a public
    or other registry: nothing to grant)."""
    parts = image.split("/")
    if len(parts) >= 4 and parts[0].endswith("-docker.pkg.dev"):
        return parts[1], parts[0].removesuffix("-docker.pkg.dev"), parts[2]
    if len(parts) >= 3 and parts[0] in GCR_LOCATIONS:
        return parts[1], GCR_LOCATIONS[parts[0]], parts[0]
    return None


def pull_grants(stack, service: ir.Service, target: ir.Target, member, prefix: str,
                images: Sequence[tuple[str, str]] = ()) -> list:
    """The reader role for `member` on the repository of each image the replicas run and, with `registry`, on the
    repository infc creates (its URL the output `registry_url`). `images`: (construct id, image) pairs, one grant per
    repository under the id of its first image; default model.image as `<prefix>_image_pull` (replica, node)."""
    grants = []
    own = _repository(stack, service, target, member) if target.get("registry") else None
    granted = {(target.get("project"), target.get("region"), service.name)} if own else set()
    for construct_id, image in images or [(f"{prefix}_image_pull", service.image)]:
        found = image_repository(image)
        if found is None or found in granted:
            continue
        granted.add(found)
        project, location, repository = found
        grants.append(stack.add("google_artifact_registry_repository_iam_member", construct_id,
                                project=project, location=location, repository=repository,
                                role=REGISTRY_ROLE, member=member))
    return grants + ([own] if own else [])


def _repository(stack, service: ir.Service, target: ir.Target, member):
    """A Docker repository named after the service in the target's region, with immutable tags, which `member` may
    read (the role on this repository only); its URL is an output."""
    repository = stack.add(
        "google_artifact_registry_repository", "registry", repository_id=service.name, format="DOCKER",
        location=target.get("region"), project=target.get("project"),
        description=f"infc {service.name}: model images", docker_config={"immutable_tags": True},
        labels=dict(service.labels) or None)
    stack.output("registry_url", repository.registry_uri, "URL of the Artifact Registry repository for the images")
    return stack.add("google_artifact_registry_repository_iam_member", "registry_reader",
                     project=repository.project, location=repository.location, repository=repository.name,
                     role=REGISTRY_ROLE, member=member)

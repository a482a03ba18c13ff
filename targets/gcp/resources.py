"""Google Cloud target: the resources of the stack, a regional managed instance group of the model container per
version (the service, or each of its variants)."""

from __future__ import annotations

from compiler import ir
from targets import delivery, startup
from targets.base import Version, versions
from targets.gcp import lb, registry
from targets.gcp.limits import IMAGES, disk_type, gpu_kind

# Every argument emitted here is checked against hashicorp/google 8.7.0 (compiler/provider_schemas/), so the range
# starts there and spans its major version.
PROVIDER = ("hashicorp/google", ">= 8.7.0, < 9.0.0")

def emit(stack, service: ir.Service, target: ir.Target) -> None:
    """Every resource of the Google Cloud stack, in dependency order: per version (the service, or each variant) an
    instance template, a regional instance group, its autoscaler and a backend service; one load balancer in front."""
    stack.provider("google", *PROVIDER, project=target.get("project"), region=target.get("region"),
                   default_labels=dict(service.labels) or None)
    network = lb.network(stack, target)
    runs = versions(service, target)
    account, grants = _service_account(stack, service, target, runs)
    templates = [_instance_template(stack, run, network, account) for run in runs]
    health = lb.health_checks(stack, service, target)
    nat = lb.nat(stack, service, target, network) \
        if target.get("private_replicas") and target.get("cloud_nat") else None
    groups = []
    for run, template in zip(runs, templates):
        group = _instance_group(stack, run, template, health, [nat] if nat else [], *grants)
        if run.service.autoscale:
            _autoscaler(stack, run, group)
        groups.append((run, group))
    proxies = lb.proxy_subnet(stack, service, target, network)
    lb.firewall(stack, service, network, proxies)
    lb.load_balancer(stack, service, target, network, groups, health, proxies)


def _service_account(stack, service: ir.Service, target: ir.Target, runs: tuple[Version, ...]):
    """A service account without roles for the replicas of every version; it may read each version's gs:// bucket,
    the secrets and the Artifact Registry repository of each version's image (and infc's own, `registry`). Returns it
    and those grants, which the replicas need from their first boot."""
    account = stack.add("google_service_account", "replica_account",
                        account_id=f"infc-{service.name}",  # 6-30 characters for every 1-24 character name
                        display_name=f"infc {service.name}: model replicas")
    member, grants = stack.fmt("serviceAccount:{}", account.email), []
    # One binding per bucket: two resources holding the same binding would remove it for both when one goes.
    shared, buckets = _bucket(target), set()
    for run in runs:
        bucket = _bucket(run.target)
        if bucket is None or bucket in buckets:
            continue
        buckets.add(bucket)
        grants.append(stack.add("google_storage_bucket_iam_member", _grant_id(run, "model_read", bucket, shared),
                                bucket=bucket, role="roles/storage.objectViewer", member=member))
    # Secret Manager Secret Accessor on each secret, not the project
    # (https://cloud.google.com/secret-manager/docs/access-control#secretmanager.secretAccessor). Variants share them.
    seen = set()
    for secret in target.secrets:
        ref = delivery.gcp_secret(secret.ref)
        if (ref.project, ref.secret) in seen:  # two variables, one secret: one binding (a second would share it)
            continue
        seen.add((ref.project, ref.secret))
        grants.append(stack.add(
            "google_secret_manager_secret_iam_member", f"secret_read_{secret.name}", project=ref.project,
            secret_id=ref.secret, role="roles/secretmanager.secretAccessor", member=member))
    repository = registry.image_repository(service.image)
    images = [(_grant_id(run, "replica_image_pull", registry.image_repository(run.service.image), repository),
               run.service.image) for run in runs]
    return account, grants + registry.pull_grants(stack, service, target, member, "replica", images)


def _description(run: Version) -> str:
    """What a version's template and instance group hold, in their description."""
    return f"infc {run.service.name}: model replicas" + (f" of variant {run.variant}" if run.variant else "")


def _grant_id(run: Version, base: str, key: object, shared: object) -> str:
    """The construct id of a grant on `key` (a bucket, a repository) that `run` needs: `base` when the service's own
    sections name it too (`shared`), so a spec without variants keeps its ids and a variant that changes only its
    weight, replicas or hardware adds no grant; else `base_<variant>`."""
    return base if key == shared else run.id(base)


def _bucket(target: ir.Target) -> str | None:
    """The Cloud Storage bucket of the target's model URI, None for another source or none."""
    found = delivery.source(target.model_uri)
    return found.store if found is not None and found.scheme == "gs" else None



def secure_boot(service: ir.Service, target: ir.Target) -> bool:
    """targets.gcp.secure_boot, else on for CPU replicas only: GPU images may load unsigned NVIDIA kernel modules,
    which secure boot refuses (https://cloud.google.com/compute/shielded-vm/docs/shielded-vm#secure-boot)."""
    chosen = target.get("secure_boot")
    return (not service.accelerator_count) if chosen is None else bool(chosen)


def _instance_template(stack, run: Version, network, account):
    """The replicas of one version: its machine type, image, arguments, environment and model (startup script)."""
    service, target = run.service, run.target
    machine, kind = target.machine, gpu_kind(target)
    labels = dict(service.labels)
    image = target.get("image") or IMAGES[("gpu" if service.accelerator_count else "cpu", service.arch)]
    if service.spot:
        # Spot: preemptible, no automatic restart, terminate on host maintenance; DELETE lets the MIG recreate
        # the VM elsewhere (https://cloud.google.com/compute/docs/instances/spot).
        scheduling = {"provisioning_model": "SPOT", "preemptible": True, "automatic_restart": False,
                      "on_host_maintenance": "TERMINATE", "instance_termination_action": "DELETE"}
    else:
        # GPU VMs cannot live-migrate: they must terminate (and restart) on host maintenance (_GPU_DOC).
        scheduling = {"provisioning_model": "STANDARD", "automatic_restart": True,
                      "on_host_maintenance": "TERMINATE" if kind != "none" else "MIGRATE"}
    # Public IP unless private_replicas: then the subnet's Cloud NAT (lb.nat) carries outbound traffic.
    access = None if target.get("private_replicas") else [{}]
    return stack.add(
        "google_compute_region_instance_template", run.id("instance_template"), name_prefix=f"{run.name()}-",
        region=target.get("region"), description=_description(run),
        machine_type=machine.instance_type, labels=labels or None, tags=[service.name],
        # Project-wide SSH keys would admit every key holder of the project; instance keys (gcloud compute ssh)
        # and OS Login still work (https://cloud.google.com/compute/docs/connect/restrict-ssh-keys).
        metadata={"startup-script": startup.startup_script(service, target), "block-project-ssh-keys": "TRUE"},
        shielded_instance_config={"enable_secure_boot": secure_boot(service, target), "enable_vtpm": True,
                                  "enable_integrity_monitoring": True},
        disk=[{"boot": True, "auto_delete": True, "source_image": image, "disk_size_gb": service.disk_gib,
               "disk_type": disk_type(machine), "labels": labels or None}],
        guest_accelerator=[{"type": machine.provider_accelerator, "count": machine.accelerator_count}]
        if kind == "attached" else None,
        scheduling=scheduling,
        network_interface=[{
            "network": network.network, "subnetwork": network.subnet,
            # An ephemeral external IP for egress (image pulls, model downloads); ingress is the firewall's job.
            "access_config": access}],
        service_account={"email": account.email, "scopes": ["cloud-platform"]},
        # Templates are immutable: a changed one is created under a new name before the old one is deleted.
        lifecycle={"create_before_destroy": True})


def _instance_group(stack, run: Version, template, health, nat: list, *grants):
    service, target = run.service, run.target
    # GPUs are not in every zone, nor every type of a capacity fallback: BALANCED creates VMs where capacity exists
    # and needs proactive redistribution off
    # (https://cloud.google.com/compute/docs/instance-groups/regional-mig-distribution-shape).
    spread = gpu_kind(target) != "none" or bool(target.fallback)
    return stack.add(
        "google_compute_region_instance_group_manager", run.id("instance_group"), name=run.name(),
        base_instance_name=run.name(), region=target.get("region"), description=_description(run),
        version=[{"name": "primary", "instance_template": template.self_link}],
        named_port=[{"name": "http", "port": service.port}],
        # Fixed size without an autoscaler; with one, target_size must stay unset (provider docs).
        target_size=None if service.autoscale else service.min_replicas,
        auto_healing_policies={"health_check": health.autoheal.id, "initial_delay_sec": service.initial_delay_s},
        distribution_policy_target_shape="BALANCED" if spread else "EVEN",
        update_policy={"type": "PROACTIVE", "minimal_action": "REPLACE",
                       "instance_redistribution_type": "NONE" if spread else "PROACTIVE"},
        # Capacity fallback: one instance selection per type, ranked in order of preference (cheapest first) from 1,
        # as Google's sample does (terraform-google-modules/terraform-docs-samples
        # compute/rmig_instance_flexibility_policy/main.tf; a rank of 0 would be the proto's unset value); the
        # selections override the template's machine type, so the first type is listed too
        # (https://cloud.google.com/compute/docs/instance-groups/about-instance-flexibility).
        instance_flexibility_policy={"instance_selections": [
            {"name": machine.instance_type, "rank": rank, "machine_types": [machine.instance_type]}
            for rank, machine in enumerate(target.machines, start=1)]} if target.fallback else None,
        wait_for_instances=False,
        # Replicas pull the image on first boot, through the NAT, and read the model and secrets with their grants.
        depends_on=[*nat, *grants])


def initialization_period(service: ir.Service) -> int:
    """The autoscaler's cooldown_period: "the number of seconds that the autoscaler should wait before it starts
    collecting information from a new instance ... when the instance is initializing" (google provider docs,
    compute_region_autoscaler). A replica is initializing until its model has loaded, probes.readiness.initial_delay,
    so it is at least that; a longer replicas.autoscale.scale_out_delay, the spec's wait after a scale-out, lengthens
    it (the autoscaler has no other scale-out delay)."""
    return max(service.initial_delay_s, service.autoscale.scale_out_delay_s)


def _autoscaler(stack, run: Version, group) -> None:
    """The version's own bounds and policy: each variant scales on its own replicas' load."""
    service, target = run.service, run.target
    auto = service.autoscale
    if auto.metric == "cpu_percent":
        metric = {"cpu_utilization": {"target": auto.target / 100}}
    else:
        # Holds the backend's RATE capacity at LB_UTILIZATION, i.e. auto.target requests/s per replica.
        metric = {"load_balancing_utilization": {"target": lb.LB_UTILIZATION}}
    stack.add("google_compute_region_autoscaler", run.id("autoscaler"), name=run.name(),
              region=target.get("region"), target=group.id, autoscaling_policy={
                  "min_replicas": service.min_replicas, "max_replicas": service.max_replicas, "mode": "ON",
                  "cooldown_period": initialization_period(service),
                  # Scale-in decisions wait for load to stay low this long (default 600 s).
                  "stabilization_period": auto.scale_in_delay_s, **metric})

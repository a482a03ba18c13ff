"""AWS stacks applied for real: terraform apply, a clean second plan and destroy of every AWS example, against moto;
and a change of variant weights that updates only the listeners."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import json
import logging
import os
import pathlib
import re
import shutil
import subprocess
import threading
import time
from unittest import mock

import pytest

from compiler.driver import compile_files
from tests.conftest import examples_naming, moto, provider_mirror, synth_documents, terraform, terraform_rc
from tests.targets.test_aws_variants import canary_spec

ACCOUNT = "123456789012"  # moto's default account, which the examples' certificate ARN names too
NAMES = [f"{c.service.name}-aws"
         for example in examples_naming("aws") for c in compile_files([str(example)], ["aws"])[0]]

# What moto 5.2.5 reads back differently from what it was given, so that the second plan updates in place:
# {(resource address, attribute): why}. Only these may differ after a clean apply; a gap that no stack shows any
# more fails test_every_gap_is_still_real until it is removed here.
GAPS = {
    ("aws_launch_template.launch_template", "tag_specifications"):
        "moto copies the template's own tags (TagSpecifications of type launch-template, which the provider sends "
        "for default_tags) into LaunchTemplateData.TagSpecifications (moto/ec2/responses/launch_templates.py "
        "create_launch_template); AWS keeps them on the template, so the provider reads back an extra block",
    ("aws_launch_template.launch_template_{accelerator}", "tag_specifications"):
        "as launch_template: the launch template of a capacity fallback's alternative with its own args",
    ("aws_vpc_security_group_egress_rule.lb_egress_{port}", "description"):
        "moto's DescribeSecurityGroupRules takes Description from the CIDR range only, never from the referenced "
        "group pair (moto/ec2/models/security_groups.py SecurityGroupRule.description)",
    ("aws_vpc_security_group_ingress_rule.replica_ingress_{port}", "description"):
        "as lb_egress: a rule that references a security group comes back without its description",
    ("aws_autoscaling_group.autoscaling_group", "default_instance_warmup"):
        "moto's CreateAutoScalingGroup ignores DefaultInstanceWarmup and reads back 0 "
        "(moto/autoscaling/responses.py create_auto_scaling_group)",
    ("aws_autoscaling_policy.scaling_policy", "enabled"):
        "moto's DescribePolicies has no Enabled field, which the provider reads as false "
        "(moto/autoscaling/models.py FakeScalingPolicy)",
    ("aws_autoscaling_policy.scaling_policy", "predictive_scaling_configuration"):
        "moto stores PredictiveScalingConfiguration as {} when none is given and returns it, which the provider "
        "reads as one empty block (moto/autoscaling/responses.py put_scaling_policy)",
    # The scale-to-zero policies of a replicas.min 0 stack (examples/dev-scale-to-zero.yaml), read back the same way.
    **{(f"aws_autoscaling_policy.{policy}", attribute): f"as aws_autoscaling_policy.scaling_policy.{attribute}"
       for policy in ("start_policy", "stop_policy") for attribute in ("enabled", "predictive_scaling_configuration")},
}

# The default images the stacks look up (owner and name pattern: targets.aws.IMAGES), as AWS and Canonical name
# them. The Deep Learning AMIs belong to an Amazon account whose owner alias is "amazon".
AMIS = [
    {"ami_id": "ami-0d1a2b3c4d5e6f701", "owner_id": "898082745236", "owner_alias": "amazon", "architecture": "x86_64",
     "name": "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) 20250523", "creation_date": "2025-05-23"},
    {"ami_id": "ami-0d1a2b3c4d5e6f702", "owner_id": "898082745236", "owner_alias": "amazon", "architecture": "arm64",
     "name": "Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) 20250523",
     "creation_date": "2025-05-23"},
    {"ami_id": "ami-0c1a2b3c4d5e6f703", "owner_id": "099720109477", "architecture": "x86_64",
     "name": "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20250516", "creation_date": "2025-05-16"},
    {"ami_id": "ami-0c1a2b3c4d5e6f704", "owner_id": "099720109477", "architecture": "arm64",
     "name": "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-arm64-server-20250516", "creation_date": "2025-05-16"},
]

# Every service the stacks call (and ones a stack may come to call), pointed at the emulator.
SERVICES = ("acm", "autoscaling", "cloudwatch", "ec2", "ecr", "elbv2", "iam", "s3", "sts", "wafv2")


def override(endpoint: str) -> dict:
    """moto_override.tf.json. Override files merge top-level arguments into the stack's provider block and replace
    its nested blocks of the same type, so default_tags and region stay as generated."""
    return {"provider": {"aws": [{
        "access_key": "testing", "secret_key": "testing",
        # The account ID still comes from (moto's) STS: the provider compares it with the owner of referenced
        # security groups, and without it reads them back as "account/sg-..." (a false drift).
        "skip_credentials_validation": True, "skip_metadata_api_check": True,
        # moto answers at once and its errors are final: one attempt, not 25 with backoff, so a gap fails fast.
        "max_retries": 1,
        "endpoints": [{service: endpoint for service in SERVICES}],
    }]}}


def _seed(stacks: dict[str, dict]) -> None:
    """What the account holds before a stack is applied: the images, and every VPC, subnet and ACM certificate the
    stack names by ID (moto's API cannot choose IDs, so they are created in its backends directly)."""
    from moto.acm.models import CertBundle, acm_backends
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.amis import Ami

    for doc in stacks.values():
        region = doc["provider"]["aws"][0]["region"]
        ec2 = ec2_backends[ACCOUNT][region]
        for ami in AMIS:
            if ami["ami_id"] not in ec2.amis:
                created = datetime.datetime.fromisoformat(ami["creation_date"]).replace(tzinfo=datetime.timezone.utc)
                ec2.amis[ami["ami_id"]] = Ami(ec2, **{**ami, "creation_date": created}, public=True,
                                               virtualization_type="hvm", root_device_type="ebs",
                                               root_device_name="/dev/sda1", region_name=f"{region}a")
        text = json.dumps(doc)
        vpcs = sorted(set(re.findall(r'"(vpc-[0-9a-f]{8,17})"', text)) - set(ec2.vpcs))
        for n, vpc_id in enumerate(vpcs):
            with mock.patch("moto.ec2.models.vpcs.random_vpc_id", return_value=vpc_id):
                ec2.create_vpc(f"10.{n}.0.0/16")
        vpc = ec2.get_vpc(vpcs[0]) if vpcs else ec2.get_default_vpc()
        prefix = ".".join(vpc.cidr_block.split(".")[:2])
        zones = [zone.name for zone in ec2.describe_availability_zones()]
        for n, subnet_id in enumerate(sorted(set(re.findall(r'"(subnet-[0-9a-f]{8,17})"', text)))):
            with mock.patch("moto.ec2.models.subnets.random_subnet_id", return_value=subnet_id):
                ec2.create_subnet(vpc.id, f"{prefix}.{200 + n}.0/24", availability_zone=zones[n % len(zones)])
        for arn in sorted(set(re.findall(r'"(arn:aws:acm:[^"]+)"', text))):
            _, _, _, cert_region, account, _ = arn.split(":", 5)
            acm = acm_backends[account][cert_region]
            if arn not in acm._certificates:
                bundle = CertBundle.generate_cert("example.com", account_id=account, region=cert_region)
                bundle.arn = arn
                acm._certificates[arn] = bundle


@pytest.fixture(scope="module")
def terraform_ready() -> tuple[str, pathlib.Path]:
    """terraform, the hashicorp/aws mirror and moto, or a skip (a failure under INFC_REQUIRE_TOOLS)."""
    moto()
    return terraform(), provider_mirror("hashicorp/aws")


class SerialServer:
    """moto's HTTP server on a free port of 127.0.0.1, with one request inside moto at a time.

    moto's backends are not thread-safe (getmoto/moto#372): a describe call returns a live view of a dict (instance
    profiles, security groups, ...) that moto/core/serialize.py iterates after the call, so a create or delete from
    another stack's terraform in between fails the request with "RuntimeError: dictionary changed size during
    iteration", an HTTP 500, and the provider (one attempt, see override()) fails its apply, plan or destroy. With
    five stacks at once that happened about once in five runs. Requests still overlap on the wire; only moto's own
    work is serialized, which costs little next to the provider's waits. ThreadedMotoServer (moto/moto_server/
    threaded_moto_server.py) is this without the lock."""

    def __init__(self, app=None):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = app or DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serial(environ, start_response):
            with lock:  # the whole response is built inside the lock, and the app's iterable closed (PEP 3333)
                body = app(environ, start_response)
                try:
                    return list(body)
                finally:
                    getattr(body, "close", lambda: None)()

        self.httpd = make_server("127.0.0.1", 0, serial, threaded=True, request_handler=MotoRequestHandler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.thread.join()


@pytest.fixture(scope="module")
def emulator(terraform_ready, synth_for):
    """moto on a free port of 127.0.0.1, seeded for the AWS examples, its state dropped afterwards. It runs in this
    process because seeding needs its backends."""
    from moto.moto_api._internal.models import moto_api_backend

    out = synth_for("aws")
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)  # a line per request would drown a failure; errors (500s) still show
    try:
        with SerialServer() as endpoint:
            _seed({name: json.loads((out / "stacks" / name / "cdk.tf.json").read_text()) for name in NAMES})
            yield endpoint
    finally:
        moto_api_backend.reset()
        werkzeug.setLevel(level)


def test_the_emulator_runs_one_request_at_a_time():
    """Two requests sent together are inside the app one after the other (SerialServer's lock)."""
    import urllib.request

    inside, most = [0], [0]
    guard = threading.Lock()

    def slow(environ, start_response):
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.3)
        with guard:
            inside[0] -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with SerialServer(slow) as endpoint:
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            bodies = list(pool.map(lambda _: urllib.request.urlopen(endpoint, timeout=30).read(), range(3)))
    assert bodies == [b"ok"] * 3
    assert most[0] == 1


def test_a_value_left_unknown_is_not_a_change_but_a_known_one_is():
    """The second plan's reading (_changed): a launch template update (a moto gap) leaves the template's next
    version unknown, and the autoscaling group's launch_template.version with it; the group is not a change of its
    own. Its launch template id changing, or an update with nothing visibly changed, still is."""
    template = {"address": "aws_launch_template.t", "change": {
        "actions": ["update"], "before": {"latest_version": 1, "tag_specifications": []},
        "after": {"tag_specifications": [{"resource_type": "instance"}]}, "after_unknown": {"latest_version": True}}}
    group = {"address": "aws_autoscaling_group.g", "change": {
        "actions": ["update"], "before": {"launch_template": [{"id": "lt-1", "version": "1"}]},
        "after": {"launch_template": [{"id": "lt-1"}]}, "after_unknown": {"launch_template": [{"version": True}]}}}
    assert _changed({"resource_changes": [template, group]}) == {
        ("aws_launch_template.t", "tag_specifications"): '[] -> [{"resource_type": "instance"}]'}
    group["change"]["after"]["launch_template"][0]["id"] = "lt-2"
    assert _changed({"resource_changes": [group]}) == {
        ("aws_autoscaling_group.g", "launch_template"):
            '[{"id": "lt-1", "version": "1"}] -> [{"id": "lt-2"}]'}
    hidden = {"address": "aws_autoscaling_group.g", "change": {
        "actions": ["update"], "before": {"capacity_reservation_preference": None},
        "after": {"capacity_reservation_preference": ""}, "after_unknown": {}}}
    assert _changed({"resource_changes": [hidden]}) == {("aws_autoscaling_group.g", "(update)"): "null -> null"}


@dataclasses.dataclass
class Run:
    """One stack's life: every terraform step that ran, in order, and what state and plan held after each."""
    name: str
    work: pathlib.Path
    env: dict
    terraform: str
    steps: dict[str, subprocess.CompletedProcess] = dataclasses.field(default_factory=dict)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    applied: list[str] = dataclasses.field(default_factory=list)
    drift: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    left: list[str] = dataclasses.field(default_factory=list)

    def tf(self, step: str, *args: str) -> subprocess.CompletedProcess:
        start = time.monotonic()
        result = subprocess.run([self.terraform, *args, "-no-color"], cwd=self.work, env=self.env, capture_output=True,
                                text=True, timeout=900)
        self.steps[step], self.seconds[step] = result, round(time.monotonic() - start, 1)
        return result

    def ok(self, step: str, codes=(0,)) -> bool:
        return step in self.steps and self.steps[step].returncode in codes

    def why(self, step: str) -> str:
        result = self.steps.get(step)
        if result is None:
            return f"{self.name}: terraform {step} did not run (an earlier step failed)"
        return (f"{self.name}: terraform {step} exited {result.returncode}\n--- stderr\n{result.stderr}"
                f"\n--- stdout (end)\n{result.stdout[-4000:]}")

    def state(self) -> list[str]:
        """Managed resource addresses in the state file (read directly: `terraform show` costs a provider start)."""
        path = self.work / "terraform.tfstate"
        doc = json.loads(path.read_text()) if path.exists() else {}
        return sorted(f"{r['type']}.{r['name']}" for r in doc.get("resources", []) if r["mode"] == "managed")


def _blank(value):
    """A value with empty strings, lists and maps as null: the provider's legacy SDK does not tell them apart, and
    terraform hides such changes from the rendered plan (an ASG's capacity_reservation_preference: null -> "")."""
    if isinstance(value, dict):
        value = {k: _blank(v) for k, v in value.items()}
        value = {k: v for k, v in value.items() if v is not None}
    elif isinstance(value, list):
        value = [_blank(v) for v in value]
    return None if value in ("", [], {}) else value


def _known(value, unknown):
    """The value with the parts the plan marks unknown (`after_unknown`, nested like the value) as null."""
    if unknown is True:
        return None
    if isinstance(value, dict) and isinstance(unknown, dict):
        return {k: _known(v, unknown.get(k)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(unknown, list):
        return [_known(v, unknown[i] if i < len(unknown) else None) for i, v in enumerate(value)]
    return value


def _changed(plan: dict) -> dict[tuple[str, str], str]:
    """{(address, attribute): "before -> after"} for every attribute a plan changes. Values the plan leaves unknown
    (a launch template's next version number, and the autoscaling group's launch_template.version that follows it)
    come from an update elsewhere, which is reported there, rather than cause one: a resource whose only change is
    such a value is left out."""
    out = {}
    for change in plan.get("resource_changes", []):
        actions, diff = change["change"]["actions"], change["change"]
        if actions == ["no-op"]:
            continue
        before, after, unknown = diff.get("before") or {}, diff.get("after") or {}, diff.get("after_unknown") or {}
        differ = [k for k in sorted(set(before) | set(after)) if _blank(before.get(k)) != _blank(after.get(k))]
        keys = [k for k in differ if _blank(_known(before.get(k), unknown.get(k)))
                != _blank(_known(after.get(k), unknown.get(k)))]
        if differ and not keys and actions == ["update"]:
            continue
        for key in keys or ["(" + "+".join(actions) + ")"]:
            out[(change["address"], key)] = f"{json.dumps(before.get(key))} -> {json.dumps(after.get(key))}"
    for name, change in (plan.get("output_changes") or {}).items():
        if change["actions"] != ["no-op"]:
            out[(f"output.{name}", "value")] = "+".join(change["actions"])
    return out


def _lifecycle(run: Run) -> Run:
    """apply, plan again, destroy."""
    if not run.ok("init"):
        return run
    if run.tf("apply", "apply", "-input=false", "-auto-approve").returncode == 0:
        run.applied = run.state()
        if run.tf("plan", "plan", "-input=false", "-detailed-exitcode", "-out=second.tfplan").returncode == 2:
            if run.tf("show-plan", "show", "-json", "second.tfplan").returncode == 0:
                run.drift = _changed(json.loads(run.steps["show-plan"].stdout))
    # The second plan has just refreshed every resource: destroy need not read them all again.
    if run.tf("destroy", "destroy", "-input=false", "-auto-approve", "-refresh=false").returncode == 0:
        run.left = run.state()
    return run


@pytest.fixture(scope="module")
def runs(synth_for, terraform_ready, emulator, tmp_path_factory) -> dict[str, Run]:
    """Every AWS example through its whole life on a copy of its stack, all stacks at once: most of a stack's time is
    the provider's fixed waits (30 s before it first polls a new load balancer, twice), which overlap."""
    binary, mirror = terraform_ready
    home = tmp_path_factory.mktemp("tf-apply")
    (home / "plugin-cache").mkdir()
    # The provider from the mirror only, as test_aws.py's terraform_env; with a plugin cache each stack's init links
    # the 700 MB provider binary instead of copying it.
    config = terraform_rc(home / "cli.tfrc", mirror, cache=home / "plugin-cache")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "TF_"))}
    env.update(TF_CLI_CONFIG_FILE=str(config), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    out = synth_for("aws")
    runs = {}
    for name in NAMES:  # one init at a time: the plugin cache is not safe for concurrent use
        work = home / name
        shutil.copytree(out / "stacks" / name, work)
        (work / "moto_override.tf.json").write_text(json.dumps(override(emulator), indent=2))
        runs[name] = Run(name, work, env, binary)
        runs[name].tf("init", "init", "-input=false")
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(NAMES)) as pool:
        list(pool.map(_lifecycle, runs.values()))
    for run in runs.values():
        print(f"{run.name}: {len(run.applied)} resources; seconds per step {run.seconds}")
    return runs


def _gap(address: str, attribute: str) -> tuple[str, str] | None:
    """The GAPS key that explains this change ({port} in a key stands for any port, {accelerator} for the suffix
    <accelerator>_x<count> of an alternative's launch template), or None."""
    for pattern, attr in GAPS:
        expression = re.escape(pattern).replace(r"\{port\}", r"\d+").replace(r"\{accelerator\}", r"[a-z0-9_]+")
        if attr == attribute and re.fullmatch(expression, address):
            return pattern, attr
    return None


@pytest.mark.parametrize("name", NAMES)
def test_apply_plan_again_destroy(runs, synth_for, name):
    run = runs[name]
    generated = synth_for("aws") / "stacks" / name / "cdk.tf.json"
    assert (run.work / "cdk.tf.json").read_bytes() == generated.read_bytes()  # applied exactly as written
    doc = json.loads(generated.read_text())
    assert run.ok("init"), run.why("init")
    assert run.ok("apply"), run.why("apply")
    declared = sorted(f"{kind}.{key}" for kind, items in doc["resource"].items() for key in items)
    assert run.applied == declared, f"{name}: state after apply differs from the resources in cdk.tf.json"
    assert run.ok("plan", (0, 2)), run.why("plan")
    assert run.ok("plan", (0,)) or run.ok("show-plan"), run.why("show-plan")
    unexplained = {key: diff for key, diff in run.drift.items() if not _gap(*key)}
    assert not unexplained, (
        f"{name}: the second plan changes more than the known emulator gaps:\n"
        + "\n".join(f"  {address}.{attribute}: {diff}" for (address, attribute), diff in sorted(unexplained.items()))
        + "\n--- plan\n" + run.steps["plan"].stdout[-8000:])
    assert run.ok("plan", (2,) if run.drift else (0,)), run.why("plan")
    assert run.ok("destroy"), run.why("destroy")
    assert run.left == [], f"{name}: still in state after destroy: {run.left}"


def test_every_gap_is_still_real(runs):
    """A gap moto has closed (or a stack no longer shows) must leave GAPS, so the plan check stays as strict as the
    emulator allows."""
    seen = {_gap(*key) for run in runs.values() for key in run.drift}
    assert sorted(set(GAPS) - seen) == []


# --- Variants: a weight change (tests/targets/test_aws_variants.py has the stack) ------------------------------

def _weights(state: dict) -> dict[str, dict[str, int]]:
    """{listener: {target group name: weight}} as the state holds them after an apply."""
    def instances(kind):
        return {r["name"]: r["instances"][0]["attributes"] for r in state["resources"]
                if r["mode"] == "managed" and r["type"] == kind}
    names = {group["arn"]: group["name"] for group in instances("aws_lb_target_group").values()}
    return {name: {names[t["arn"]]: t["weight"] for t in listener["default_action"][0]["forward"][0]["target_group"]}
            for name, listener in instances("aws_lb_listener").items()}


def test_a_weight_change_updates_only_the_listeners_on_the_emulator(tmp_path):
    """Apply 90/10 on moto, re-synthesize at 50/50: the plan updates the two listeners in place and nothing else
    (beyond what the emulator already reads back differently after a clean apply, GAPS, which the plan of the
    unchanged stack shows), applying that sets 50/50, and destroy leaves nothing."""
    moto()
    binary, mirror = terraform(), provider_mirror("hashicorp/aws")
    from moto.moto_api._internal.models import moto_api_backend

    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = synth_documents(tmp_path / "first", [canary_spec(90, 10)], "aws") / "stacks" / "chat-aws"
    second = synth_documents(tmp_path / "second", [canary_spec(50, 50)], "aws") / "stacks" / "chat-aws"
    work = tmp_path / "work"
    shutil.copytree(first, work)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "TF_"))}
    env.update(TF_CLI_CONFIG_FILE=str(terraform_rc(tmp_path / "cli.tfrc", mirror)), TF_IN_AUTOMATION="1",
               CHECKPOINT_DISABLE="1")

    def tf(*args: str, codes=(0,)) -> subprocess.CompletedProcess:
        result = subprocess.run([binary, args[0], "-no-color", *args[1:]], cwd=work, env=env, capture_output=True,
                                text=True, timeout=900)
        assert result.returncode in codes, f"terraform {args[0]}: {result.stderr}\n{result.stdout[-4000:]}"
        return result

    def plan(name: str) -> dict:
        tf("plan", "-input=false", f"-out={name}", "-detailed-exitcode", codes=(0, 2))
        return json.loads(tf("show", "-json", name).stdout)

    def state() -> dict:
        return json.loads((work / "terraform.tfstate").read_text())

    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)  # a line per request would drown a failure; errors (500s) still show
    try:
        with SerialServer() as endpoint:
            (work / "moto_override.tf.json").write_text(json.dumps(override(endpoint), indent=2))
            _seed({"chat-aws": json.loads((work / "cdk.tf.json").read_text())})
            tf("init", "-input=false")
            try:
                tf("apply", "-input=false", "-auto-approve")
                assert _weights(state()) == {listener: {"chat-stable-tg": 90, "chat-canary-tg": 10}
                                             for listener in ("listener_80", "listener_8080")}
                # What the emulator reads back otherwise after a clean apply: the same with either weights.
                gaps = _changed(plan("again.tfplan"))
                assert not [key for key in gaps if key[0].startswith("aws_lb_listener.")], gaps  # no listener drift
                shutil.copy(second / "cdk.tf.json", work / "cdk.tf.json")
                weights = plan("weights.tfplan")
                actions = {c["address"]: c["change"]["actions"] for c in weights["resource_changes"]}
                assert {a for a, act in actions.items() if act not in (["no-op"], ["update"])} == set(), actions
                changed = {key: diff for key, diff in _changed(weights).items() if key not in gaps}
                assert sorted(changed) == [("aws_lb_listener.listener_80", "default_action"),
                                           ("aws_lb_listener.listener_8080", "default_action")], changed
                # Applied to the listeners only: the plan also carries the emulator's gaps, and applying those
                # (a new launch template version) would start an instance refresh, which moto has not implemented.
                tf("apply", "-input=false", "-auto-approve", *(f"-target={address}" for address, _ in changed))
                assert _weights(state()) == {listener: {"chat-stable-tg": 50, "chat-canary-tg": 50}
                                             for listener in ("listener_80", "listener_8080")}
            finally:
                tf("destroy", "-input=false", "-auto-approve")
            assert [r for r in state()["resources"] if r["mode"] == "managed"] == []
    finally:
        moto_api_backend.reset()
        werkzeug.setLevel(level)

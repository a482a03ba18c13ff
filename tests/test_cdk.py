"""compiler/cdk.py on CDK Terrain core: generic resources synthesize the JSON they are given, every string in it is
literal unless a backend made it a reference or expression, and what the provider schemas refuse is an infc bug."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from compiler import cdk
from compiler.cli import main
from tests.conftest import EXAMPLES, ROOT

AWS = ("hashicorp/aws", ">= 5.100.0, < 7.0.0")


def synth(tmp_path, build) -> dict:
    cdk.synth([("s", build)], str(tmp_path))
    return json.loads((tmp_path / "stacks" / "s" / "cdk.tf.json").read_text())


def test_resources_data_sources_and_providers_are_written_as_given(tmp_path):
    def build(stack):
        stack.provider("aws", *AWS, region="eu-west-1", default_tags=[{"tags": {"cost-center": "A", "Team": "b"}}])
        vpc = stack.data("aws_vpc", "default_vpc", default=True)
        group = stack.add("aws_security_group", "sg", name="x", vpc_id=vpc.id, description=None)
        stack.add("aws_vpc_security_group_egress_rule", "all", security_group_id=group.id, ip_protocol="-1",
                  cidr_ipv4="0.0.0.0/0", depends_on=[group], lifecycle={"ignore_changes": ["tags"]})
        stack.output("group_id", group.id, "the group ${literal}")

    doc = synth(tmp_path, build)
    # provider keys are not snake-cased (CDK Terrain does that to provider attributes it is handed as a plain map)
    assert doc["provider"] == {"aws": [{"default_tags": [{"tags": {"cost-center": "A", "Team": "b"}}],
                                        "region": "eu-west-1"}]}
    assert doc["terraform"] == {"backend": {"local": {"path": "terraform.tfstate"}},
                                "required_providers": {"aws": {"source": "hashicorp/aws",
                                                               "version": ">= 5.100.0, < 7.0.0"}}}
    assert doc["data"]["aws_vpc"]["default_vpc"]["default"] is True
    sg = doc["resource"]["aws_security_group"]["sg"]
    assert {k: v for k, v in sg.items() if k != "//"} == {"name": "x", "vpc_id": "${data.aws_vpc.default_vpc.id}"}
    rule = doc["resource"]["aws_vpc_security_group_egress_rule"]["all"]
    assert rule["depends_on"] == ["aws_security_group.sg"]
    assert rule["lifecycle"] == {"ignore_changes": ["tags"]}
    # an output description is a literal string in Terraform JSON (not a template), so it is not escaped
    assert doc["output"]["group_id"] == {"description": "the group ${literal}", "value": "${aws_security_group.sg.id}"}


def test_every_string_is_literal_overrides_and_meta_arguments_included(tmp_path):
    """Issue 10: the gke precondition's error_message went through add_override unescaped."""
    hostile = "x ${file(\"/etc/passwd\")} %{if true}y%{endif}"

    def build(stack):
        stack.provider("aws", *AWS, region=hostile)
        role = stack.add("aws_iam_role", "role", name=hostile, assume_role_policy=stack.json({"a": hostile}),
                         tags={hostile: hostile}, lifecycle={"precondition": [
                             {"condition": stack.expr("length({}) > 0", hostile), "error_message": hostile}]})
        role.add_override("lifecycle.postcondition", [{"condition": stack.expr("true"), "error_message": hostile}])
        role.add_override("description", hostile)
        stack.output("o", [hostile, stack.fmt("{}/{}", hostile, role.arn)], hostile)

    doc = synth(tmp_path, build)
    text = json.dumps({k: v for k, v in doc.items() if k != "output"} | {"output": doc["output"]["o"]["value"]})
    assert "${file" not in text.replace("$${file", "") and "%{if" not in text.replace("%%{if", "")
    role = doc["resource"]["aws_iam_role"]["role"]
    escaped = hostile.replace("${", "$${").replace("%{", "%%{")
    assert role["lifecycle"]["precondition"][0]["error_message"] == escaped
    assert role["lifecycle"]["postcondition"][0]["error_message"] == escaped
    assert role["description"] == role["name"] == escaped
    assert role["tags"] == {escaped: escaped}
    assert doc["output"]["o"]["value"] == [escaped, f"{escaped}/${{aws_iam_role.role.arn}}"]


def test_depends_on_takes_handles_only(tmp_path):
    def build(stack):
        stack.provider("aws", *AWS)
        stack.add("aws_iam_role", "role", name="r", assume_role_policy="{}", depends_on=["aws_vpc.x"])

    with pytest.raises(TypeError, match="depends_on takes resource and data source handles"):
        synth(tmp_path, build)


def test_output_the_schemas_refuse_is_an_internal_error_naming_stack_resource_attribute_and_schema(
        tmp_path, monkeypatch, capsys):
    from targets import aws

    emit = aws.emit

    def broken(stack, service, target):
        emit(stack, service, target)
        stack.add("aws_lb_target_group", "extra", name="x", health_check={"intervall": 30})

    monkeypatch.setattr(aws, "emit", broken)
    llama = next(e for e in EXAMPLES if e.name == "llama-70b-a100.yaml")
    assert main(["synth", str(llama), "--target", "aws", "--out", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert "internal error: SchemaViolation: stack llama70b-aws: aws_lb_target_group.extra.health_check" in err
    assert "unknown attribute or block 'intervall'" in err and "hashicorp/aws 5.100.0" in err
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_reference_the_type_does_not_export_is_an_internal_error(tmp_path, monkeypatch, capsys):
    from targets import aws

    def broken(stack, service, target):
        stack.provider("aws", *aws.PROVIDER)
        lb = stack.add("aws_lb", "load_balancer", name="x")
        stack.output("endpoint", lb.dns, "typo of dns_name")

    monkeypatch.setattr(aws, "emit", broken)
    llama = next(e for e in EXAMPLES if e.name == "llama-70b-a100.yaml")
    assert main(["synth", str(llama), "--target", "aws", "--out", str(tmp_path / "out")]) == 3
    assert ("SchemaViolation: stack llama70b-aws: aws_lb.load_balancer.dns: resource type aws_lb exports no such "
            "attribute [hashicorp/aws 5.100.0, hashicorp/aws 6.69.1]") in capsys.readouterr().err


def test_a_backend_block_is_written_literally(tmp_path):
    """Terraform reads backend strings literally: a local backend path "st-${x}.tfstate" names that very file
    (terraform 1.11.4), so escaping it as a template would change the path."""
    def build(stack):
        stack.backend("local", {"path": "st-${x}-%{y}.tfstate", "workspace_dir": None})

    assert synth(tmp_path, build)["terraform"]["backend"] == {"local": {"path": "st-${x}-%{y}.tfstate"}}
    lb = cdk.Block("resource", "aws_lb", "lb", {})
    with pytest.raises(TypeError, match="literal values only"):
        cdk.Stack("b").backend("s3", {"bucket": lb.arn})


def _imported_after_preload(statement: str) -> set[str]:
    """Modules `statement` imports in a fresh process that has imported what the CLI has when synth calls
    preload(), and preload()'s SHARED_MODULES."""
    code = ("import importlib, os, sys\nimport compiler.cli\nfrom compiler import cdk\n"
            "[importlib.import_module(m) for m in cdk.SHARED_MODULES]\ncdk.use_wheel_node()\n"
            f"before = set(sys.modules)\n{statement}\nprint(' '.join(sorted(set(sys.modules) - before)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(done.stdout.split())


def _cdk_only(modules: set[str]) -> set[str]:
    return {m for m in modules if m.partition(".")[0] in cdk.CDK_ONLY}


def test_preload_imports_first_every_module_cdk_terrain_shares():
    """synth imports CDK Terrain in a background thread while the main thread reads the specs: what that thread
    imports after preload()'s SHARED_MODULES must be packages only CDK Terrain uses, so the two threads never
    import one module at once (a circular import across them is broken by handing one a half-initialized module)."""
    cdktn = _imported_after_preload("import cdktn, constructs")
    assert "cdktn" in cdktn and "jsii" in cdktn
    assert cdktn - _cdk_only(cdktn) == set(), "add these to compiler.cdk.SHARED_MODULES"


def test_the_compiler_never_imports_what_only_cdk_terrain_uses(tmp_path):
    """The other side: no module of the compiler or of a target, and nothing a synth of every example imports on
    its own thread until it meets CDK Terrain (lazy imports included), comes from a CDK_ONLY package."""
    compiler = _imported_after_preload(
        "import compiler.driver, compiler.recording, compiler.provider_check, compiler.explain, compiler.transaction\n"
        "import targets\n[importlib.import_module(targets.BACKENDS[t]) for t in targets.available()]")
    assert "targets.aws" in compiler and _cdk_only(compiler) == set()
    specs = [str(p) for p in EXAMPLES]
    # A real `infc synth` of every example, run as pre-commit runs it (python -m compiler.cli), stopped where it
    # first needs CDK Terrain: preload() only records what is imported from then on, so no Node starts.
    code = ("import importlib, runpy, sys\nfrom compiler import cdk\nseen = {}\n"
            "def preload():\n    [importlib.import_module(m) for m in cdk.SHARED_MODULES]\n"
            "    seen['before'] = set(sys.modules)\n"
            "def classes():\n    print(' '.join(sorted(set(sys.modules) - seen['before'])))\n    sys.exit(0)\n"
            "cdk.preload, cdk._classes = preload, classes\n"
            f"sys.argv = ['infc', 'synth', *{specs!r}, '--out', {str(tmp_path / 'out')!r}]\n"
            "runpy.run_module('compiler.cli', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    window = set(done.stdout.split())
    assert {"compiler.driver", "targets.gke", "targets.azureml"} <= window
    assert _cdk_only(window) == set()
    assert window & _imported_after_preload("import cdktn, constructs") == set()


def test_synth_waits_for_a_preload_still_running(monkeypatch):
    """The first synth joins the preload thread before importing cdktn itself, so it never meets the module while
    that thread is still executing it."""
    cdk._classes()  # CDK Terrain imported (no preload then)
    slow = threading.Thread(target=time.sleep, args=(0.5,))
    slow.start()
    monkeypatch.setattr(cdk, "_preloading", slow)
    cdk._classes.cache_clear()
    try:
        cdk._classes()
        assert not slow.is_alive()
    finally:
        slow.join()
        cdk._classes.cache_clear()


def test_a_name_is_taken_once_per_stack(tmp_path):
    """CDK Terrain construct ids are unique in a stack; infc keeps them so, so that a stack fits into a user's."""
    def build(stack):
        stack.provider("aws", *AWS)
        stack.add("aws_iam_role", "replica", name="r", assume_role_policy="{}")
        stack.add("aws_iam_instance_profile", "replica", role="r")

    with pytest.raises(ValueError, match="already a resource, data source or output named 'replica'"):
        synth(tmp_path, build)

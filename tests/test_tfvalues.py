"""Values for Terraform JSON (compiler/tfvalues.py): text is literal, references are checked and stay live, and
nothing turns a reference into text by accident. No CDK runtime needed."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.cdk import Block
from compiler.tfvalues import Expr, SchemaViolation, Text, hcl_string, json_text, render

TERRAFORM = shutil.which("terraform")
TEXT = st.lists(st.sampled_from([*"${}%~ab\\\"\n\t\r\x01\x7f", "${", "%{", "$${", "é", "\u2028"]),
                max_size=20).map("".join)


def lb() -> Block:
    return Block("resource", "aws_lb", "load_balancer", {})


def test_references_render_as_interpolations_of_the_address():
    vpc = Block("data", "aws_vpc", "default_vpc", {})
    assert render(lb().arn) == "${aws_lb.load_balancer.arn}"
    assert render(vpc.id) == "${data.aws_vpc.default_vpc.id}"
    ns = Block("resource", "kubernetes_namespace_v1", "namespace", {})
    assert render(ns.metadata[0].name) == "${kubernetes_namespace_v1.namespace.metadata[0].name}"


def test_a_reference_to_an_attribute_the_type_does_not_export_is_refused_when_written():
    with pytest.raises(SchemaViolation, match=r"aws_lb\.load_balancer\.arnn: .*aws_lb exports no such attribute"):
        lb().arnn
    ns = Block("resource", "kubernetes_namespace_v1", "namespace", {})
    with pytest.raises(SchemaViolation, match=r"metadata\.name"):
        ns.metadata.name  # a list of blocks: index it first
    with pytest.raises(SchemaViolation, match="data type aws_lb"):
        Block("data", "aws_lb", "x", {}).dns_names  # an attribute of neither the data source nor the resource


@pytest.mark.parametrize("misuse", [
    lambda ref: f"http://{ref}",
    lambda ref: "http://" + ref,
    lambda ref: ref + "/x",
    lambda ref: str(ref),
    lambda ref: json.dumps({"a": ref}),
    lambda ref: list(ref),
    lambda ref: "{}".format(ref),
])
def test_a_reference_cannot_become_text_by_accident(misuse):
    with pytest.raises(TypeError):
        misuse(lb().dns_name)


def test_text_joins_literal_text_and_references():
    bucket = "models ${x} %{y}"
    assert render(Text("http://{}:{}/{}", lb().dns_name, 8080, bucket)) == \
        "http://${aws_lb.load_balancer.dns_name}:8080/models $${x} %%{y}"
    nested = Text("{}/{}", Text("arn:{}", lb().arn_suffix), "b")
    assert render(nested) == "arn:${aws_lb.load_balancer.arn_suffix}/b"
    assert render(Text("{{literal}} {}", "${")) == "{literal} $${"
    with pytest.raises(TypeError, match="placeholders"):
        Text("{} {}", "one")


def test_expressions_quote_their_string_arguments_and_inline_references():
    assert render(Expr("base64decode({})", lb().arn)) == "${base64decode(aws_lb.load_balancer.arn)}"
    assert render(Expr("join({}, [{}, {}])", "/", "a\"b${c}", 3)) == '${join("/", ["a\\"b$${c}", 3])}'
    zones = Block("data", "google_compute_zones", "zones", {})
    inner = Expr("[for z in {} : z]", zones.names)
    assert render(Expr("length({}) > 0", inner)) == \
        "${length([for z in data.google_compute_zones.zones.names : z]) > 0}"
    assert render(Expr("{}", zones)) == "${data.google_compute_zones.zones}"  # the whole data source
    with pytest.raises(TypeError, match="cannot write dict"):
        render(Expr("f({})", {"a": 1}))


def test_map_keys_in_references_are_quoted_and_attribute_names_are_not():
    assert render(lb().tags_all["Name"]) == '${aws_lb.load_balancer.tags_all["Name"]}'
    assert render(lb().tags_all["a\"${b}"]) == '${aws_lb.load_balancer.tags_all["a\\\"$${b}"]}'


def test_json_text_is_json_dumps_with_live_references():
    policy = {"Version": "2012-10-17", "Statement": [{"Resource": "arn:aws:s3:::b/${x}*", "N": 1, "T": True}]}
    assert render(json_text(policy)) == json.dumps(policy, sort_keys=True).replace("${", "$${")
    partition = Block("data", "aws_partition", "partition", {}).partition
    text = render(json_text({"Resource": Text("arn:{}:s3:::{}", partition, 'b"é')}))
    assert text == '{"Resource": "arn:${data.aws_partition.partition.partition}:s3:::b\\"\\u00e9"}'


@pytest.mark.parametrize("value, error", [
    (float("nan"), ValueError), (float("inf"), ValueError), ({1: "a"}, TypeError), (object(), TypeError),
    (lb(), TypeError),  # a resource is not a value: reference one of its attributes
])
def test_values_without_a_terraform_json_form_are_refused(value, error):
    with pytest.raises(error):
        render(value)


def test_block_names_must_be_terraform_identifiers():
    with pytest.raises(ValueError, match="not a Terraform type and name"):
        Block("resource", "aws_lb", "load balancer", {})


@pytest.mark.skipif(TERRAFORM is None, reason="terraform not on PATH: cannot check how it reads the quoted strings")
@settings(max_examples=5, deadline=None, derandomize=True)
@given(st.lists(TEXT, min_size=1, max_size=40))
def test_terraform_reads_quoted_strings_in_expressions_back_as_written(tmp_path_factory, texts):
    """hcl_string(text) inside a hand-written expression (e.g. a resource group name in azureml's name hash) is the
    user's text exactly, quotes, backslashes, control characters and template sequences included."""
    work = tmp_path_factory.mktemp("hcl")
    outputs = {f"o{i}": {"value": render(Expr("join({}, [{}])", "", text))} for i, text in enumerate(texts)}
    (work / "main.tf.json").write_text(json.dumps({"output": outputs}))
    env = {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": str(work / "none.tfrc"),
           "PATH": "/usr/bin:/bin"}
    apply = subprocess.run([TERRAFORM, "apply", "-auto-approve", "-input=false", "-no-color"], cwd=work,
                           capture_output=True, text=True, env=env, timeout=120)
    assert apply.returncode == 0, apply.stderr
    shown = subprocess.run([TERRAFORM, "output", "-json"], cwd=work, capture_output=True, text=True, env=env,
                           timeout=60, check=True)
    assert [json.loads(shown.stdout)[f"o{i}"]["value"] for i in range(len(texts))] == texts


def test_hcl_string_escapes():
    assert hcl_string('a"b\\c\nd\x01${e}%{f}') == '"a\\"b\\\\c\\nd\\u0001$${e}%%{f}"'

"""`infc explain`: the recording stack holds what synth writes, prices come from the catalog, no Node is started,
and the formats hold together (a markdown table row per target, whatever the spec's strings)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from compiler import catalog, explain
from compiler.cli import main
from compiler.driver import compile_files
from compiler.recording import record
from tests.conftest import EXAMPLES, ROOT, examples_naming, spec_yaml

TARGETS = ["aws", "azure", "gcp", "kubernetes", "azureml", "gke", "eks", "aks", "aca"]
META = {"//", "depends_on", "lifecycle", "count", "for_each", "provider", "connection", "provisioner"}


def _blocks(document: dict, kind: str) -> dict[str, dict]:
    return {f"{type_name}.{name}": {k: v for k, v in attributes.items() if k not in META}
            for type_name, named in document.get(kind, {}).items() for name, attributes in named.items()}


def _drop_nulls(value):
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value if v is not None]
    return value


@pytest.mark.parametrize("target", TARGETS)
def test_recording_holds_the_resources_and_attributes_synth_writes(synth_for, target):
    """For every example and target: the same resources and data sources, by type and name, with the same
    attributes, as the real synth's cdk.tf.json; so explain's counts are synth's counts."""
    out = synth_for(target)
    checked = 0
    for example in examples_naming(target):
        for compiled in compile_files([str(example)], [target])[0]:
            recorded = record(compiled.service, compiled.service.target(target))
            document = json.loads((out / "stacks" / recorded.name / "cdk.tf.json").read_text())
            for kind, section in (("resource", "resource"), ("data", "data")):
                mine = {f"{b._type}.{b._name}": _drop_nulls({k: v for k, v in b._attributes.items() if k not in META})
                        for b in recorded.blocks if b._kind == kind}
                assert mine == _blocks(document, section), f"{recorded.name} {kind}"
                counts = {t: len(named) for t, named in sorted(document.get(section, {}).items())}
                assert recorded.counts(kind) == counts
            checked += 1
    assert checked >= 1


def _row_for(target: str, machine: dict) -> catalog.InstanceType:
    rows = [r for r in catalog.rows(catalog.CATALOG_OF[target]) if r.instance_type == machine["instance_type"]
            and r.accelerator == machine["accelerator"] and r.accelerator_count == machine["accelerator_count"]]
    assert len({(r.price_usd_hour, r.region, r.price_date) for r in rows}) == 1
    return rows[0]


def test_prices_are_the_catalog_price_times_replicas_hourly_and_monthly(capsys):
    assert main(["explain", *map(str, EXAMPLES), "--format", "json"]) == 0
    seen = set()
    bounds = {c.service.name: (c.service.min_replicas, c.service.max_replicas)
              for c in compile_files(list(map(str, EXAMPLES)))[0]}
    for service in json.loads(capsys.readouterr().out)["services"]:
        low, high = bounds[service["name"]]
        for t in service["targets"]:
            price = t["price"]
            if t["target"] in ("kubernetes", "aca"):  # no instance type: no catalog price, a note says why
                assert t["instance"] is None and set(price) == {"note"}
                assert price["note"] == explain.price_of(t["target"], None, None, None)[1]
                continue
            row = _row_for(t["target"], t["instance"])
            assert price["usd_per_hour_per_replica"] == row.price_usd_hour
            assert price["usd_per_hour"] == [round(row.price_usd_hour * low, 2), round(row.price_usd_hour * high, 2)]
            assert price["usd_per_month"] == [round(row.price_usd_hour * low * 730, 2),
                                              round(row.price_usd_hour * high * 730, 2)]
            assert (price["region"], price["price_date"], price["hours_per_month"]) == (row.region, row.price_date,
                                                                                        730)
            assert price["note"].startswith(f"{row.region} list price of {row.price_date}")
            seen.add(t["target"])
    assert seen == set(TARGETS) - {"kubernetes", "aca"}


def test_spot_and_an_instance_type_outside_the_catalog_are_said(tmp_path, capsys):
    (tmp_path / "spot.yaml").write_bytes(spec_yaml(hardware={"accelerator": "nvidia-l4", "spot": True}))
    (tmp_path / "given.yaml").write_bytes(spec_yaml(metadata={"name": "given"}, hardware={
        "accelerator": "nvidia-l4", "instance_types": {"aws": "g7.xlarge"}}))
    assert main(["explain", str(tmp_path / "spot.yaml"), str(tmp_path / "given.yaml"), "--format", "json"]) == 0
    spot, given = json.loads(capsys.readouterr().out)["services"]
    assert spot["targets"][0]["price"]["spot"] is True
    assert "on-demand price shown: spot capacity is billed at the current spot price" in \
        spot["targets"][0]["price"]["note"]
    assert given["targets"][0]["price"] == {"note": "g7.xlarge is not in the catalog: no price"}
    assert given["targets"][0]["why"] == "hardware.instance_types.aws"
    assert "is not in the aws catalog" in given["targets"][0]["warnings"][0]


def test_llama_text_names_the_choice_and_its_reason(capsys):
    assert main(["explain", "examples/llama-70b-a100.yaml", "--target", "aws"]) == 0
    out = capsys.readouterr().out
    assert "    instance   p4de.24xlarge: 8x nvidia-a100-80gb, 96 vCPUs, 1152 GiB\n" in out
    assert ("    why        the cheapest aws catalog type with 8x nvidia-a100-80gb, at least 64 vCPUs and at least "
            "512 GiB of memory (x86_64), sold on-demand\n") in out
    assert "    resources  17: aws_autoscaling_group," in out
    # hf:// weights: no S3 read grant, so no aws_partition lookup
    assert "2x aws_lb_listener" in out and "data sources: aws_ami, aws_subnets, aws_vpc\n" in out


def test_markdown_has_one_row_per_target_whatever_the_strings(tmp_path, capsys):
    hostile = "m|x <b>`*[a](b)"
    (tmp_path / "s.yaml").write_bytes(spec_yaml(model={"name": hostile, "image": "vllm/vllm-openai:v0.6.3"},
                                                targets={"aws": {"region": "us-east-1"}, "kubernetes": {}}))
    assert main(["explain", str(tmp_path / "s.yaml"), "--format", "markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines.index("| target | instance type | per replica | replicas | $/hour | $/month (730 h) | "
                         "resources | warnings |")
    rows = lines[header + 2:header + 4]
    assert [r.split(" | ")[0] for r in rows] == ["| aws", "| kubernetes"]
    for row in rows:  # an unescaped '|' would add a cell
        assert len(row.replace("\\|", "").split("|")) == 10
    model_line = lines[header - 2]
    assert "m\\|x &#60;b&#62;\\`\\*\\[a\\](b)" in model_line and "<b>" not in model_line


def test_explain_never_starts_the_cdk_runtime():
    code = ("import sys; from compiler.cli import main; rc = main(['explain', *sys.argv[1:]]); "
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('jsii', 'cdktn', 'constructs')]; "
            "print(loaded, file=sys.stderr); sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code, *map(str, EXAMPLES)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "[]"


def test_an_invalid_spec_is_exit_2_with_located_errors(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_bytes(spec_yaml(replicas={"min": 3, "max": 2}))
    assert main(["explain", str(tmp_path / "bad.yaml")]) == 2
    assert f"{tmp_path / 'bad.yaml'}:" in capsys.readouterr().err


def test_views_follow_the_compiled_services():
    compiled, _ = compile_files([str(ROOT / "examples" / "two-services.yaml")])
    views = [explain.view(c) for c in compiled]
    assert [v.name for v in views] == ["chat", "guard"]
    assert [t.target for t in views[1].targets] == ["aws", "gcp", "kubernetes"]
    assert all(w.startswith(f"{views[1].file}:") for t in views[1].targets for w in t.warnings)


def test_listeners_are_those_the_target_serves(capsys):
    """The llama spec lists https :443 and a redirect from :80; an Azure ML endpoint serves only its HTTPS scoring
    URI (and warns about the other listener), so explain must not show the redirect there."""
    assert main(["explain", "examples/llama-70b-a100.yaml", "--target", "aws,azureml", "--format", "json"]) == 0
    [service] = json.loads(capsys.readouterr().out)["services"]
    listeners = {t["target"]: t["listeners"] for t in service["targets"]}
    assert listeners == {"aws": ["https :443", "http :80 -> redirect to :443"],
                         "azureml": ["https :443, the endpoint's scoring URI"]}

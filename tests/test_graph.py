"""`infc graph`: for every example and target the Mermaid output parses (a strict parser of the flowchart subset
infc writes, after https://mermaid.js.org/syntax/flowchart.html) and the DOT output parses with pydot (a real DOT
parser, pinned in the dev extras); every resource drawn is in the synthesized stack, under its address; the request
path leads from the clients to the replicas; spec strings cannot break either format."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from compiler import graph
from compiler.cli import main
from compiler.driver import compile_files
from tests.conftest import examples_naming, require, spec_yaml

TARGETS = ["aws", "azure", "gcp", "kubernetes", "azureml", "gke"]
# pydot 4.0.1 calls pyparsing's pre-3.0 names, which pyparsing 3.3 marks deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated.*:DeprecationWarning")

_HEADER = re.compile(r"flowchart (LR|RL|TB|TD|BT)")
_ID = r"[A-Za-z][A-Za-z0-9_]*"
# Label text: entity codes (#35; or #quot;), <br/> line breaks, and characters without meaning in a quoted label.
_TEXT = r'(?:#[0-9]+;|#[a-z]+;|<br/>|[^"<>#\[\]{}()|;`])*'
_NODE = re.compile(rf'  ({_ID})(\["|\(\["|\[\(")({_TEXT})("\]|"\]\)|"\)\])')
_EDGE = re.compile(rf'  ({_ID}) (-->|-\.->)(?:\|"({_TEXT})"\|)? ({_ID})')
_SHAPES = {'["': '"]', '(["': '"])', '[("': '")]'}


def parse_mermaid(text: str) -> tuple[dict[str, list[str]], list[tuple[str, str, str, str]]]:
    """{node id: label lines (entities decoded)} and [(from, arrow, label, to)]; AssertionError on anything else."""
    lines = text.split("\n")
    assert _HEADER.fullmatch(lines[0]), lines[0]
    nodes: dict[str, list[str]] = {}
    edges = []
    for line in lines[1:]:
        if match := _NODE.fullmatch(line):
            node, opening, label, closing = match.groups()
            assert _SHAPES[opening] == closing and node not in nodes, line
            nodes[node] = [_decode(part) for part in label.split("<br/>")]
        elif match := _EDGE.fullmatch(line):
            source, arrow, label, target = match.groups()
            assert source in nodes and target in nodes, f"edge before its nodes: {line}"
            edges.append((source, arrow, _decode(label or ""), target))
        else:
            raise AssertionError(f"not a Mermaid flowchart statement: {line!r}")
    return nodes, edges


def _decode(text: str) -> str:
    return re.sub(r"#([0-9]+);", lambda m: chr(int(m.group(1))), text)


def _addresses(document: dict) -> set[str]:
    return {f"data.{t}.{n}" if kind == "data" else f"{t}.{n}"
            for kind in ("resource", "data") for t, named in document.get(kind, {}).items() for n in named}


def _reaches(edges, start: str, goal: set[str]) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node in goal:
            return True
        seen.add(node)
        todo += [t for s, arrow, _, t in edges if s == node and arrow == "-->" and t not in seen]
    return False


def _cases():
    for target in TARGETS:
        for example in examples_naming(target):
            for compiled in compile_files([str(example)], [target])[0]:
                yield target, compiled.service


@pytest.mark.parametrize("everything", [False, True], ids=["request-path", "all"])
@pytest.mark.parametrize("target", TARGETS)
def test_mermaid_parses_and_names_every_resource_it_draws(synth_for, target, everything):
    for case_target, service in _cases():
        if case_target != target:
            continue
        name = f"{service.name}-{target}"
        document = json.loads((synth_for(target) / "stacks" / name / "cdk.tf.json").read_text())
        drawn = graph.build(name, document, service, everything=everything)
        nodes, edges = parse_mermaid(graph.mermaid(drawn))
        resources = {n.id: n.address for n in drawn.nodes if n.address}
        for node, address in resources.items():
            assert nodes[node][0] == address and address in _addresses(document)
        if everything:
            assert set(resources.values()) == _addresses(document)
        replicas = {n.id for n in drawn.nodes if n.role == "replicas"}
        assert replicas and _reaches(edges, "client", replicas), f"{name}: no request path to the replicas"
        for source, _, _, target_id in edges:  # every edge between resources is a link in the stack
            if source in resources and target_id in resources:
                pair = {resources[source], resources[target_id]}
                assert any(pair == {a, b} for a, b in graph.references(document)), pair


def test_dot_parses_with_a_real_parser_and_draws_the_same_nodes(synth_for):
    require(importlib.util.find_spec("pydot"), "pydot is not installed: the README set-up installs it (dev)")
    import pydot

    for target, service in _cases():
        name = f"{service.name}-{target}"
        document = json.loads((synth_for(target) / "stacks" / name / "cdk.tf.json").read_text())
        drawn = graph.build(name, document, service, everything=True)
        [parsed] = pydot.graph_from_dot_data(graph.dot(drawn))
        assert parsed.get_name().strip('"') == name
        labels = {n.get_name().strip('"'): n.get("label") for n in parsed.get_nodes() if n.get("label")}
        assert set(labels) == {n.id for n in drawn.nodes}
        for node in drawn.nodes:
            if node.address:
                assert labels[node.id].strip('"').split("\\n")[0] == node.address
        assert len(parsed.get_edges()) == len(drawn.edges)


def test_spec_strings_cannot_break_either_format(tmp_path, capsys):
    """Model URIs are now one of five forms (compiler/values.py), but a label may still hold any text: hostile text in
    a node and an edge label stays that label's text in Mermaid and in DOT."""
    hostile = 'x/"]) --> evil["<script>#1;|;`{}\\n%%\n'
    drawn = graph.Graph("s", (graph.Node("model", "", "model", ("model", hostile), "store"),
                              graph.Node("client", "", "client", ("clients",), "client")),
                        (graph.Edge("client", "model", True, hostile),))
    nodes, edges = parse_mermaid(graph.mermaid(drawn))
    assert nodes["model"] == ["model", hostile] and [e[2] for e in edges] == [hostile]
    require(importlib.util.find_spec("pydot"), "pydot is not installed: the README set-up installs it (dev)")
    import pydot

    [parsed] = pydot.graph_from_dot_data(graph.dot(drawn))
    [model] = [n for n in parsed.get_nodes() if n.get_name().strip('"') == "model"]
    label = model.get("label")[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    assert label == "model\\n" + hostile.replace("\n", " ")
    # and from a spec, end to end: the model node names the URI the replicas download
    uri = "hf://Org-1/model.v2@main"
    (tmp_path / "s.yaml").write_bytes(spec_yaml(model={"name": "m", "image": "vllm/vllm-openai:v0.6.3", "uri": uri,
                                                       "args": ["--model", "/mnt/models"]},
                                                targets={"kubernetes": {}}))
    assert main(["graph", str(tmp_path / "s.yaml"), "--target", "kubernetes"]) == 0
    nodes, _ = parse_mermaid(capsys.readouterr().out.rstrip("\n"))
    assert nodes["model"] == ["model", uri]


def test_llama_on_aws_draws_listeners_balancer_target_group_and_replicas(capsys):
    assert main(["graph", "examples/llama-70b-a100.yaml", "--target", "aws"]) == 0
    nodes, edges = parse_mermaid(capsys.readouterr().out.rstrip("\n"))
    by_address = {lines[0]: node for node, lines in nodes.items()}
    listener, balancer = by_address["aws_lb_listener.listener_443"], by_address["aws_lb.load_balancer"]
    group, replicas = by_address["aws_lb_target_group.target_group"], by_address["aws_autoscaling_group.autoscaling_group"]
    assert nodes[by_address["aws_lb_listener.listener_80"]][1:] == ["HTTP :80", "redirect to :443"]
    assert nodes[by_address["aws_launch_template.launch_template"]][1:] == ["p4de.24xlarge"]
    assert {(listener, "-->", "", balancer), (listener, "-->", "", group), (group, "-->", "", replicas)} <= set(edges)
    assert (replicas, "-.->", "MODEL_URI", "model") in edges


def test_a_file_with_several_services_needs_service(capsys):
    assert main(["graph", "examples/two-services.yaml", "--target", "kubernetes"]) == 2
    assert "name one with --service" in capsys.readouterr().err
    assert main(["graph", "examples/two-services.yaml", "--target", "kubernetes", "--service", "gaurd"]) == 2
    assert "did you mean 'guard'?" in capsys.readouterr().err


@pytest.mark.parametrize("page", ["aws", "azure", "gcp", "kubernetes", "azureml", "gke", "README"])
def test_each_target_page_and_the_readme_show_the_current_picture(page):
    """docs/targets/<t>.md holds `infc graph` of the llama example for that target, README.md the aws one;
    regenerate with `python -m compiler.pictures`."""
    from compiler import pictures

    path = pictures.ROOT / ("README.md" if page == "README" else f"docs/targets/{page}.md")
    assert pictures.picture(pictures.pages()[path]) in path.read_text(encoding="utf-8"), \
        "stale: run `python -m compiler.pictures`"

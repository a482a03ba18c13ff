"""The `infc` command line: synth, validate, schema; exit 0 ok, 1 differs (--check), 2 invalid input."""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import sys
import tempfile

from compiler import output, schema
from compiler.errors import CompileError, Diagnostic, render_all, suggest
from compiler.spec import TargetName

EXIT_OK, EXIT_DIFFERS, EXIT_INVALID, EXIT_INTERNAL = 0, 1, 2, 3
TARGETS = list(TargetName.__args__)


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="infc",
        description="Compile provider-neutral inference-service specs into Terraform JSON (CDKTF layout).",
        epilog="Exit codes: 0 ok, 1 differs from disk (--check), 2 invalid input. Docs: README.md.")
    top.add_argument("--version", action="version", version=f"infc {_version()}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fmt = argparse.ArgumentParser(add_help=False)
    fmt.add_argument("--format", choices=["text", "json"], default="text",
                     help="how errors and warnings are printed on stderr: gcc-style lines (default) or a JSON list")

    synth = sub.add_parser("synth", parents=[fmt], help="validate, lower and write Terraform JSON",
                           description="Validate SPEC files and write one Terraform JSON stack per service and "
                           "target: OUT/stacks/<name>-<target>/cdk.tf.json, plus OUT/manifest.json. An existing "
                           "OUT is replaced whole; nothing is written when any input is invalid.")
    synth.add_argument("specs", nargs="+", metavar="SPEC", help="spec files (YAML; several documents allowed)")
    synth.add_argument("--target", action="append", metavar="T[,T...]",
                       help=f"only these targets ({', '.join(TARGETS)}); default: every target under targets:")
    synth.add_argument("--out", default="cdktf.out", metavar="DIR", help="output directory (default: cdktf.out)")
    synth.add_argument("--check", action="store_true",
                       help="compare with OUT instead of writing: exit 0 same, 1 differs")

    validate = sub.add_parser("validate", parents=[fmt], help="validate only (fast: never starts the CDK runtime)",
                              description="Check SPEC files against every rule, including each named target's "
                              "limits, without generating anything.")
    validate.add_argument("specs", nargs="+", metavar="SPEC")
    validate.add_argument("--target", action="append", metavar="T[,T...]", help="only check these targets")

    sch = sub.add_parser("schema", help="print or write the JSON Schema of the spec",
                         description="The JSON Schema editors and pull-request checks validate specs with.")
    sch.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    sch.add_argument("--check", action="store_true",
                     help=f"compare with FILE (default {schema.DEFAULT_PATH}): exit 0 same, 1 differs")
    return top


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("infc")
    except PackageNotFoundError:
        return "unknown"


def _targets(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    bad = [Diagnostic(f"--target: unknown target '{n}'{suggest(n, TARGETS)} (targets: {', '.join(TARGETS)})")
           for n in names if n not in TARGETS]
    if bad:
        raise CompileError(bad)
    return list(dict.fromkeys(names))


def _report(diagnostics: list[Diagnostic], fmt: str) -> None:
    if diagnostics or fmt == "json":
        print(render_all(diagnostics, fmt), file=sys.stderr)


def _synth(args) -> int:
    from compiler.driver import compile_files

    compiled, warnings = compile_files(args.specs, _targets(args.target))
    _report(warnings, args.format)
    import targets as backends
    from compiler import cdk

    stacks = [(f"{c.service.name}-{t.name}", _builder(backends.backend(t.name), c.service, t))
              for c in compiled for t in c.service.targets]
    if args.check:
        with tempfile.TemporaryDirectory(prefix="infc-check-") as tmp:
            cdk.synth(stacks, tmp)
            diffs = output.differences(tmp, args.out)
        for line in diffs:
            print(f"{args.out}: {line}")
        return EXIT_DIFFERS if diffs else EXIT_OK
    staged = output.staging_dir(args.out)
    try:
        cdk.synth(stacks, staged)
        output.replace_dir(staged, args.out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    for name, _ in stacks:
        print(pathlib.Path(args.out, "stacks", name, "cdk.tf.json"))
    return EXIT_OK


def _builder(backend, service, target):
    return lambda stack: backend.emit(stack, service, target)


def _validate(args) -> int:
    from compiler.driver import compile_files

    compiled, warnings = compile_files(args.specs, _targets(args.target))
    _report(warnings, args.format)
    if args.format == "text":
        stacks = sum(len(c.service.targets) for c in compiled)
        print(f"ok: {len(compiled)} service(s), {stacks} stack(s)")
    return EXIT_OK


def _schema(args) -> int:
    text = schema.text()
    if args.check:
        path = pathlib.Path(args.out or schema.DEFAULT_PATH)
        same = path.is_file() and path.read_text(encoding="utf-8") == text
        if not same:
            print(f"{path}: differs from the generated schema; run: infc schema --out {path}", file=sys.stderr)
        return EXIT_OK if same else EXIT_DIFFERS
    if args.out:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = {"synth": _synth, "validate": _validate, "schema": _schema}[args.command]
    try:
        return command(args)
    except CompileError as exc:
        _report(exc.diagnostics, getattr(args, "format", "text"))
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug in infc, not in the input: say so plainly
        if os.environ.get("INFC_DEBUG"):
            raise
        print(f"infc: internal error: {type(exc).__name__}: {exc} (set INFC_DEBUG=1 for a traceback; "
              "please report it)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

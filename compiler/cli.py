"""The `infc` command line: synth, validate, schema; exit 0 ok, 1 differs (--check), 2 invalid input."""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import json
import os
import pathlib
import sys
import tempfile

import targets as backends
from compiler import output, schema, scratch, transaction
from compiler.errors import CompileError, Diagnostic, Loc, render_all, suggest

EXIT_OK, EXIT_DIFFERS, EXIT_INVALID, EXIT_INTERNAL = 0, 1, 2, 3
TARGETS = backends.available()
# Failures of the machine rather than of infc: a full disk or quota, a read-only or forbidden place, a name too long.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG,
                      errno.EIO, errno.EFBIG, errno.EPIPE}


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="infc",
        description="Compile provider-neutral inference-service specs into Terraform JSON (CDKTF layout).",
        epilog="Exit codes: 0 ok, 1 differs from disk (--check), 2 invalid input. Docs: README.md and docs/.")
    top.add_argument("--version", action="version", version=f"infc {_version()}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fmt = argparse.ArgumentParser(add_help=False)
    fmt.add_argument("--format", choices=["text", "json", "github"], default="text",
                     help="text (default): gcc-style error lines on stderr; json: a JSON list of them on stderr and "
                     "one JSON document of the result on stdout; github: GitHub Actions annotations "
                     "(::error file=...,line=...,col=...::message) on stdout, for pull-request checks")

    synth = sub.add_parser("synth", parents=[fmt], help="validate, lower and write Terraform JSON",
                           description="Validate SPEC files and write one Terraform JSON stack per service and "
                           "target: OUT/stacks/<name>-<target>/cdk.tf.json, plus OUT/manifest.json. Only the files "
                           "infc generated are replaced (Terraform state, .terraform/ and your own files are kept), "
                           "all together or not at all; nothing is written when any input is invalid. SPEC '-' "
                           "reads standard input.")
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

    explain = sub.add_parser("explain", help="what synth would emit per target: instance type, price, resources",
                             description="For each service and target, without generating anything and without "
                             "starting the CDK runtime: the instance type chosen and why, replicas, the catalog price "
                             "per hour and per month (730 h), the front end and probes, the resources synth would "
                             "emit, and the warnings. --format markdown prints the table a pull-request comment shows.")
    explain.add_argument("specs", nargs="+", metavar="SPEC")
    explain.add_argument("--target", action="append", metavar="T[,T...]", help="only these targets")
    explain.add_argument("--format", choices=["text", "json", "markdown"], default="text",
                         help="text (default), json (one document on stdout) or markdown (a table per service)")

    graph = sub.add_parser("graph", help="draw the architecture of one stack (Mermaid or DOT)",
                           description="Synthesize one stack and draw it from its resources and their references: "
                           "client, listeners, load balancer, backend and health check, replicas, autoscaling and the "
                           "model source. Mermaid renders in GitHub pull requests and READMEs; DOT in Graphviz.")
    graph.add_argument("spec", metavar="SPEC")
    graph.add_argument("--target", required=True, choices=TARGETS, metavar="T", help=f"one of {', '.join(TARGETS)}")
    graph.add_argument("--service", metavar="NAME", help="the service (metadata.name) when SPEC holds several")
    graph.add_argument("--format", choices=["mermaid", "dot"], default="mermaid", help="mermaid (default) or dot")
    graph.add_argument("--all", action="store_true",
                       help="draw every resource and data source, and depends_on, not only the request path")

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
    if values is None:
        return None
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names:
        # An unset shell variable (`--target "$TARGETS"`) must not select nothing and then replace the output.
        raise CompileError([Diagnostic(f"--target: no target named (got {' '.join(map(repr, values))}); name one or "
                                       f"more of {', '.join(TARGETS)}, or leave --target out for every target")])
    bad = [Diagnostic(f"--target: unknown target '{n}'{suggest(n, TARGETS)} (targets: {', '.join(TARGETS)})")
           for n in names if n not in TARGETS]
    if bad:
        raise CompileError(bad)
    return list(dict.fromkeys(names))


def _report(diagnostics: list[Diagnostic], fmt: str) -> None:
    if fmt == "github":  # workflow commands go to stdout, where every runner reads them (as ruff and flake8 write)
        if diagnostics:
            print(render_all(diagnostics, fmt), flush=True)
    elif diagnostics or fmt == "json":
        print(render_all(diagnostics, fmt), file=sys.stderr, flush=True)  # before the summary on stdout


def _result(args, text_lines: list[str], data: dict) -> None:
    """What a command prints on stdout: lines of text, or one JSON document with --format json."""
    if getattr(args, "format", "text") == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
    elif text_lines:
        print("\n".join(text_lines))


def _synth(args) -> int:
    only = _targets(args.target)
    out = output.check_path(args.out, args.specs)
    output.read_owned(out)  # refuse a directory infc did not write before touching it, even with a lock file
    from compiler import cdk

    scratch.directory()  # first: the jsii runtime Node loads from goes into it too
    cdk.preload()  # Node starts while the specs are read (an invalid spec then waits for it before exiting)
    from compiler.driver import compile_files

    compiled, warnings = compile_files(args.specs, only)
    from compiler.recording import build, stack_name

    stacks = [(stack_name(c.service, t), functools.partial(build, service=c.service, target=t))
              for c in compiled for t in c.service.targets]
    targets_of = {stack_name(c.service, t): t.name for c in compiled for t in c.service.targets}
    scope = set(only) if only else None
    if args.check:
        owned = output.read_owned(out)
        with tempfile.TemporaryDirectory(prefix="check-") as tmp:
            cdk.synth(stacks, tmp)
            planned = output.plan(out, owned, _files(tmp), targets_of, scope)
        diffs = output.differences(out, owned, planned)
        _report(warnings + planned.warnings, args.format)
        if args.format == "github":  # each stale file as an annotation, so the check says what to run
            for line in diffs:
                what, _, rel = line.partition(": ")
                _report([Diagnostic(f"{what}: infc synth would write this differently; run infc synth "
                                    f"{' '.join(args.specs)} --out {output.display(args.out)} and commit the result",
                                    Loc(output.display(pathlib.Path(args.out, rel.split(" ")[0])), 1, 1))], "github")
        _result(args, [f"{output.display(args.out)}: {line}" for line in diffs],
                {"same": not diffs, "differences": diffs})
        return EXIT_DIFFERS if diffs else EXIT_OK
    try:
        with transaction.signals_interrupt(), transaction.writing(out) as txn, _progress(args, len(stacks)):
            owned = output.read_owned(out)
            with tempfile.TemporaryDirectory(prefix="synth-") as work:  # in the scratch directory, not in --out
                cdk.synth(stacks, work)
                generated = _files(work)
            planned = output.plan(out, owned, generated, targets_of, scope)
            changed = transaction.apply(out, txn, planned)
    except OSError as exc:
        if exc.errno not in ENVIRONMENT_ERRNOS:
            raise
        raise transaction.environment_error(exc, output.display(args.out)) from None
    _report(warnings + planned.warnings + output.leftovers(out), args.format)
    written = [output.display(pathlib.Path(args.out, "stacks", name, "cdk.tf.json")) for name, _ in stacks]
    table = _summary(compiled, generated, written) if args.format == "text" else written
    _result(args, table, {"stacks": written, "changed": changed, "kept": planned.kept})
    return EXIT_OK


@contextlib.contextmanager
def _progress(args, count: int):
    """A line on stderr when synth takes more than a second, for a person at a terminal (not in json or github
    output, nor when stderr is a file or pipe)."""
    import threading

    if args.format != "text" or not sys.stderr.isatty():
        yield
        return
    timer = threading.Timer(1.0, lambda: print(f"infc: synthesizing {count} stack(s) with CDK Terrain...",
                                               file=sys.stderr, flush=True))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _summary(compiled, generated: dict[str, bytes], written: list[str]) -> list[str]:
    """The table synth ends with: each stack's file, resources, instance type and catalog $/hour for min-max
    replicas (infc explain says more)."""
    from compiler import explain
    from compiler.recording import stack_name

    rows = [("stack", "resources", "instance type", "$/hour")]
    for path, (c, t) in zip(written, [(c, t) for c in compiled for t in c.service.targets], strict=True):
        document = json.loads(generated[f"stacks/{stack_name(c.service, t)}/cdk.tf.json"])
        count = sum(len(named) for named in document.get("resource", {}).values())
        # With variants, each variant's type and the sum of their prices.
        runs = [(f"{v.name}: ", v.service, v.service.target(t.name)) for v in c.service.variants] \
            or [("", c.service, t)]
        prices = [explain.price_of(t.name, service, own.machine, None)[0] for _, service, own in runs]
        cost = explain.usd(*(sum(p.hourly[i] for p in prices) for i in (0, 1))) if all(prices) else "-"
        none = "(workload profile)" if t.name in explain.NO_MACHINE else "(cluster nodes)"
        types = ", ".join(label + (own.machine.instance_type if own.machine else none) for label, _, own in runs)
        rows.append((path, str(count), types, cost))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) if i in (0, 2) else cell.rjust(w) for i, (cell, w) in
                       enumerate(zip(row, widths, strict=True))).rstrip() for row in rows]
    return lines + ["prices: catalog list prices of the instances only; `infc explain` gives dates, regions and "
                    "the rest"]


def _files(root: str | pathlib.Path) -> dict[str, bytes]:
    base = pathlib.Path(root)
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def _validate(args) -> int:
    from compiler.driver import compile_files

    compiled, warnings = compile_files(args.specs, _targets(args.target))
    _report(warnings, args.format)
    stacks = sum(len(c.service.targets) for c in compiled)
    counted = f", {len(warnings)} warning(s) above" if warnings else ""
    fallback = _fallback(compiled)
    lines = [f"{stack} ({how}): {', '.join(types)}" for stack, (how, types) in fallback.items()]
    _result(args, [f"ok: {len(compiled)} service(s), {stacks} stack(s){counted}"]
            + (["capacity fallback, instance types in order of preference:", *lines] if lines else []),
            {"ok": True, "services": len(compiled), "stacks": stacks, "warnings": len(warnings),
             # Only with a capacity fallback, so the document of every other spec stays as it was.
             **({"fallback": {stack: {"mechanism": how, "instance_types": types}
                              for stack, (how, types) in fallback.items()}} if fallback else {})})
    return EXIT_OK


def _fallback(compiled) -> dict[str, tuple[str, list[str]]]:
    """Per stack with a capacity fallback (hardware.flexible, alternatives, a list of instance types), and per variant
    of a stack ("<stack> <variant>") with one: the platform's mechanism (the backend's FALLBACK) and every instance
    type, in order of preference."""
    import targets as backends

    runs = [(f"{c.service.name}-{t.name}", t) for c in compiled for t in c.service.targets if not c.service.variants]
    runs += [(f"{c.service.name}-{t.name} {v.name}", v.service.target(t.name)) for c in compiled
             for t in c.service.targets for v in c.service.variants]
    return {stack: (backends.backend(t.name).FALLBACK, [m.instance_type for m in t.machines])
            for stack, t in runs if t.fallback}


def _explain(args) -> int:
    from compiler import explain
    from compiler.driver import compile_files

    compiled, _ = compile_files(args.specs, _targets(args.target))  # warnings are part of the explanation
    views = [explain.view(c) for c in compiled]
    if args.format == "json":
        print(json.dumps(explain.as_json(views), indent=2, sort_keys=True))
    else:
        print(explain.markdown(views) if args.format == "markdown" else explain.text(views))
    return EXIT_OK


def _graph(args) -> int:
    from compiler import api, graph

    compiled, _ = api.compile_spec(pathlib.Path(args.spec), [args.target])
    chosen = [c for c in compiled if args.service in (None, c.service.name)]
    if len(chosen) != 1:
        names = ", ".join(c.service.name for c in compiled)
        raise CompileError([Diagnostic(f"--service: {args.spec} has the services {names} with targets.{args.target}; "
                                       "name one with --service" if not args.service else
                                       f"--service {args.service}: no such service with targets.{args.target} in "
                                       f"{args.spec}{suggest(args.service, [c.service.name for c in compiled])}")])
    service = chosen[0].service
    name = f"{service.name}-{args.target}"
    document = api.synthesize(pathlib.Path(args.spec), [args.target]).stacks[name]
    drawn = graph.build(name, document, service, everything=args.all)
    print(graph.mermaid(drawn) if args.format == "mermaid" else graph.dot(drawn))
    return EXIT_OK


def _schema(args) -> int:
    text = schema.text()
    if args.check:
        path = pathlib.Path(args.out or schema.DEFAULT_PATH)
        same = path.is_file() and path.read_text(encoding="utf-8") == text
        if not same:
            print(f"{output.display(path)}: differs from the generated schema; run: infc schema --out "
                  f"{output.display(path)}", file=sys.stderr)
        return EXIT_OK if same else EXIT_DIFFERS
    if args.out:
        _write_file(args.out, text.encode())
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _write_file(name: str, content: bytes) -> None:
    """Write a file whole (a temporary file renamed over it), or raise a located CompileError."""
    path = pathlib.Path(name)
    if path.is_dir():
        raise CompileError([Diagnostic(f"--out {output.display(name)}: is a directory; give a file name, e.g. "
                                       f"{output.display(path / 'infc.schema.json')}")])
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp:
            pathlib.Path(tmp).unlink(missing_ok=True)
        raise transaction.environment_error(exc, output.display(name)) from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = {"synth": _synth, "validate": _validate, "explain": _explain, "graph": _graph,
               "schema": _schema}[args.command]
    fmt = getattr(args, "format", "text")
    try:
        code = command(args)
        sys.stdout.flush()
        return code
    except CompileError as exc:
        _report(exc.diagnostics, fmt)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except transaction.Interrupted as exc:
        return 128 + exc.args[0]
    except BrokenPipeError:
        # stdout went away (`infc schema | head`): nothing left to tell; keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_INVALID
    except OSError as exc:
        if exc.errno in ENVIRONMENT_ERRNOS:  # the machine, not infc: a full disk, /dev/full as stdout...
            where = output.display(exc.filename) if exc.filename else "standard output"
            _report([Diagnostic(f"cannot write {where}: {exc.strerror}")], fmt)
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_INVALID
        return _internal(exc, fmt)
    except Exception as exc:  # a bug in infc, not in the input: say so plainly
        return _internal(exc, fmt)



def _internal(exc: Exception, fmt: str) -> int:
    if os.environ.get("INFC_DEBUG"):
        raise exc
    if "ENOSPC" in str(exc):  # the CDK runtime (Node) found the temporary directory full
        _report([Diagnostic(f"cannot write temporary files in {output.display(tempfile.gettempdir())}: no space left "
                            "on device (set TMPDIR to another place); nothing was changed")], fmt)
        return EXIT_INVALID
    message = (f"internal error: {type(exc).__name__}: {exc} (set INFC_DEBUG=1 for a traceback; please report "
               "it)")
    if fmt == "json":
        _report([Diagnostic(message)], fmt)
    else:
        print(f"infc: {message}", file=sys.stderr)
    return EXIT_INTERNAL


def run() -> None:
    """The `infc` command: main(), then exit without tearing the interpreter down. Once the output is written and
    flushed, and every thread and exit handler (the CDK runtime's Node, the scratch directory) has finished, freeing
    each object of the CDK, pydantic and catalog modules one by one only delays the prompt (about 0.2 s). The cyclic
    garbage collector runs every 20,000 allocations instead of 700: building the pydantic models and CDK Terrain's
    classes allocates in bulk and frees little, and collecting after every 700 cost 0.1 s of a 1 s synth (the
    largest process stays the same size: benchmarks/run.py)."""
    import atexit
    import gc
    import threading

    gc.set_threshold(20_000, 50, 1000)
    code = main()
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    try:
        sys.stdout.flush()
    except OSError:  # stdout went away or filled up: the exit code already says what happened
        pass
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)


if __name__ == "__main__":
    run()

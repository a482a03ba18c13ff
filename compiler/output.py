"""The output directory: what infc owns in it, where it refuses to write, and the plan of a re-synth.

infc owns only the files it generated (listed in `DIR/.infc-output.json`); Terraform's state, `.terraform/`, lock
and plan files and anything a user put in the tree are never touched. A stack that is no longer generated is deleted
only when its directory holds nothing but infc's files; otherwise it is kept, with a warning saying how to destroy it.
The transactional write itself is in compiler/transaction.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib

from compiler.errors import CompileError, Diagnostic

MARKER = ".infc-output.json"  # what infc generated here: proof of ownership and the list it replaces next time
LOCK = ".infc-lock"  # flock()ed by the writer; never deleted (deleting a lock file races with its next user)
TXN = ".infc-txn"  # a write in progress: staged files, backups, journal; rolled back by the next run if left
OWN_NAMES = frozenset({MARKER, LOCK, TXN})
MANIFEST = "manifest.json"
FORMAT = 1


def out_error(out: str, message: str) -> CompileError:
    return CompileError([Diagnostic(f"--out {display(out)}: {message}")])


def display(path: str | os.PathLike) -> str:
    """A path as the user can read it: bytes that are not UTF-8 shown as \\xNN, not as lone surrogates."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@dataclasses.dataclass(frozen=True)
class StackInfo:
    target: str
    files: tuple[str, ...]  # relative to the output directory
    manifest: dict  # the stack's entry of manifest.json


@dataclasses.dataclass
class Owned:
    """What the marker says infc wrote into the directory (empty for a new directory)."""

    stacks: dict[str, StackInfo]
    adopted: bool = False  # read from an output of infc before markers (manifest.json + stacks/*/cdk.tf.json)

    def files(self) -> set[str]:
        return {MANIFEST, *(f for s in self.stacks.values() for f in s.files)} if self.stacks or self.adopted else set()


def check_path(out: str, specs: list[str]) -> pathlib.Path:
    """Refuse, before any work, an --out that cannot be or must not be infc's directory: a file, a path under a file,
    a dangling link, the root, the home or working directory or one of their parents, a folder holding a spec or a
    repository."""
    path = pathlib.Path(os.path.abspath(out))
    if os.path.islink(out) and not os.path.exists(out):
        raise out_error(out, f"is a symbolic link to {display(os.readlink(out))}, which does not exist")
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            raise out_error(out, f"{display(parent)} is a file, not a directory")
    if path.exists() and not path.is_dir():
        raise out_error(out, "exists and is not a directory; infc writes a directory of stacks there")
    real = pathlib.Path(os.path.realpath(path))
    cwd = pathlib.Path(os.path.realpath(os.getcwd()))
    home = pathlib.Path(os.path.realpath(os.path.expanduser("~")))
    reason = None
    if real == pathlib.Path(real.anchor):
        reason = "is the root directory"
    elif real == cwd or real in cwd.parents:
        reason = "is the working directory or one of its parents"
    elif real == home or real in home.parents:
        reason = "is the home directory or one of its parents"
    elif (real / ".git").exists():
        reason = "is the root of a repository"
    else:
        for spec in specs:
            if spec == "-":
                continue
            folder = pathlib.Path(os.path.realpath(spec)).parent
            if real == folder or real in folder.parents:
                reason = f"holds the spec {display(spec)}"
                break
    if reason:
        raise out_error(out, f"{reason}; infc replaces the files it generates there, so give it a directory of its "
                             "own, e.g. --out cdktf.out")
    return path


def read_owned(out: pathlib.Path) -> Owned:
    """What infc owns in `out`. Refuses a non-empty directory that infc did not write."""
    if not out.exists():
        return Owned({})
    marker = out / MARKER
    if marker.is_file():
        return _parse_marker(out, marker)
    foreign = sorted(p.name for p in out.iterdir() if p.name not in OWN_NAMES)
    if not foreign:
        return Owned({})
    legacy = _legacy(out)
    if legacy is not None:
        return legacy
    shown = ", ".join(display(n) for n in foreign[:3]) + (", ..." if len(foreign) > 3 else "")
    raise out_error(str(out), f"is not empty ({shown}) and infc did not write it (there is no {MARKER}); infc only "
                              "writes into a new or empty directory or one it wrote before")


def leftovers(out: pathlib.Path) -> list[Diagnostic]:
    """Directories beside `out` that infc before version 0.2 left when a swap was killed (`.<name>.old-*` holds a
    previous output, maybe with its Terraform state; `.<name>.new-*` an unfinished one): pointed out, never deleted."""
    return [Diagnostic(f"{display(p)} was left beside --out by an interrupted run of an earlier infc; it may hold a "
                       "previous output and its Terraform state: look inside, then delete it", severity="warning")
            for p in sorted(out.parent.glob(f".{out.name}.old-*")) + sorted(out.parent.glob(f".{out.name}.new-*"))
            if p.is_dir()]


def _parse_marker(out: pathlib.Path, marker: pathlib.Path) -> Owned:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        stacks = {name: StackInfo(s["target"], tuple(s["files"]), s["manifest"])
                  for name, s in data["stacks"].items()}
        if data.get("format") != FORMAT or not all(_inside(f) for s in stacks.values() for f in s.files):
            raise ValueError("unknown format")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise out_error(str(out), f"{MARKER} is unreadable ({exc}); restore it, or move the directory aside and "
                                  "synthesize into a new one") from None
    return Owned(stacks)


def _inside(rel: str) -> bool:
    parts = pathlib.PurePosixPath(rel).parts
    return bool(parts) and not rel.startswith("/") and ".." not in parts and parts[0] not in OWN_NAMES


def _legacy(out: pathlib.Path) -> Owned | None:
    """An output written by infc before it kept a marker: manifest.json naming stacks/<name>/cdk.tf.json files that
    carry CDK metadata for that stack. Those files are adopted; everything else in the tree stays the user's."""
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        stacks = {}
        for name, entry in manifest["stacks"].items():
            rel = f"stacks/{name}/cdk.tf.json"
            doc = json.loads((out / rel).read_text(encoding="utf-8"))
            target = name.rpartition("-")[2]
            if entry.get("synthesizedStackPath") != rel or doc["//"]["metadata"]["stackName"] != name:
                return None
            stacks[name] = StackInfo(target, (rel,), _entry(entry))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return Owned(stacks, adopted=True)


def _entry(entry: dict) -> dict:
    """A stack's manifest entry without `stackMetadataPath`: CDK Terrain lists a metadata.json it never writes."""
    return {k: v for k, v in entry.items() if k != "stackMetadataPath"}


@dataclasses.dataclass
class Plan:
    """Everything a synth changes in the output directory, computed before anything is written."""

    files: dict[str, bytes]  # every generated file (relative path -> content), the marker included
    delete: list[str]  # owned files no longer generated
    kept: list[str]  # stacks no longer generated but kept: their directories hold files infc did not write
    warnings: list[Diagnostic]


def plan(out: pathlib.Path, owned: Owned, generated: dict[str, bytes], stacks: dict[str, str],
         scope: set[str] | None) -> Plan:
    """The new content of `out`: `generated` (relative path -> bytes, from a CDK synth, manifest.json included)
    for `stacks` (name -> target). Owned stacks outside `scope` (the targets of --target; None: all) stay as they
    are; owned stacks in scope that are no longer generated are deleted or, when their directory holds other files
    (Terraform state above all), kept with a warning."""
    cdk_manifest = json.loads(generated[MANIFEST])
    new = {name: StackInfo(target, tuple(sorted(f for f in generated if f.startswith(f"stacks/{name}/"))),
                           _entry(cdk_manifest["stacks"][name])) for name, target in stacks.items()}
    result: dict[str, StackInfo] = {}
    delete, kept, warnings = [], [], []
    for name, info in sorted(owned.stacks.items()):
        if name in new:
            delete += [f for f in info.files if f not in new[name].files]
        elif scope is not None and info.target not in scope:
            result[name] = info
        else:
            others = _foreign_files(out / "stacks" / name, {f.removeprefix(f"stacks/{name}/") for f in info.files})
            if others:
                result[name] = info
                kept.append(name)
                warnings.append(Diagnostic(
                    f"stack {name} is no longer generated, but {display(out / 'stacks' / name)} holds files infc did "
                    f"not write ({_describe(out / 'stacks' / name, others)}); it is left as it is. If it has "
                    f"resources, destroy them there with `terraform destroy`, then delete the directory",
                    severity="warning"))
            else:
                delete += list(info.files)
    result.update(new)
    files = {f: generated[f] for s in new.values() for f in s.files}
    files[MANIFEST] = _dump({"stacks": {n: s.manifest for n, s in sorted(result.items())},
                             "version": cdk_manifest.get("version")})
    # The digests make the marker differ whenever any generated file does: writing it is the commit point of a
    # write (compiler/transaction.py), and a later run can tell that a file was edited by hand.
    on_disk = {f for name, info in result.items() if name not in new for f in info.files if (out / f).is_file()}
    digests = {f: _digest(files[f]) for f in files} | {f: _digest((out / f).read_bytes()) for f in on_disk}
    files[MARKER] = _dump({"format": FORMAT, "generator": "infc", "sha256": dict(sorted(digests.items())), "stacks": {
        n: {"files": list(s.files), "manifest": s.manifest, "target": s.target} for n, s in sorted(result.items())}})
    return Plan(files, sorted(set(delete)), kept, warnings)


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _dump(data: dict) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _foreign_files(stack_dir: pathlib.Path, mine: set[str]) -> list[str]:
    if not stack_dir.is_dir():
        return []
    return sorted(p.name for p in stack_dir.iterdir() if p.name not in mine)


def _describe(stack_dir: pathlib.Path, names: list[str]) -> str:
    parts = []
    for name in names:
        if name == "terraform.tfstate":
            count = state_resources(stack_dir / name)
            parts.append(f"{name} with {count} resource(s)" if count is not None else name)
        else:
            parts.append(display(name) + ("/" if (stack_dir / name).is_dir() else ""))
    return ", ".join(parts)


def state_resources(path: pathlib.Path) -> int | None:
    """How many resources a local Terraform state records, or None when it cannot be read."""
    try:
        return len(json.loads(path.read_text(encoding="utf-8")).get("resources", []))
    except (OSError, ValueError, AttributeError):
        return None


def differences(out: pathlib.Path, owned: Owned, planned: Plan) -> list[str]:
    """What `synth --check` reports: generated files missing, differing or no longer generated. Only infc's files
    are compared (state, lock files and user files are not infc's business). The marker is bookkeeping, not output."""
    out_lines = []
    for rel, content in sorted(planned.files.items()):
        if rel == MARKER:
            continue
        path = out / rel
        if not path.is_file():
            out_lines.append(f"missing: {rel}")
        elif path.read_bytes() != content:
            out_lines.append(f"differs: {rel}")
    out_lines += [f"extra: {rel}" for rel in planned.delete if (out / rel).exists()]
    out_lines += [f"extra: stacks/{name} (no longer generated; kept, see the warning)" for name in planned.kept]
    return sorted(out_lines)

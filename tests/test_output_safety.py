"""Nothing of the user's is lost: re-synth keeps state and user files, --out refuses foreign places, writes are
all-or-nothing under a lock, killed runs are undone, and environment failures are clean exit-2 errors."""

from __future__ import annotations

import errno
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from compiler import output, scratch, transaction
from compiler.cli import main
from tests.conftest import ROOT, spec_dict

CPU = {"hardware": {"accelerator": "none", "cpus": 2, "memory_gib": 4}}


def write_spec(path: pathlib.Path, *docs: dict) -> pathlib.Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def svc(name: str = "svc", **overrides) -> dict:
    doc = spec_dict(**{**CPU, **overrides})
    doc["metadata"] = {"name": name}
    return doc


def cli(*args: str, cwd: pathlib.Path = ROOT, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compiler.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)}, **kwargs)


def tree(root: pathlib.Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes (symlinks as their target text)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = os.readlink(path).encode()
        elif path.is_file():
            out[rel] = path.read_bytes()
    return out


def user_files(stack: pathlib.Path) -> dict[str, bytes]:
    """What `terraform init/apply` and a user leave in a stack directory."""
    files = {
        "terraform.tfstate": json.dumps({"version": 4, "serial": 7, "resources": [
            {"mode": "managed", "type": "aws_lb", "name": "load_balancer", "instances": [{}]}]}).encode(),
        "terraform.tfstate.backup": b'{"version": 4, "serial": 6, "resources": []}',
        ".terraform.lock.hcl": b'provider "registry.terraform.io/hashicorp/aws" {\n  version = "5.100.0"\n}\n',
        ".terraform/providers/registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64/provider": b"\x7fELF...",
        ".terraform/terraform.tfstate": b'{"backend": {"type": "local"}}',
        "plan.tfplan": b"PK\x03\x04 a saved plan",
        "notes.md": "my notes \u2603\n".encode(),
        "override.tf.json": b'{"provider": {"aws": [{"profile": "prod"}]}}',
    }
    for rel, content in files.items():
        (stack / rel).parent.mkdir(parents=True, exist_ok=True)
        (stack / rel).write_bytes(content)
    return files


@pytest.fixture
def spec(tmp_path):
    return write_spec(tmp_path / "spec.yaml", svc("svc"), svc("other"))


def synth(spec: pathlib.Path, out: pathlib.Path, *args: str) -> int:
    return main(["synth", str(spec), "--target", "aws", "--out", str(out), *args])


def test_resynth_after_a_spec_edit_keeps_state_lock_plan_and_user_files(tmp_path, spec):
    out = tmp_path / "out"
    assert synth(spec, out) == 0
    stack = out / "stacks" / "svc-aws"
    before = user_files(stack)
    generated = (stack / "cdk.tf.json").read_bytes()
    write_spec(spec, svc("svc", load_balancer={"idle_timeout": "5m"}), svc("other"))
    assert synth(spec, out) == 0
    assert (stack / "cdk.tf.json").read_bytes() != generated  # the edit arrived...
    assert json.loads((stack / "cdk.tf.json").read_text())["resource"]["aws_lb"]["load_balancer"]["idle_timeout"] == 300
    after = tree(stack)
    assert {rel: after.get(rel) for rel in before} == before  # ...and everything else is byte for byte the same
    assert set(after) == {*before, "cdk.tf.json"}
    assert main(["synth", str(spec), "--target", "aws", "--out", str(out), "--check"]) == 0  # state is not "extra"


def test_removed_service_with_state_is_kept_with_a_warning_and_one_without_is_deleted(tmp_path, spec, capsys):
    out = tmp_path / "out"
    assert synth(spec, out) == 0
    applied = out / "stacks" / "svc-aws"
    files = user_files(applied)
    stack_json = (applied / "cdk.tf.json").read_bytes()
    write_spec(spec, svc("third"))
    capsys.readouterr()
    assert synth(spec, out) == 0
    err = capsys.readouterr().err
    assert "warning: stack svc-aws is no longer generated" in err and "terraform.tfstate with 1 resource(s)" in err
    assert "terraform destroy" in err
    assert tree(applied) == {**files, "cdk.tf.json": stack_json}  # kept whole: destroy still works there
    assert not (out / "stacks" / "other-aws").exists()  # nothing but infc's files: removed
    assert sorted(json.loads((out / "manifest.json").read_text())["stacks"]) == ["svc-aws", "third-aws"]
    assert main(["synth", str(spec), "--target", "aws", "--out", str(out), "--check"]) == 1
    assert "extra: stacks/svc-aws" in capsys.readouterr().out
    shutil.rmtree(applied)  # the user destroyed and removed it: the next run forgets it
    assert synth(spec, out) == 0
    assert sorted(json.loads((out / "manifest.json").read_text())["stacks"]) == ["third-aws"]
    assert "no longer generated" not in capsys.readouterr().err


def test_target_subset_leaves_the_other_targets_stacks_alone(tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", svc("svc", targets={"aws": {"region": "us-east-1"},
                                                                  "kubernetes": {}}))
    out = tmp_path / "out"
    assert main(["synth", str(spec), "--out", str(out)]) == 0
    k8s = tree(out / "stacks" / "svc-kubernetes")
    write_spec(spec, svc("svc", targets={"aws": {"region": "us-west-2"}, "kubernetes": {"namespace": "x"}}))
    assert main(["synth", str(spec), "--out", str(out), "--target", "aws"]) == 0
    assert tree(out / "stacks" / "svc-kubernetes") == k8s
    assert "us-west-2" in (out / "stacks" / "svc-aws" / "cdk.tf.json").read_text()
    assert sorted(json.loads((out / "manifest.json").read_text())["stacks"]) == ["svc-aws", "svc-kubernetes"]


@pytest.mark.parametrize("where", ["spec folder", "spec folder's parent", "working directory", "dot", "dotdot",
                                   "repository root", "root", "home"])
def test_out_never_replaces_a_folder_that_is_not_its_own(tmp_path, where, monkeypatch):
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / ".git").mkdir()
    spec = write_spec(project / "specs" / "spec.yaml", svc())
    work = project / "specs" / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    out = {"spec folder": str(project / "specs"), "spec folder's parent": str(project / "specs" / ".."),
           "working directory": str(work), "dot": ".", "dotdot": "..", "repository root": str(project),
           "root": "/", "home": str(tmp_path / "home")}[where]
    before = tree(tmp_path)
    result = cli("synth", str(spec), "--out", out, cwd=work)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"<input>: error: --out {out}: ") and "Traceback" not in result.stderr
    assert "give it a directory of its own" in result.stderr
    assert tree(tmp_path) == before


def test_out_refuses_a_non_empty_directory_infc_did_not_write(tmp_path, spec):
    out = tmp_path / "out"
    out.mkdir()
    (out / "main.tf").write_text("# mine")
    assert cli("synth", str(spec), "--out", str(out)).stderr == (
        f"<input>: error: --out {out}: is not empty (main.tf) and infc did not write it (there is no "
        ".infc-output.json); infc only writes into a new or empty directory or one it wrote before\n")
    assert tree(out) == {"main.tf": b"# mine"}


def test_output_of_an_earlier_infc_is_adopted_with_its_state(tmp_path, spec):
    """Outputs written before the marker existed: manifest.json + stacks/*/cdk.tf.json, state beside them."""
    out = tmp_path / "out"
    assert synth(spec, out) == 0
    (out / output.MARKER).unlink()
    (out / output.LOCK).unlink()
    files = user_files(out / "stacks" / "svc-aws")
    write_spec(spec, svc("svc", load_balancer={"idle_timeout": "5m"}))
    assert synth(spec, out) == 0
    after = tree(out / "stacks" / "svc-aws")
    assert {rel: after[rel] for rel in files} == files
    assert not (out / "stacks" / "other-aws").exists()
    assert (out / output.MARKER).is_file()


@pytest.mark.parametrize("value", [",", "", " ", " , "])
def test_an_empty_target_list_is_an_error_and_changes_nothing(tmp_path, spec, value, capsys):
    out = tmp_path / "out"
    assert synth(spec, out) == 0
    before = tree(out)
    assert main(["synth", str(spec), "--target", value, "--out", str(out)]) == 2
    assert "error: --target: no target named" in capsys.readouterr().err
    assert tree(out) == before


def test_readers_never_see_a_missing_or_partial_file(tmp_path, spec):
    """A reader polling the stack files while synths replace them sees every file, whole, at every moment."""
    out = tmp_path / "out"
    assert synth(spec, out) == 0
    files = [out / "manifest.json", out / "stacks" / "svc-aws" / "cdk.tf.json", out / "stacks" / "other-aws" /
             "cdk.tf.json"]
    bad, polls, done = [], [0], threading.Event()

    def poll():
        while not done.is_set():
            for path in files:
                try:
                    json.loads(path.read_bytes())
                except (OSError, ValueError) as exc:
                    bad.append(f"{path.name}: {exc}")
                polls[0] += 1

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for timeout in ("5m", "6m", "7m"):
            write_spec(spec, svc("svc", load_balancer={"idle_timeout": timeout}), svc("other"))
            assert cli("synth", str(spec), "--target", "aws", "--out", str(out)).returncode == 0
    finally:
        done.set()
        reader.join()
    assert bad == [] and polls[0] > 100


def test_concurrent_synths_into_one_directory_take_turns(tmp_path, spec):
    out = tmp_path / "out"
    runs = [subprocess.Popen([sys.executable, "-m", "compiler.cli", "synth", str(spec), "--target", "aws", "--out",
                              str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    assert [code for code, _ in results] == [0, 0, 0], results
    assert "Traceback" not in "".join(err for _, err in results)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "spec.yaml"]  # no staging or backup siblings
    assert sorted(p.name for p in out.iterdir()) == [output.LOCK, output.MARKER, "manifest.json", "stacks"]
    assert main(["synth", str(spec), "--target", "aws", "--out", str(out), "--check"]) == 0


KILL_AFTER_FIRST_RENAME = """
import os, sys
from compiler import transaction
real, count = os.replace, [0]
def replace(src, dst):
    real(src, dst)
    count[0] += 1
    if count[0] == 1:
        os._exit(9)  # like SIGKILL: no finally, no atexit
transaction.os.replace = replace
from compiler.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_run_killed_mid_commit_is_rolled_back_to_the_previous_output(tmp_path, spec):
    out = tmp_path / "out"
    assert synth(spec, out) == 0
    user_files(out / "stacks" / "svc-aws")
    before = tree(out)
    write_spec(spec, svc("svc", load_balancer={"idle_timeout": "5m"}), svc("renamed"))
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_RENAME, "synth", str(spec), "--target", "aws",
                             "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 9, killed.stderr
    assert (out / output.TXN / transaction.JOURNAL).is_file()  # killed between its first and last rename
    assert tree(out) != before
    assert transaction.recover(out)
    after = tree(out)
    assert after == before  # byte for byte the previous output, state included
    # The next run rolls back the same way before it writes; here it then writes the new output.
    assert synth(spec, out) == 0 and not (out / output.TXN).exists()
    assert (out / "stacks" / "renamed-aws" / "cdk.tf.json").is_file()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL])
def test_killed_runs_leave_nothing_that_the_next_run_does_not_clean(tmp_path, spec, sig):
    # Enough services that the run is still inside its transaction when the signal comes: CDK Terrain synthesizes
    # the stacks of two in well under the wait below, and a signal after the transaction ends finds nothing to clean.
    write_spec(spec, *(svc(f"svc{n}") for n in range(24)))
    out = tmp_path / "out"
    # SIGINT as a terminal's Ctrl-C delivers it: a shell starts background jobs with SIGINT ignored, and Python
    # keeps an inherited SIG_IGN (so would any program), so a suite started with `&` would see the run finish.
    run = subprocess.Popen([sys.executable, "-m", "compiler.cli", "synth", str(spec), "--target", "aws", "--out",
                            str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "TMPDIR": str(tmp_path)},
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out / output.TXN).exists() and time.monotonic() < deadline:  # wait until it is writing
        time.sleep(0.01)
    time.sleep(0.15)  # the transaction lasts about 0.7 s on an idle 2-core machine
    run.send_signal(sig)
    code = run.wait(timeout=60)
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name not in ("out", "spec.yaml"))
    if sig == signal.SIGKILL:
        assert code == -9
    else:
        assert code in (128 + sig, 130), run.stderr.read()
        assert "Traceback" not in run.stderr.read()
        assert leftovers == [] and not (out / output.TXN).exists()  # it cleaned up after itself
    result = subprocess.run([sys.executable, "-m", "compiler.cli", "synth", str(spec), "--target", "aws", "--out",
                             str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "spec.yaml"]  # the killed run's scratch is gone
    assert sorted(p.name for p in out.iterdir()) == [output.LOCK, output.MARKER, "manifest.json", "stacks"]


def test_stale_scratch_directories_are_removed_only_when_their_process_is_gone(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = tmp_path / f"{scratch.PREFIX}{dead.stdout.strip()}-abc"
    alive = tmp_path / f"{scratch.PREFIX}{os.getpid()}-abc"
    other = tmp_path / "infc-run-notapid"
    for path in (gone, alive, other):
        path.mkdir()
    assert scratch.remove_stale(tmp_path) == [gone]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other.name])


def _unshared(script: str) -> subprocess.CompletedProcess:
    """`script` in a private mount namespace (for a small or read-only tmpfs), or a skip where that is not allowed."""
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace here: {probe.stderr.decode().strip()}")
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def test_a_full_disk_is_a_clean_error_and_changes_nothing(tmp_path, spec):
    """The output directory sits on a 64 KiB tmpfs that holds the first synth (one stack, ~10 KiB) but not a larger
    one (six)."""
    spec = write_spec(spec, svc())
    big = write_spec(tmp_path / "big.yaml", *[svc(f"s{i}") for i in range(6)])
    py = sys.executable
    result = _unshared(
        f"set -e; mount -t tmpfs -o size=64k tmpfs {tmp_path}/mnt 2>/dev/null || "
        f"(mkdir -p {tmp_path}/mnt && mount -t tmpfs -o size=64k tmpfs {tmp_path}/mnt); "
        f"{py} -m compiler.cli synth {spec} --target aws --out {tmp_path}/mnt/out >/dev/null; "
        f"(cd {tmp_path}/mnt && find . -type f -exec sha256sum {{}} + | sort) > {tmp_path}/before.txt; "
        f"set +e; {py} -m compiler.cli synth {big} --target aws --out {tmp_path}/mnt/out; echo \"rc=$?\"; "
        f"(cd {tmp_path}/mnt && find . -type f -exec sha256sum {{}} + | sort) > {tmp_path}/after.txt")
    assert "rc=2" in result.stdout, result.stdout + result.stderr
    assert f"error: cannot write {tmp_path}/mnt/out/" in result.stderr and "No space left on device" in result.stderr
    assert "nothing was changed" in result.stderr and "Traceback" not in result.stderr
    before = (tmp_path / "before.txt").read_text()
    assert "./out/stacks/svc-aws/cdk.tf.json" in before and before == (tmp_path / "after.txt").read_text()


def test_a_read_only_place_is_a_clean_error(tmp_path, spec):
    result = _unshared(f"mkdir -p {tmp_path}/ro && mount -t tmpfs -o ro tmpfs {tmp_path}/ro && "
                       f"{sys.executable} -m compiler.cli synth {spec} --out {tmp_path}/ro/a/out; echo \"rc=$?\"")
    assert "rc=2" in result.stdout, result.stdout + result.stderr
    assert result.stderr == f"<input>: error: cannot write {tmp_path}/ro/a: Read-only file system; nothing was changed\n"


@pytest.mark.parametrize("case", ["file", "under a file", "dangling symlink", "name too long"])
def test_bad_output_paths_are_clean_errors_that_leave_nothing(tmp_path, spec, case):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    out, message = {
        "file": (tmp_path / "a-file", "exists and is not a directory"),
        "under a file": (tmp_path / "a-file" / "out", f"{tmp_path / 'a-file'} is a file, not a directory"),
        "dangling symlink": (tmp_path / "dangling", f"is a symbolic link to {tmp_path / 'nowhere'}, which does not exist"),
        "name too long": (tmp_path / "new" / ("x" * 256) / "out", "File name too long"),
    }[case]
    before = tree(tmp_path)
    result = cli("synth", str(spec), "--out", str(out))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert tree(tmp_path) == before and not (tmp_path / "new").exists()  # no parent folder left behind


def test_a_long_output_name_works(tmp_path, spec):
    """250 characters fit a file name (255): nothing infc adds may push it over (a staging prefix once did)."""
    assert synth(spec, tmp_path / ("x" * 250)) == 0


def test_a_failed_synth_removes_the_parent_folders_it_created(tmp_path, spec, monkeypatch):
    import targets.aws

    def broken(stack, service, target):
        raise RuntimeError("boom")

    monkeypatch.setattr(targets.aws, "emit", broken)
    assert synth(spec, tmp_path / "a" / "b" / "out") == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


def test_schema_out_problems_and_broken_stdout_are_clean(tmp_path):
    result = cli("schema", "--out", str(tmp_path))
    assert result.returncode == 2 and "is a directory" in result.stderr and "Traceback" not in result.stderr
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "compiler.cli", "schema"], cwd=ROOT, stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr == (
        "<input>: error: cannot write standard output: No space left on device\n")
    piped = subprocess.run(f"{sys.executable} -m compiler.cli schema | head -c 10 >/dev/null; "
                           "echo \"${PIPESTATUS[0]}\"", shell=True, executable="/bin/bash", cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert piped.stdout.strip() in ("0", "2") and piped.stderr == "", piped.stderr


def test_a_failure_part_way_through_the_renames_restores_the_previous_output(tmp_path, spec, monkeypatch, capsys):
    """Permission lost after two files were renamed into place (a file made immutable, an ACL): exit 2, and the two
    are put back, so the directory is exactly as before."""
    out = tmp_path / "out"
    assert synth(spec, out) == 0
    user_files(out / "stacks" / "svc-aws")
    before = tree(out)
    write_spec(spec, svc("svc", load_balancer={"idle_timeout": "5m"}), svc("other", load_balancer={"idle_timeout": "6m"}))
    real, count = os.replace, [0]

    def replace(src, dst):
        count[0] += 1
        if count[0] == 3:
            raise PermissionError(13, "Permission denied", str(dst))
        real(src, dst)

    monkeypatch.setattr(transaction.os, "replace", replace)
    assert synth(spec, out) == 2
    assert "Permission denied; nothing was changed" in capsys.readouterr().err
    monkeypatch.setattr(transaction.os, "replace", real)
    assert tree(out) == before and not (out / output.TXN).exists()


def test_leftovers_of_an_earlier_infc_are_pointed_out_not_deleted(tmp_path, spec, capsys):
    old = tmp_path / ".out.old-abc123" / "out" / "stacks" / "svc-aws"
    old.mkdir(parents=True)
    (old / "terraform.tfstate").write_text("{}")
    assert synth(spec, tmp_path / "out") == 0
    assert f"warning: {tmp_path / '.out.old-abc123'} was left beside --out" in capsys.readouterr().err
    assert (old / "terraform.tfstate").read_text() == "{}"


def test_cleanup_outlasts_a_writer_still_adding_files(tmp_path, monkeypatch):
    """A signal can stop synth while CDK Terrain's Node process still writes into the transaction directory: rmtree
    then meets a directory that gained a file (ENOTEMPTY, once an exit 3 under load). The cleanup retries."""
    from compiler import transaction

    (tmp_path / "txn" / "stacks").mkdir(parents=True)
    real, failures = shutil.rmtree, []

    def racing(path, *args, **kwargs):
        if len(failures) < 2:
            failures.append(path)
            raise OSError(errno.ENOTEMPTY, "Directory not empty", "stacks")
        real(path, *args, **kwargs)

    monkeypatch.setattr(transaction.shutil, "rmtree", racing)
    transaction._remove_tree(tmp_path / "txn")
    assert len(failures) == 2 and not (tmp_path / "txn").exists()
    monkeypatch.setattr(transaction.shutil, "rmtree", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "no")))
    with pytest.raises(PermissionError):  # anything else is not retried
        transaction._remove_tree(tmp_path / "other")

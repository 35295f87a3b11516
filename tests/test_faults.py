"""Faults and hostile input for ``caption-audit run``: --out safety, the run-folder lock, the
in-progress marker, damaged shards, edited inputs, wrong-role inputs, bad settings, a full or
read-only disk, a killed worker, and random SIGKILLs. Each ends in a clean error (exit 2, one
line) or a run folder identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from caption_audit.cli import build_parser, main
from caption_audit.commands.run import config_from_args
from caption_audit.errors import InputError
from caption_audit.ingest.identity import file_identity
from caption_audit.pipeline import audit
from caption_audit.store import read_summary
from caption_audit.store.lifecycle import IN_PROGRESS_MESSAGE, RunLock
from tests._scale_data import assert_same_run, write_inputs
from tests.conftest import shared
from tests.test_resume import _argv, _cli, _kill_midway

DEMO = Path(__file__).resolve().parents[1] / "caption_audit" / "demo" / "data"
DEMO_ARGS = ["--coco-captions", str(DEMO / "coco_captions.json"), "--coco-instances", str(DEMO / "instances.json"),
             "--llava", str(DEMO / "llava_detail.json"), "--bootstrap", "50", "--quiet", "--batch-size", "10"]


def _run(out: Path, *extra: str, args: list[str] = DEMO_ARGS) -> int:
    return main(["run", *args, "--out", str(out), *extra])


def _error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


@pytest.fixture(scope="module")
def demo_ref(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    assert _run(out) == 0
    return out


def test_summary_from_batch_sums_equals_summary_from_the_table(demo_ref: Path) -> None:
    """summary.json's per-source metrics (folded batch by batch) equal those computed from the whole
    captions table, bootstrap CIs included."""
    import pandas as pd

    from caption_audit.scoring.aggregate import CAPTION_COLUMNS, per_source

    summary = read_summary(demo_ref)
    captions = pd.read_parquet(demo_ref / "captions.parquet", columns=CAPTION_COLUMNS)
    sources, used = per_source(captions, n_resamples=50, confidence=0.95, seed=0)
    # metrics_clean (without degenerate captions) is added on top; the rest is the table's
    folded = {name: {k: v for k, v in block.items() if k != "metrics_clean"}
              for name, block in summary["sources"].items()}
    assert folded == json.loads(json.dumps(sources))
    assert summary["bootstrap"]["n_resamples"] == used
    assert summary["counts"]["input"] == len(captions) == 84


# --- item 1: --out never destroys files that are not a run folder -------------------------------------------

@pytest.mark.parametrize("case, expect", [
    ("file", "--out is a file"),
    ("under_file", "--out lies under a file"),
    ("foreign_folder", "not a caption-audit run folder"),
])
def test_out_refuses_paths_it_does_not_own(tmp_path: Path, capsys: pytest.CaptureFixture, case: str,
                                           expect: str) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    files = {"summary.json": '{"my": "notes"}', "captions.parquet": "not parquet", ".parts/keep.txt": "keep"}
    for name, text in files.items():
        (mine / name).parent.mkdir(parents=True, exist_ok=True)
        (mine / name).write_text(text)
    out = {"file": mine / "summary.json", "under_file": mine / "summary.json" / "run", "foreign_folder": mine}[case]
    assert _run(out) == 2
    assert expect in _error(capsys)
    assert {n: (mine / n).read_text() for n in files} == files  # untouched


def test_rerun_into_own_run_folder_works(tmp_path: Path, demo_ref: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(demo_ref, out)
    (out / ".caption-audit").unlink()  # a run folder of an older version: summary.json names the tool
    assert _run(out) == 0
    assert_same_run(demo_ref, out)


# --- item 2: one writer per run folder ---------------------------------------------------------------------

@pytest.mark.slow
def test_second_writer_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A real second process holds the lock while it runs; a writer that starts meanwhile gets exit 2."""
    caps, objs = write_inputs(tmp_path / "in", n_images=150, per_image=4)
    out = tmp_path / "run"
    proc = subprocess.Popen(_cli(_argv(caps, objs, out)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / ".parts").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the first run ended too soon"
            time.sleep(0.01)
        assert main(_argv(caps, objs, out)) == 2  # same inputs
        assert "another caption-audit run is writing this folder" in _error(capsys)
        assert _run(out) == 2  # other inputs
        assert "another caption-audit run" in _error(capsys)
        assert proc.wait(timeout=180) == 0, proc.stderr.read().decode()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ref = tmp_path / "ref"
    audit(config_from_args(build_parser().parse_args(_argv(caps, objs, ref))))
    assert_same_run(ref, out)


def test_lock_is_released_after_a_run(tmp_path: Path, demo_ref: Path) -> None:
    with RunLock(tmp_path / "x"):
        pass
    with RunLock(tmp_path / "x") as lock:
        lock.commit()


# --- item 3: a folder in progress (or killed) is never read as finished --------------------------------------

@pytest.mark.slow
def test_killed_rerun_in_complete_folder_is_refused_by_readers(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    caps, objs = write_inputs(tmp_path / "in", n_images=150, per_image=4)
    out = tmp_path / "run"
    audit(config_from_args(build_parser().parse_args(_argv(caps, objs, out))))
    read_summary(out)
    _kill_midway(_cli(_argv(caps, objs, out, "--no-resume")), out / ".parts")
    assert (out / "summary.json").exists()  # the old summary is still there ...
    with pytest.raises(InputError, match=IN_PROGRESS_MESSAGE):  # ... but never read
        read_summary(out)
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    assert IN_PROGRESS_MESSAGE in _error(capsys)
    for argv in (["gate", str(out), "--max", "chair_i=1"], ["compare", str(out), "--baseline", str(out)]):
        assert main(argv) == 2, argv  # gate and compare refuse it too
        assert IN_PROGRESS_MESSAGE in _error(capsys)
    audit(config_from_args(build_parser().parse_args(_argv(caps, objs, out))))  # the same command resumes
    assert read_summary(out)["run"]["resumed_captions"] > 0


# --- item 4: damaged shards are redone; an edited input is not trusted ----------------------------------------

def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "corrupted":
        mid = len(data) // 2
        path.write_bytes(data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 16]) + data[mid + 16 :])
    else:
        path.write_bytes(b"")


@pytest.mark.slow
def test_damaged_shards_are_redone_and_edited_inputs_start_over(tmp_path: Path) -> None:
    caps, objs = write_inputs(tmp_path / "in", n_images=60, per_image=4)
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    audit(config_from_args(build_parser().parse_args(_argv(caps, objs, ref))))
    _kill_midway(_cli(_argv(caps, objs, killed)), killed / ".parts", min_shards=5)
    for name, how in [("captions", "truncated"), ("mentions", "corrupted"), ("captions", "zero-byte")]:
        out = tmp_path / f"{name}-{how}"
        shutil.copytree(killed, out)
        _damage(out / ".parts" / f"{name}-00003.arrow", how)
        audit(config_from_args(build_parser().parse_args(_argv(caps, objs, out))))
        assert_same_run(ref, out)
        assert read_summary(out)["run"]["resumed_captions"] >= 20  # the other shards were reused

    # an input edited to the same size, mtime restored: its shards are not reused
    out = tmp_path / "edited"
    shutil.copytree(killed, out)
    st = caps.stat()
    text = caps.read_text()
    caps.write_text(text.replace("dog", "cat", 1))
    os.utime(caps, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert caps.stat().st_size == st.st_size
    audit(config_from_args(build_parser().parse_args(_argv(caps, objs, out))))
    assert read_summary(out)["run"]["resumed_captions"] == 0


def test_file_identity_sees_content(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_text('{"image_id": 1, "caption": "a dog"}\n')
    st = f.stat()
    before = file_identity(f)
    f.write_text('{"image_id": 1, "caption": "a cat"}\n')
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert file_identity(f) != before


# --- item 5: wrong-role inputs, ground truth that covers nothing ----------------------------------------------

@pytest.mark.parametrize("argv, expect, code", [
    (["--coco-captions", "instances.json"], "ground-truth file (coco_instances), not captions; pass it with "
     "--coco-instances", 2),
    (["--captions", "instances.json"], "pass it with --coco-instances", 2),
    (["--llava", "llava_detail.json", "--coco-instances", "coco_captions.json"],
     "captions file (coco_captions), not ground truth; pass it with --coco-captions", 2),
    (["--coco-captions", "coco_captions.json", "--objects", "llava_detail.json"], "pass it with --llava", 2),
    (["--coco-captions", "coco_captions.json", "--objects", "empty_objects.json"], "no ground-truth objects", 2),
    (["--coco-captions", "coco_captions.json", "--objects", "other_objects.json"], "nothing scored", 3),
])
def test_wrong_role_inputs(tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str], expect: str,
                           code: int) -> None:
    (tmp_path / "empty_objects.json").write_text(json.dumps({"391895": []}))
    (tmp_path / "other_objects.json").write_text(json.dumps({"1": ["dog"], "2": ["cat"]}))
    args = [str(tmp_path / a) if a.endswith(".json") and "objects" in a else str(DEMO / a) if a.endswith(".json")
            else a for a in argv]
    assert _run(tmp_path / "run", args=[*args, "--quiet", "--bootstrap", "20"]) == code
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err


def test_partial_gt_coverage_warns(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    inst = json.loads((DEMO / "instances.json").read_text())
    caps = json.loads((DEMO / "coco_captions.json").read_text())
    keep = sorted({a["image_id"] for a in caps["annotations"]})[:3]  # GT for 3 of the captioned images
    objs = {str(i): [c["name"] for c in inst["categories"][:2]] for i in keep}
    (tmp_path / "objects.json").write_text(json.dumps(objs))
    out = tmp_path / "run"
    rc = _run(out, args=["--coco-captions", str(DEMO / "coco_captions.json"), "--objects",
                         str(tmp_path / "objects.json"), "--quiet", "--bootstrap", "20"])
    assert rc == 0
    assert "ground truth covers only 3 of" in capsys.readouterr().err
    assert read_summary(out)["warnings"][0].startswith("ground truth covers only 3 of")


def test_warnings_name_the_file_once(tmp_path: Path) -> None:
    caps = tmp_path / "caps.jsonl"
    caps.write_text('{"image_id": 1, "caption": "A dog."}\n{"image_id": 1, "caption": ""}\n')
    (tmp_path / "o.json").write_text(json.dumps({"1": ["dog"]}))
    out = tmp_path / "run"
    assert _run(out, args=["--captions", str(caps), "--objects", str(tmp_path / "o.json"), "--quiet"]) == 0
    warnings = read_summary(out)["warnings"]
    assert warnings and all(w.count(str(caps)) == 1 for w in warnings), warnings


# --- item 6: settings and the disk ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "-5"])
def test_bad_bootstrap_fails_up_front(tmp_path: Path, capsys: pytest.CaptureFixture, value: str) -> None:
    assert _run(tmp_path / "run", "--bootstrap", value) == 2
    assert "--bootstrap must be at least 1" in _error(capsys)
    assert not (tmp_path / "run").exists()


def _mount_tmpfs(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small tmpfs (mount -t tmpfs)")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], check=False)


def test_read_only_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ro = tmp_path / "ro"
    if os.geteuid() == 0:
        _mount_tmpfs(ro, "ro,size=1m")
    else:
        ro.mkdir()
        ro.chmod(0o555)
    try:
        assert _run(ro / "run") == 2
        err = _error(capsys)
        assert "cannot write the run folder" in err and ("read-only" in err or "permission denied" in err)
    finally:
        if os.geteuid() == 0:
            _umount(ro)


@pytest.mark.slow
def test_disk_full_then_resume(tmp_path: Path, capsys: pytest.CaptureFixture, demo_ref: Path) -> None:
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "size=96k")
    try:
        out = disk / "run"
        assert _run(out) == 2
        err = _error(capsys)
        assert "disk full" in err and "rerun the same command to resume" in err
        assert not [p for p in out.rglob("*.tmp")], "a temp file was left behind"
        done = len(list((out / ".parts").glob("captions-*.arrow")))
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        assert _run(out) == 0
        assert read_summary(out)["run"]["resumed_captions"] == 10 * done
        assert_same_run(demo_ref, out)
    finally:
        _umount(disk)


@pytest.mark.slow
def test_killed_worker_is_a_clean_error_and_resumable(tmp_path: Path) -> None:
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    if not children.exists():
        pytest.skip("needs Linux /proc to find the worker processes")
    caps, objs = write_inputs(tmp_path / "in", n_images=250, per_image=4)
    out = tmp_path / "run"
    proc = subprocess.Popen(_cli(_argv(caps, objs, out, "--workers", "2")), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(list((out / ".parts").glob("captions-*.arrow"))) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before a worker was killed"
            time.sleep(0.01)
        workers = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert workers
        os.kill(int(workers[0]), signal.SIGKILL)
        assert proc.wait(timeout=60) == 2
        err = proc.stderr.read().decode()
        assert "Traceback" not in err and "a worker process died" in err, err[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ref = tmp_path / "ref"
    audit(config_from_args(build_parser().parse_args(_argv(caps, objs, ref))))
    audit(config_from_args(build_parser().parse_args(_argv(caps, objs, out))))
    assert_same_run(ref, out)


# --- item 8: random SIGKILLs on real captions -----------------------------------------------------------------

@pytest.mark.slow
def test_random_sigkills_on_opera_captions(tmp_path: Path, parser: object) -> None:
    """20 SIGKILLs at random moments of a run on OPERA's LLaVA-1.5 captions (CHAIR's object table
    for their images): after each, readers refuse the folder (in progress) or it is complete and
    identical; the final resume is identical to an uninterrupted run."""
    captions = shared("opera", "chair_eval_results", "llava-1.5", "beam5.jsonl")
    table = json.loads(shared("chair_standalone", "chair_imid_to_objects.json").read_text())
    lines = captions.read_text().splitlines()[:200]
    caps = tmp_path / "opera.jsonl"
    caps.write_text("\n".join(lines) + "\n")
    ids = {str(json.loads(line)["image_id"]) for line in lines}
    objs = tmp_path / "objects.json"
    objs.write_text(json.dumps({k: v for k, v in table.items() if k in ids}))
    argv = ["run", "--captions", str(caps), "--objects", str(objs), "--batch-size", "10", "--bootstrap", "50",
            "--quiet"]
    ref, out = tmp_path / "ref", tmp_path / "run"
    t0 = time.monotonic()
    audit(config_from_args(build_parser().parse_args([*argv, "--out", str(ref)])))
    duration = time.monotonic() - t0
    rng = random.Random(14)
    cfg = config_from_args(build_parser().parse_args([*argv, "--out", str(out)]))
    for _ in range(20):
        pid = os.fork()  # a forked child shares the loaded spaCy model: no start-up per kill
        if pid == 0:
            try:
                audit(cfg)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0, duration))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        if (out / ".in-progress").exists():
            with pytest.raises(InputError, match=IN_PROGRESS_MESSAGE):
                read_summary(out)
        elif (out / "summary.json").exists():
            assert_same_run(ref, out)
    audit(cfg)
    assert_same_run(ref, out)

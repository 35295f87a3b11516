"""CLI fuzz test (issue #14): nothing reachable from ``caption-audit`` ends in a traceback.

Hypothesis draws a subcommand and a handful of its flags with values from pools of hostile
inputs (paths that are run folders, damaged runs, plain folders, missing, binary, UTF-16 or a
YAML bomb; numbers such as nan, inf, negative and huge; strings with Markdown/HTML and NUL).
Every invocation must end in a documented exit code (0 ok, 1 gate failure, 2 usage/input/
fault, 3 nothing scored, 130 interrupted) with no "Traceback" on stderr. argparse's own
``SystemExit(2)`` counts as fine. A few cases also run as real subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from caption_audit.cli import main  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXIT_CODES = {0, 1, 2, 3, 130}


@pytest.fixture(scope="module")
def pools(tmp_path_factory) -> dict[str, list[str]]:
    """Paths and values the fuzzer draws from (all under one temporary folder)."""
    from caption_audit.demo import data_dir
    from caption_audit.pipeline import AuditConfig, InputSpec, audit

    root = tmp_path_factory.mktemp("fuzz")
    d = data_dir()
    run = Path(audit(AuditConfig(inputs=[
        InputSpec(d / "coco_captions.json", "captions", "coco_captions", "coco"),
        InputSpec(d / "instances.json", "ground_truth", "coco_instances"),
        InputSpec(d / "llava_detail.json", "captions", "llava_conversations", "llava"),
    ], out=root / "run", n_resamples=50, progress=False)))
    damaged = root / "damaged"
    shutil.copytree(run, damaged)
    s = json.loads((damaged / "summary.json").read_text())
    s["sources"]["llava"]["metrics"]["chair_i"]["value"] = "0.1"
    s["metrics"]["chair_i"]["higher_is_better"] = "false"
    (damaged / "summary.json").write_text(json.dumps(s))
    (damaged / "mentions.parquet").write_bytes(b"PAR1 not parquet PAR1")
    foreign = root / "foreign"
    shutil.copytree(run, foreign)
    s = json.loads((foreign / "summary.json").read_text())
    s["tool"]["name"], s["schema_version"] = "other-tool", 99
    (foreign / "summary.json").write_text(json.dumps(s))
    (root / "empty_dir").mkdir()
    (root / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (root / "utf16.yaml").write_bytes("checks:\n  - metric: chair_i\n    max: 0.1\n".encode("utf-16"))
    (root / "labels.jsonl").write_text('{"caption_id": "x", "hallucinated": true}\n')
    (root / "gate.yaml").write_text("checks:\n  - metric: chair_i\n    max: 0.5\n")
    anchors = "".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 14))
    (root / "bomb.yaml").write_text("a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + anchors)
    (root / "caps.jsonl").write_text('{"image_id": "1", "caption": "A dog."}\n')
    paths = [str(run), str(damaged), str(foreign), str(root / "empty_dir"), str(root / "missing"),
             str(root / "binary.bin"), str(root / "utf16.yaml"), str(root / "labels.jsonl"),
             str(root / "gate.yaml"), str(root / "bomb.yaml"), str(root / "caps.jsonl"), "/dev/null", ""]
    outputs = [str(root / "out" / "o.json"), str(root / "empty_dir"), str(root / "out.md"), "/dev/null/x",
               str(root / "binary.bin")]
    return {"run": [str(run)], "paths": paths, "outputs": outputs, "root": [str(root)]}


NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1", "0.5", "1e308", "-0.0", "abc", "", "100000000",
           "99999999999999999999999"]
STRINGS = ["coco", "llava", "all", "overall", "coco,llava", "[click](http://evil.example)",
           "![t](http://127.0.0.1:9/x.png)", "<script>x</script>", "chair_i", "chair_i=0.1", "=", "a\x00b", "…", ""]
METRIC_VALUES = [f"{m}={n}" for m in ("chair_i", "coverage", "nope", "") for n in ("0.1", "nan", "-inf", "x", "1e400")]


def _flag_values(kind: str, pools: dict[str, list[str]]) -> st.SearchStrategy[str]:
    return {
        "path": st.sampled_from(pools["paths"]),
        "out": st.sampled_from(pools["outputs"]),
        "num": st.sampled_from(NUMBERS),
        "str": st.sampled_from(STRINGS),
        "mv": st.sampled_from(METRIC_VALUES),
        "sev": st.sampled_from(["fail", "warn", "bogus"]),
    }[kind]


# subcommand -> (positional kinds, {flag: value kind or None for a switch})
SPECS: dict[str, tuple[list[str], dict[str, str | None]]] = {
    "gate": (["path"], {"--config": "path", "--max": "mv", "--min": "mv", "--source": "str", "--severity": "sev",
                        "--min-captions": "num", "--baseline": "path", "--max-regression": "mv",
                        "--n-resamples": "num", "--confidence": "num", "--seed": "num", "--junit": "out",
                        "--markdown": "out", "--json": "out", "--quiet": None}),
    "compare": (["path"], {"--sources": "str", "--baseline": "path", "--metrics": "str", "--top-classes": "num",
                           "--n-resamples": "num", "--confidence": "num", "--seed": "num", "--json": "out",
                           "--markdown": "out"}),
    "report": (["path"], {"--json": None}),
    "evaluate": (["path"], {"--labels": "path", "--json": "out"}),
    "run": ([], {"--captions": "path", "--coco-captions": "path", "--coco-instances": "path", "--source": "str",
                 "--gt": "str", "--batch-size": "num", "--bootstrap": "num", "--seed": "num", "--workers": "num",
                 "--semantic-threshold": "num", "--no-parser": None, "--quiet": None, "--engine": "str"}),
    "dashboard": (["path"], {"--port": "num", "--host": "str", "--images": "path", "--baseline": "path"}),
}


@st.composite
def argvs(draw, pools: dict[str, list[str]]) -> list[str]:
    cmd = draw(st.sampled_from(sorted(SPECS)))
    positional, flags = SPECS[cmd]
    argv = [cmd] + [draw(_flag_values(k, pools)) for k in positional]
    for flag in draw(st.lists(st.sampled_from(sorted(flags)), max_size=5)):
        argv.append(flag)
        if flags[flag] is not None:
            argv.append(draw(_flag_values(flags[flag], pools)))
    if cmd == "run":  # always write under the fuzz folder, small and quick
        argv += ["--out", str(Path(pools["root"][0]) / "runs" / str(draw(st.integers(0, 3)))),
                 "--bootstrap", "20", "--no-parser", "--quiet"]
    if cmd == "dashboard":  # never start a server: the run folder is always one it refuses
        argv[1] = str(Path(pools["root"][0]) / "missing")
    return argv


def check_main(argv: list[str], capsys) -> int:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors (and --help)
        code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    assert code in EXIT_CODES, (argv, code, err[-2000:])
    assert "Traceback" not in err and "Traceback" not in out, (argv, err[-2000:])
    if code == 2 and err.strip():
        last = err.strip().splitlines()[-1]
        assert last.startswith(("caption-audit: ", "caption-audit dashboard", "usage:")) or ": error:" in last, (argv, err)
    return code


def test_cli_fuzz_in_process(pools, capsys):
    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(argvs(pools))
    def one(argv):
        check_main(argv, capsys)

    one()


@pytest.mark.parametrize(
    ("argv_tail", "code"),
    [
        (["gate", "{run}", "--max", "chair_i=nan"], 2),
        (["gate", "{run}", "--max", "chair_i=0.9", "--json", "{root}"], 2),
        (["gate", "{run}", "-c", "{root}/utf16.yaml"], 2),
        (["gate", "{root}/damaged", "--max", "chair_i=0.5"], 2),
        (["gate", "{run}", "--max", "chair_i=0.9"], 0),
    ],
)
def test_cli_cases_in_a_subprocess(pools, argv_tail, code):
    """A few cases end to end in a real process (the rest run in-process in the fuzz test)."""
    root, run = pools["root"][0], pools["run"][0]
    argv = [a.format(root=root, run=run) for a in argv_tail]
    env = {k: v for k, v in os.environ.items() if k != "CAPTION_AUDIT_DEBUG"}
    env["PYTHONPATH"] = str(REPO)
    p = subprocess.run([sys.executable, "-m", "caption_audit.cli", *argv], capture_output=True, text=True,
                       env=env, timeout=120, cwd=root)
    assert p.returncode == code, p.stderr
    assert "Traceback" not in p.stderr
    if code == 2:
        assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("caption-audit: error: "), p.stderr


def test_step_summary_folder_is_exit_2(pools, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", pools["root"][0])
    assert check_main(["gate", pools["run"][0], "--max", "chair_i=0.9"], capsys) == 2


def test_broken_pipe_exits_quietly(pools):
    """``caption-audit compare RUN | head -c 10``: no BrokenPipeError traceback."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = f"{sys.executable} -m caption_audit.cli report {pools['run'][0]} --json | head -c 10"
    p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr


def test_internal_error_one_line_and_debug_reraises(monkeypatch, capsys):
    """The last-resort handler: one line naming the type; CAPTION_AUDIT_DEBUG=1 re-raises."""
    import caption_audit.commands.report as report

    def boom(*_a, **_k):
        raise ZeroDivisionError("deliberate")

    monkeypatch.setattr(report, "print_report", boom)
    monkeypatch.delenv("CAPTION_AUDIT_DEBUG", raising=False)
    assert main(["report", "x"]) == 2
    err = capsys.readouterr().err
    assert err == ("caption-audit: internal error: ZeroDivisionError: deliberate "
                   "(set CAPTION_AUDIT_DEBUG=1 for the traceback)\n")
    monkeypatch.setenv("CAPTION_AUDIT_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["report", "x"])


def test_os_error_names_the_path(pools, tmp_path, capsys):
    """evaluate --json pointing at a folder: the OSError becomes one line naming the path, exit 2."""
    import pandas as pd

    run = pools["run"][0]
    cid = pd.read_parquet(Path(run) / "captions.parquet", columns=["caption_id"])["caption_id"].iloc[0]
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"caption_id": cid, "hallucinated": False}) + "\n")
    out = tmp_path / "is_a_folder"
    out.mkdir()
    code = main(["evaluate", run, "--labels", str(labels), "--json", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err == f"caption-audit: error: {out}: Is a directory\n", err

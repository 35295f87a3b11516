"""`caption-audit run --config audit.yaml`: every run flag as a key, CLI overrides, clear errors."""

from __future__ import annotations

import json
import shutil

import pytest

from caption_audit.cli import main
from caption_audit.demo import data_dir


@pytest.fixture
def folder(tmp_path):
    d = data_dir()
    for name in ("instances.json", "llava_detail.json", "sharegpt4v.json"):
        shutil.copy(d / name, tmp_path / name)
    return tmp_path


def _write(folder, text):
    p = folder / "audit.yaml"
    p.write_text(text)
    return p


def test_config_file_runs_and_cli_overrides(folder, capsys, monkeypatch):
    cfg = _write(folder, """
inputs:
  - {path: instances.json, role: ground_truth}
  - {path: llava_detail.json, source: llava-7b}
sharegpt4v: [sharegpt4v.json]
out: runs/a            # relative to this file
bootstrap: 20
no-parser: true
seed: 3
quiet: true
""")
    monkeypatch.chdir(folder.parent)  # paths in the file do not depend on the working folder
    assert main(["run", "--config", str(cfg), "--bootstrap", "30"]) == 0
    summary = json.loads((folder / "runs" / "a" / "summary.json").read_text())
    assert summary["bootstrap"]["n_resamples"] == 30 and summary["bootstrap"]["seed"] == 3  # CLI wins
    assert set(summary["sources"]) == {"llava-7b", "sharegpt4v"}
    assert summary["text"]["parser"] == "lexical" and summary["gt_mode"] == "instances"


@pytest.mark.parametrize(("text", "message"), [
    ("outt: runs/a\n", "unknown key 'outt'. Valid keys: batch-size, bootstrap,"),
    ("inputs: [{path: x.json, rolle: captions}]\nout: r\n", "inputs[0]: unknown key 'rolle'. Valid keys: path, role"),
    ("bootstrap: many\nout: r\n", "'bootstrap': not a valid value"),
    ("gt: oracle\nout: r\n", "'gt': 'oracle' is not one of instances, chair"),
    ("no-parser: yes please\nout: r\n", "'no-parser' must be true or false"),
    ("- out\n", "a run config is a mapping"),
    ("out: [unclosed\n", "not valid YAML"),
    ("inputs:\n  - {path: llava_detail.json, role: teacher}\n", "role 'teacher' is not one of"),
])
def test_bad_config_is_exit_2_naming_the_key(folder, capsys, text, message):
    assert main(["run", "--config", str(_write(folder, text))]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_config_too_big_is_refused(folder, capsys):
    p = _write(folder, "# " + "x" * (1 << 20) + "\n")
    assert main(["run", "--config", str(p), "--out", str(folder / "r")]) == 2
    assert "larger than" in capsys.readouterr().err


def test_out_is_required_somewhere(folder, capsys):
    assert main(["run", "--config", str(_write(folder, "llava: [llava_detail.json]\n"))]) == 2
    assert "--out is required" in capsys.readouterr().err


def test_every_run_flag_has_a_key():
    from caption_audit.cli import build_parser
    from caption_audit.commands.run_config import _actions

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["run"]
    keys = {a.option_strings[-1].lstrip("-") for a in _actions(sub).values()}
    flags = {s.lstrip("-") for a in sub._actions for s in a.option_strings if s.startswith("--")} - {"help", "config"}
    assert flags <= keys | {s.lstrip("-") for a in _actions(sub).values() for s in a.option_strings}

"""docs/ci: the example workflow's gate command parses, and the sample gate.yaml runs on a real run."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from caption_audit.cli import build_parser, main
from caption_audit.gate.cli import build_config, evaluate
from caption_audit.gate.config import load_config
from tests.gate_runs import have_shared, real_run

DOCS = Path(__file__).resolve().parents[1] / "docs" / "ci"


def _gate_commands() -> list[str]:
    wf = yaml.safe_load((DOCS / "github-actions.yml").read_text())
    cmds = []
    for job in wf["jobs"].values():
        for step in job["steps"]:
            for line in str(step.get("run", "")).splitlines():
                if line.strip().startswith("caption-audit gate"):
                    cmds.append(line.strip())
    return cmds


def test_workflow_is_valid_yaml_with_a_gate_step():
    wf = yaml.safe_load((DOCS / "github-actions.yml").read_text())
    assert wf["name"] == "caption-audit" and "audit" in wf["jobs"]
    assert len(_gate_commands()) == 1


def test_workflow_gate_command_is_valid_for_our_parser():
    argv = shlex.split(_gate_commands()[0])[1:]
    args = build_parser().parse_args(argv)  # argparse exits (SystemExit) on an unknown flag
    assert args.command == "gate" and args.func.__module__ == "caption_audit.gate.cli"
    assert args.config == "docs/ci/gate.yaml" and Path(args.config).name == "gate.yaml"
    assert args.junit and args.markdown and args.json
    cfg = build_config(args) if Path(args.config).exists() else None  # run from the repo root in CI
    if cfg is not None:
        assert cfg.baseline is not None


def test_sample_gate_yaml_is_valid():
    cfg = load_config(DOCS / "gate.yaml")
    assert cfg.checks and cfg.baseline is not None
    assert cfg.baseline.run == (DOCS / "../../baselines/main").resolve() or cfg.baseline.run.name == "main"
    assert cfg.baseline.per_source["llava"].severity == "warn"


@pytest.mark.skipif(not have_shared(), reason="shared data (/work/shared/data) not available")
def test_sample_gate_yaml_runs_on_a_real_run(tmp_path: Path, capsys):
    run, base = real_run("bench_injected"), real_run("bench")
    argv = ["gate", str(run), "--config", str(DOCS / "gate.yaml"), "--baseline", str(base),
            "--junit", str(tmp_path / "g.xml")]  # fmt: skip
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 1, out  # the injected giraffes break chair_i; config and run are valid
    assert "FAIL chair_i[coco] vs baseline" in out
    assert "WARN chair_i[llava] vs baseline" in out or "PASS chair_i[llava] vs baseline" in out
    assert out.strip().splitlines()[-1].startswith("gate: FAIL")
    args = build_parser().parse_args(argv)
    results, code2 = evaluate(build_config(args), str(base))  # the clean run passes the same config
    assert code2 == 0, [r.id for r in results if r.status == "FAIL"]

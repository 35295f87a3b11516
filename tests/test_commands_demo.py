"""`caption-audit demo`: says what the sample is, what the metrics mean, and hints that work."""

from __future__ import annotations

import importlib.util

from caption_audit.cli import main
from caption_audit.commands.demo import dashboard_hint


def test_demo_explains_itself_and_its_report_renders(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "14 drawn images" in text and "hand-written imitations" in text and "not real COCO" in text
    for line in ("CHAIR-i: ", "CHAIR-s: ", "coverage: "):
        assert sum(row.startswith(line) for row in text.splitlines()) == 1
    assert "--html report.html" in text
    assert main(["report", str(out), "--html", str(tmp_path / "d.html")]) == 0
    page = (tmp_path / "d.html").read_text()
    assert "llava" in page and "<mark" in page


def test_dashboard_hint_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "streamlit" else real(name, *a))
    assert dashboard_hint("runs/demo") == "pip install 'caption-audit[dashboard]', then: caption-audit dashboard runs/demo"
    monkeypatch.undo()
    if real("streamlit") is not None:
        assert dashboard_hint("runs/demo") == "caption-audit dashboard runs/demo"

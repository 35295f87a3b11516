"""`import caption_audit` and building the CLI stay light: no torch, transformers,
sentence-transformers, ray, streamlit or spaCy until a stage needs them."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["torch", "transformers", "sentence_transformers", "ray", "streamlit", "spacy", "pandas"]


def test_import_and_cli_are_light():
    code = (
        "import sys, json, caption_audit\n"
        "from caption_audit.cli import build_parser\n"
        "build_parser()\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_lazy_public_api():
    import caption_audit

    assert caption_audit.audit.__name__ == "audit"
    assert caption_audit.RunFolder.__name__ == "RunFolder"

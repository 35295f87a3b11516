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


HEAVY_FOR_TEXT = ["torch", "transformers", "sentence_transformers", "ray", "streamlit"]


def test_text_only_run_stays_light(tmp_path):
    """A whole text-only run of the demo data, parser included, never imports torch & co."""
    code = (
        "import sys, json\n"
        "import caption_audit.pipeline\n"
        "from caption_audit.cli import main\n"
        f"rc = main(['demo', '--out', {str(tmp_path / 'run')!r}, '--quiet'])\n"
        "assert rc == 0\n"
        f"print(json.dumps([m for m in {HEAVY_FOR_TEXT!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["text"]["spacy_model"].startswith("en_core_web_sm")


def test_torch_still_imports_after_spacy_loaded_without_it():
    """spaCy is loaded with torch hidden; torch (detectors, embeddings) must work afterwards."""
    code = (
        "import sys\n"
        "from caption_audit.text.parse import CaptionParser\n"
        "p = CaptionParser()\n"
        "m = p.parse(['The cat is not on the mat.'])[0].mentions\n"
        "assert p.stats['sentences_parsed'] == 1 and m[0].negated, m\n"
        "assert 'spacy' in sys.modules and 'torch' not in sys.modules\n"
        "import torch\n"
        "assert float(torch.ones(3).sum()) == 3.0\n"
        "import thinc.compat\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if "No module named 'torch'" in out.stderr:
        import pytest

        pytest.skip("torch is not installed")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_spacy_loads_only_when_a_sentence_needs_the_parser():
    """Captions with no ambiguous word and no verbal negation never import spaCy; the run's
    provenance (model name and versions) is read from the installed package instead."""
    code = (
        "import sys, json\n"
        "from caption_audit.text.nlp import model_info\n"
        "from caption_audit.text.parse import CaptionParser\n"
        "p = CaptionParser()\n"
        "r = p.parse(['Two dogs on a couch.', 'A man riding a wave on top of a surfboard.'])\n"
        "assert [m.canonical for m in r[0].mentions] == ['dog', 'couch'], r\n"
        "lazy = model_info(p.nlp)\n"
        "light = 'spacy' not in sys.modules\n"
        "p.parse(['The cat is not on the mat.'])\n"
        "print(json.dumps([light, 'spacy' in sys.modules, lazy == model_info(p.nlp.resolve()), lazy]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    light, loaded_later, same_info, info = json.loads(out.stdout.strip().splitlines()[-1])
    assert light and loaded_later and same_info, info
    assert info["spacy_model"].startswith("en_core_web_sm")

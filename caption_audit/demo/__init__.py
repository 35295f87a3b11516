"""The bundled demo sample: authored COCO-, LLaVA- and ShareGPT4V-style captions of 14 drawn images.

Files in :data:`DATA_DIR`: ``coco_captions.json``, ``instances.json``, ``llava_detail.json``,
``sharegpt4v.json`` and ``images/``. See ``data/README.md``.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR: Path = Path(__file__).resolve().parent / "data"


def data_dir() -> Path:
    """The folder holding the sample files."""
    return DATA_DIR

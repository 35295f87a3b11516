"""The bundled demo sample: authored COCO-, LLaVA- and ShareGPT4V-style captions of 14 drawn images."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_dir() -> Path:
    """Folder holding the sample files (coco_captions.json, instances.json, llava_detail.json,
    sharegpt4v.json, images/)."""
    return Path(str(resources.files("caption_audit.demo").joinpath("data")))

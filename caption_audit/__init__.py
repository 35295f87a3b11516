"""caption-audit: object hallucination and coverage of image captions, source by source.

Importing this package is cheap: spaCy, torch, transformers, sentence-transformers and ray
are imported only by the stages that need them. The public API loads on first use::

    from caption_audit import AuditConfig, InputSpec, RunFolder, audit
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "audit": "caption_audit.pipeline",
    "AuditConfig": "caption_audit.pipeline",
    "InputSpec": "caption_audit.pipeline",
    "RunFolder": "caption_audit.store",
    "CaptionParser": "caption_audit.text.parse",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'caption_audit' has no attribute {name!r}")

"""The ``--semantic`` run settings, as one frozen value (light: no model is loaded here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from caption_audit.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SemanticSettings:
    """How ``--semantic`` maps open words onto COCO classes (docs/semantic.md).

    Attributes:
        embedder: sentence-transformers model name or path; ``None`` for the default.
        threshold: cosine similarity needed to map a word onto a COCO class; ``None`` for
            :data:`caption_audit.semantic.mapping.DEFAULT_THRESHOLD`.
        candidates: also embed unknown nouns found by a lexical heuristic ("a telly").
    """

    embedder: str | None = None
    threshold: float | None = None
    candidates: bool = False

    @classmethod
    def coerce(cls, value: SemanticSettings | Mapping[str, Any] | None) -> SemanticSettings | None:
        """``None`` stays ``None``; a mapping from the CLI or a config file (keys ``embedder``,
        ``threshold``, ``candidates``) becomes settings; settings pass through.

        Raises:
            ConfigError: an unknown key (naming the valid ones).
        """
        if value is None or isinstance(value, cls):
            return value
        known = [f.name for f in fields(cls)]
        bad = [k for k in value if k not in known]
        if bad:
            raise ConfigError(f"semantic: unknown key '{bad[0]}'. Valid keys: {', '.join(known)}.")
        return cls(**{k: value[k] for k in known if k in value})

    def as_dict(self) -> dict[str, Any]:
        """The settings as written to summary.json and the run fingerprint."""
        return {"embedder": self.embedder, "threshold": self.threshold, "candidates": self.candidates}

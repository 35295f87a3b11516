"""Caption quality beyond hallucination (issue #12): degenerate, duplicated and boilerplate
captions, and where in a caption the errors sit.

- :func:`check_caption` (per caption, text stage): ``repetition``, ``truncated``, ``garbage``,
  ``non_english``, ``empty`` — registered in :data:`QUALITY_CHECKS`.
- :class:`CorpusAccumulator` (streaming, per source): exact and near-duplicate captions across
  images, boilerplate openers/closers.
- :mod:`caption_audit.quality.position`: hallucination rate by caption decile and sentence index.

Nothing here imports spaCy models, torch or pandas at import time except ``position``/``corpus``
(numpy/pandas), which the caller imports when it needs them.
"""

from caption_audit.quality.checks import QUALITY_CHECKS, QualityResult, check_caption

__all__ = ["QUALITY_CHECKS", "QualityResult", "check_caption", "CorpusAccumulator"]


def __getattr__(name: str):
    if name == "CorpusAccumulator":
        from caption_audit.quality.corpus import CorpusAccumulator

        return CorpusAccumulator
    raise AttributeError(name)

"""Semantic layer: embedding-based mapping of open-vocabulary words to COCO-80, broader terms
(hypernyms), count checks, reference coverage and agreement with human labels.

Everything here is optional (``pip install caption-audit[semantic]``) and pure: functions take
and return the core types (:class:`~caption_audit.types.Mention`,
:class:`~caption_audit.types.ParsedCaption`) so the pipeline wires them in a few lines.
sentence-transformers is imported lazily, inside :class:`~caption_audit.semantic.embedder.Embedder`.
"""

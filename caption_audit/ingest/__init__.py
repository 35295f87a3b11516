"""Ingest: read caption and ground-truth files into plain records.

Every format is a loader registered by name in :data:`~caption_audit.ingest.base.LOADERS`
(lazily, as ``"module:function"``), called as ``loader(path, *, source=None, **options)`` and
returning a :class:`~caption_audit.ingest.base.LoadResult`.

Example:
    >>> from caption_audit.ingest import load
    >>> res = load("captions_val2017.json")  # doctest: +SKIP
    >>> res.format, len(res.captions)  # doctest: +SKIP
    ('coco_captions', 25014)
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from caption_audit.errors import ConfigError, unknown_name
from caption_audit.ingest._io import PathLike
from caption_audit.ingest.base import LOADERS, LoadResult
from caption_audit.ingest.detect import detect_format
from caption_audit.ingest.ids import normalize_image_id
from caption_audit.types import Caption

LOADERS.register("coco_captions", "caption_audit.ingest.coco:load_coco_captions")
LOADERS.register("coco_instances", "caption_audit.ingest.coco:load_coco_instances")
LOADERS.register("llava_conversations", "caption_audit.ingest.llava:load_llava_conversations")
LOADERS.register("llava_bench", "caption_audit.ingest.llava:load_llava_bench")
LOADERS.register("llava_qa30x3", "caption_audit.ingest.llava:load_llava_qa30x3")
LOADERS.register("llava_caps_boxes", "caption_audit.ingest.llava:load_llava_caps_boxes")
LOADERS.register("sharegpt4v", "caption_audit.ingest.sharegpt4v:load_sharegpt4v")
LOADERS.register("generic_captions", "caption_audit.ingest.generic:load_generic_captions")
LOADERS.register("generic_objects", "caption_audit.ingest.generic:load_generic_objects")
LOADERS.register("hf_dataset", "caption_audit.ingest.hf:load_hf_dataset")

#: Formats with a streaming caption reader ``iter_x(path, *, source, warnings) -> Iterator[Caption]``.
ITERATORS: dict[str, tuple[str, str]] = {
    "coco_captions": ("caption_audit.ingest.coco:iter_coco_captions", "coco"),
    "llava_conversations": ("caption_audit.ingest.llava:iter_llava_conversations", "llava"),
    "sharegpt4v": ("caption_audit.ingest.sharegpt4v:iter_sharegpt4v", "sharegpt4v"),
    "generic_captions": ("caption_audit.ingest.generic:iter_generic_captions", ""),
    "hf_dataset": ("caption_audit.ingest.hf:iter_hf_dataset", ""),
}

#: Ground-truth formats (they give ``objects``/``images``; some also give captions).
GT_FORMATS = ("coco_instances", "llava_caps_boxes", "generic_objects")


def formats() -> list[str]:
    """The registered format (loader) names, sorted."""
    return LOADERS.names()


def _resolve(path: PathLike, format: str | None) -> str:
    if format is None:
        return detect_format(path)
    if format not in LOADERS:
        raise unknown_name("format", format, LOADERS.names())
    return format


def _check_options(fmt: str, fn: Any, options: dict[str, Any]) -> None:
    params = inspect.signature(fn).parameters
    allowed = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY and n != "source"]
    bad = [k for k in options if k not in allowed]
    if bad:
        valid = ", ".join(allowed) if allowed else "none"
        raise ConfigError(f"Unknown option '{bad[0]}' for format '{fmt}'. Valid options: {valid}.")


def load(path: PathLike, format: str | None = None, *, source: str | None = None, **options: Any) -> LoadResult:
    """Load one file with the named loader, or the one :func:`detect_format` picks.

    Args:
        path: the file to read.
        format: a loader name (see :func:`formats`); ``None`` sniffs it.
        source: caption source name; overrides the format's default (``coco``, ``llava``, …).
        **options: loader options, e.g. ``questions=``/``categories=`` for ``llava_bench``,
            ``bbox_format=`` for ``generic_objects``.

    Returns:
        A :class:`LoadResult` with ``format`` set to the loader used.

    Raises:
        ConfigError: unknown format or option.
        InputError: the file cannot be read as that format.
    """
    fmt = _resolve(path, format)
    fn = LOADERS.get(fmt)
    _check_options(fmt, fn, options)
    result = fn(path, source=source, **options)
    result.format = fmt
    return result


def iter_load(
    path: PathLike,
    format: str | None = None,
    *,
    source: str | None = None,
    warnings: list[str] | None = None,
    **options: Any,
) -> Iterator[Caption]:
    """Stream the captions of one file.

    ``coco_captions``, ``llava_conversations``, ``sharegpt4v`` and ``generic_captions`` are
    streamed record by record (memory: the caption ids seen); other formats are small and are
    loaded whole, yielding their captions (none for ground-truth-only formats).

    Args:
        path, format, source, options: as for :func:`load`.
        warnings: file-level notes are appended here once the stream is exhausted.
    """
    fmt = _resolve(path, format)
    target, default = ITERATORS.get(fmt, ("", ""))
    fn = None
    if target:
        import importlib

        module, attr = target.split(":")
        fn = getattr(importlib.import_module(module), attr)
        accepted = inspect.signature(fn).parameters
        if any(k not in accepted or k in ("source", "warnings") for k in options):
            fn = None  # an option only the whole-file loader takes
    if fn is not None:
        _check_options(fmt, LOADERS.get(fmt), options)
        src = source or default or None
        kwargs: dict[str, Any] = {"warnings": warnings, **options}
        if src is not None:
            kwargs["source"] = src
        yield from fn(path, **kwargs)
        return
    result = load(path, fmt, source=source, **options)
    if warnings is not None:
        warnings.extend(result.warnings)
    yield from result.captions


__all__ = [
    "GT_FORMATS",
    "ITERATORS",
    "LOADERS",
    "LoadResult",
    "detect_format",
    "formats",
    "iter_load",
    "load",
    "normalize_image_id",
]

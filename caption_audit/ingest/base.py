"""What every loader returns, and the loader registry.

A loader is a function ``load(path, *, source=None, **options) -> LoadResult`` registered by
name in :data:`LOADERS`. It never drops a record silently: a record it cannot use becomes a
:class:`~caption_audit.types.Caption` with ``error`` set (and is written as ``skipped``), and
a file it cannot read at all raises :class:`~caption_audit.errors.InputError` naming the file,
line/record and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from caption_audit.registry import Registry
from caption_audit.types import Caption, GTObject, ImageInfo


@dataclass
class LoadResult:
    """Captions and/or ground truth read from one file.

    Attributes:
        captions: every caption record, good or bad (bad ones carry ``error``).
        objects: ground-truth objects.
        images: images the ground truth knows about (so an image with zero objects is known).
        warnings: file-level notes (e.g. "3 records had no gpt turn").
        format: the loader name that produced it.
        path: the file read.
    """

    captions: list[Caption] = field(default_factory=list)
    objects: list[GTObject] = field(default_factory=list)
    images: list[ImageInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    format: str = ""
    path: str = ""


LOADERS: Registry = Registry("loader")


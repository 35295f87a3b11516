"""ShareGPT4V captions: ``sharegpt4v_instruct_gpt4-vision_cap100k.json`` (GPT-4V, 100k) and
``share-captioner_coco_lcs_sam_1246k_1107.json`` (Share-Captioner, 1.2M, 1.5 GB).

Same record shape as LLaVA (``{"id", "image", "conversations"}``), with image paths relative to
the ShareGPT4V data root: ``coco/train2017/000000000009.jpg`` becomes COCO id ``"9"``, while
``sam/images/sa_1.jpg``, ``llava/llava_pretrain/images/00013/000134591.jpg`` or
``wikiart/images/x.jpg`` keep their path as id (see :func:`~caption_audit.ingest.ids.normalize_image_id`).
The file is streamed with ijson; memory holds only the caption ids seen (for de-duplication).
"""

from __future__ import annotations

from collections.abc import Iterator

from caption_audit.ingest._io import PathLike
from caption_audit.ingest.base import LoadResult
from caption_audit.ingest.llava import iter_conversations
from caption_audit.types import Caption


def iter_sharegpt4v(
    path: PathLike, *, source: str = "sharegpt4v", warnings: list[str] | None = None
) -> Iterator[Caption]:
    """Stream ShareGPT4V captions, one per gpt turn, without loading the file.

    Args:
        path: a ShareGPT4V JSON array (or JSONL) file.
        source: caption source name.
        warnings: file-level notes (duplicates, unusable records) are appended when the stream ends.

    Yields:
        :class:`Caption` records; bad records carry ``error`` (e.g. ``"no gpt turn"``).

    Example:
        >>> from caption_audit.ingest.sharegpt4v import iter_sharegpt4v
        >>> n = sum(1 for c in iter_sharegpt4v("cap100k.json") if c.error is None)  # doctest: +SKIP
    """
    return iter_conversations(path, source=source, warnings=warnings)


def load_sharegpt4v(path: PathLike, *, source: str | None = None) -> LoadResult:
    """Load a ShareGPT4V caption file into a :class:`LoadResult` (``source`` default ``sharegpt4v``).

    For the 1.2M-record Share-Captioner file prefer :func:`iter_sharegpt4v`, which streams.
    """
    result = LoadResult(format="sharegpt4v", path=str(path))
    result.captions = list(iter_sharegpt4v(path, source=source or "sharegpt4v", warnings=result.warnings))
    return result

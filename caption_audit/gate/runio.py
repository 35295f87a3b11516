"""The gate's and compare's view of a run folder: a validated summary plus captions,
read through :class:`caption_audit.store.RunFolder` (the only module that knows the files)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caption_audit.errors import CaptionAuditError, InputError
from caption_audit.store.layout import summary_file
from caption_audit.store.reader import RunFolder

#: mentions columns of :data:`caption_audit.scoring.aggregate.CLASS_STATS_SQL`
CLASS_MENTION_COLUMNS = ("caption_id", "source", "canonical", "vocab", "negated", "nonvisual", "verdict")


class NothingScoredError(CaptionAuditError):
    """The run scored no caption at all: a gate must never pass on empty input."""

    exit_code = 3


@dataclass
class Run:
    """A run folder opened for reading.

    Attributes:
        path: the folder.
        summary: the parsed ``summary.json``.
    """

    path: Path
    summary: dict[str, Any]
    _captions: Any = field(default=None, repr=False)
    _mentions: Any = field(default=None, repr=False)

    @property
    def sources(self) -> list[str]:
        return sorted((self.summary.get("sources") or {}).keys())

    @property
    def metric_info(self) -> dict[str, dict]:
        return dict(self.summary.get("metrics") or {})

    def higher_is_better(self, metric: str) -> bool:
        """Direction of ``metric`` as declared by the run itself."""
        from caption_audit.scoring.paired import EXTRA_DIRECTIONS

        info = self.metric_info.get(metric)
        if info is None or not isinstance(info.get("higher_is_better"), bool):
            if metric in EXTRA_DIRECTIONS:
                return EXTRA_DIRECTIONS[metric]
            raise InputError(
                summary_file(self.path), f"metric '{metric}' declares no direction", field="metrics"
            )
        return info["higher_is_better"]

    @property
    def folder(self) -> RunFolder:
        """The run folder (store) this run reads its tables from."""
        return RunFolder(self.path, summary=self.summary)

    def captions(self):
        """``captions.parquet`` with the metric statistics' columns (read once, cached)."""
        if self._captions is None:
            self._captions = self.folder.metric_captions()
        return self._captions

    def mentions(self):
        """The ``mentions.parquet`` columns the per-class statistics need (read once, cached)."""
        if self._mentions is None:
            self._mentions = self.folder.mentions(columns=list(CLASS_MENTION_COLUMNS))
        return self._mentions

    def source_captions(self, source: str):
        """Captions of one source, or of every source for ``overall``."""
        df = self.captions()
        return df if source == "overall" else df[df["source"] == source]

    def n_scored(self, source: str | None = None) -> int:
        if source is None:
            return int((self.summary.get("counts") or {}).get("scored", 0))
        if source == "overall":
            return sum(self.n_scored(s) for s in self.sources)
        counts = ((self.summary.get("sources") or {}).get(source) or {}).get("counts") or {}
        return int(counts.get("scored", 0))


def open_run(path: str | Path, *, role: str = "run") -> Run:
    """Open a run folder and parse its ``summary.json``.

    Raises:
        InputError: (exit 2) the folder or its summary is missing or malformed.
    """
    p = Path(path)
    if not p.is_dir():
        raise InputError(p, f"{role} folder does not exist (expected a folder written by `caption-audit run`)")
    from caption_audit.store.lifecycle import IN_PROGRESS_MESSAGE, in_progress

    if in_progress(p):  # a run is writing it, or was killed before its final commit
        raise InputError(p, IN_PROGRESS_MESSAGE)
    sp = summary_file(p)
    try:
        summary = json.loads(sp.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(sp, f"missing: {p} is not a run folder") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(sp, f"cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(sp, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    from caption_audit.summary_schema import validate_summary

    validate_summary(summary, sp)
    for key in ("sources", "metrics"):
        if not isinstance(summary.get(key), dict):
            raise InputError(sp, "missing or not an object", field=key)
    return Run(path=p, summary=summary)

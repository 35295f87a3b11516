"""Read the parts of a run folder (docs/run-folder.md) that gate and compare need."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caption_audit.errors import CaptionAuditError, InputError


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
                self.path / "summary.json", f"metric '{metric}' declares no direction", field="metrics"
            )
        return info["higher_is_better"]

    def captions(self):
        """``captions.parquet`` as a pandas DataFrame (columns the gate needs)."""
        if self._captions is None:
            import pandas as pd

            p = self.path / "captions.parquet"
            try:
                df = pd.read_parquet(p)
            except FileNotFoundError:
                raise InputError(p, "missing: not a complete run folder") from None
            except Exception as exc:  # pyarrow raises several types for a corrupt file
                raise InputError(p, f"cannot read Parquet: {exc}") from None
            missing = [c for c in ("image_id", "source", "status") if c not in df.columns]
            if missing:
                raise InputError(p, f"missing columns {', '.join(missing)}", field=missing[0])
            df["image_id"] = df["image_id"].astype(str)
            mp = self.path / "mentions.parquet"
            if "n_all_mentions" not in df.columns and mp.is_file() and "caption_id" in df.columns:
                try:  # every mention, negated ones included (unverifiable_share's denominator)
                    ids = pd.read_parquet(mp, columns=["caption_id"])["caption_id"]
                    df["n_all_mentions"] = df["caption_id"].map(ids.value_counts()).fillna(0).astype(int)
                except Exception as exc:
                    raise InputError(mp, f"cannot read Parquet: {exc}") from None
            self._captions = df
        return self._captions

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
    sp = p / "summary.json"
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

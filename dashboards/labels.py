"""Human flags from the image browser, appended to ``<run>/labels.jsonl``.

This is the dashboard's one write: append-only, one file (:data:`LABELS_FILE`) inside the run
folder, under an exclusive ``fcntl`` lock, one JSON object per line in the claim-level label
format that ``caption-audit evaluate RUN --labels RUN/labels.jsonl`` reads
(docs/claims.md "Claim-level labels";
:func:`caption_audit.semantic.evaluate_claims.load_claim_labels`)::

    {"caption_id": "...", "kind": "colour", "span": [2, 15], "subject": "bus",
     "value": "red+white", "label": false, "flag": "verdict_wrong", "verdict": "contradicted",
     "source": "dashboard"}

``label`` says whether the claim is **true of the image**, so it follows from the run's verdict
and the user's flag: "the verdict is wrong" on a contradicted claim means the claim is true
(``label: true``); on a supported claim it means false. "The verdict is right" keeps the
verdict's side. Unverifiable / unsupported-by-references verdicts take no side, so the user
says directly whether the claim is true or false. A mention is written as the claim of kind
``object`` (COCO class) or ``open_object`` (other words) on its span, with hallucinated read
as contradicted. Extra keys (``flag``, ``verdict``, ``source``, ``time``) are ignored by the
loader and keep the audit trail.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from caption_audit.errors import ConfigError

LABELS_FILE = "labels.jsonl"

#: flags a user can set from the browser
FLAGS = ("verdict_wrong", "verdict_right", "claim_true", "claim_false")

_CLAIM_SIDE = {"supported": True, "contradicted": False, "hallucinated": False}


def claim_label(verdict: str, flag: str) -> bool:
    """Whether the claim is true of the image, given the run's ``verdict`` and the user's ``flag``.

    Raises:
        ConfigError: an unknown flag, or verdict_wrong/right on a verdict that takes no side.
    """
    if flag == "claim_true":
        return True
    if flag == "claim_false":
        return False
    if flag not in FLAGS:
        raise ConfigError(f"unknown flag {flag!r}; use one of {', '.join(FLAGS)}")
    side = _CLAIM_SIDE.get(str(verdict))
    if side is None:
        raise ConfigError(f"a {verdict!r} verdict takes no side: say whether the claim is true or false")
    return side if flag == "verdict_right" else not side


def mention_as_claim(m: dict[str, Any]) -> dict[str, Any]:
    """A mentions.parquet row as the object claim it makes (kind, span, subject, verdict)."""
    verdict = {"hallucinated": "contradicted"}.get(str(m.get("verdict")), str(m.get("verdict")))
    return {"caption_id": str(m["caption_id"]), "kind": "object" if m.get("vocab") == "coco80" else "open_object",
            "start": int(m["start"]), "end": int(m["end"]), "subject": str(m.get("canonical") or m.get("text") or ""),
            "value": "", "verdict": verdict}


def label_record(claim: dict[str, Any], flag: str) -> dict[str, Any]:
    """The JSONL record for one flagged claim (a claims.parquet row or :func:`mention_as_claim`)."""
    s, e = int(claim["start"]), int(claim["end"])
    if not 0 <= s < e:
        raise ConfigError(f"cannot label an empty span [{s}, {e}]")
    return {"caption_id": str(claim["caption_id"]), "kind": str(claim["kind"]), "span": [s, e],
            "subject": str(claim.get("subject") or ""), "value": str(claim.get("value") or ""),
            "label": claim_label(str(claim.get("verdict")), flag), "flag": flag,
            "verdict": str(claim.get("verdict")), "source": "dashboard",
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def append_label(run_dir: str | Path, record: dict[str, Any]) -> Path:
    """Append one record to ``<run_dir>/labels.jsonl`` under an exclusive file lock.

    The file is opened with ``O_APPEND`` (never truncated or rewritten) and must be a regular
    file directly inside the run folder (a symlink there is refused).

    Raises:
        ConfigError: the labels path is a symlink or not a regular file.
    """
    import fcntl
    import os

    root = Path(run_dir).resolve()
    path = root / LABELS_FILE
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ConfigError(f"{path} is not a regular file; refusing to write labels there")
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.write(fd, line)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return path


def read_flags(run_dir: str | Path) -> dict[tuple[str, str, int, int], dict[str, Any]]:
    """The latest flag per (caption_id, kind, start, end) written so far (for the browser to
    show what was already flagged); an absent or unreadable file gives ``{}``."""
    path = Path(run_dir) / LABELS_FILE
    out: dict[tuple[str, str, int, int], dict[str, Any]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return out
    for line in text.splitlines():
        try:
            r = json.loads(line)
            out[(str(r["caption_id"]), str(r["kind"]), int(r["span"][0]), int(r["span"][1]))] = r
        except (ValueError, KeyError, TypeError, IndexError):
            continue
    return out

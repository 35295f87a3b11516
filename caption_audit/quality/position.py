"""Where in a caption the errors sit: relative position of each judged mention/claim, and the
hallucination rate by caption decile and by sentence index, per source.

Pure functions over DataFrames (the run folder's ``mentions.parquet`` and ``captions.parquet``).
A mention counts as *judged* when its verdict is ``supported`` or ``hallucinated`` (claims:
``supported`` or ``contradicted``); *unverifiable* ones are left out, as in CHAIR-i. The rate of a
bin is hallucinated / judged, None (undefined) for a bin with no judged mention.

Example::

    >>> import pandas as pd
    >>> caps = pd.DataFrame({"caption_id": ["c1"], "caption": ["A dog. A cat on a mat."]})
    >>> men = pd.DataFrame({"caption_id": ["c1", "c1"], "source": ["s", "s"], "start": [2, 9],
    ...                     "end": [5, 12], "verdict": ["supported", "hallucinated"]})
    >>> pos = mention_positions(men, caps)
    >>> pos[["char_frac", "decile", "sentence_idx"]].values.tolist()
    [[0.0909, 0, 0], [0.4091, 4, 1]]
    >>> curve = position_curves(pos)["sentence"]
    >>> curve[["bin", "n_judged", "n_bad"]].head(3).values.tolist(), curve["rate"].head(3).tolist()
    ([[0, 1, 0], [1, 1, 1], [2, 0, 0]], [0.0, 1.0, <NA>])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from caption_audit.quality.text import sentence_index, sentence_spans

if TYPE_CHECKING:
    import pandas as pd

#: Verdicts that count as judged, and those among them that count as errors.
JUDGED = frozenset({"supported", "hallucinated", "contradicted"})
BAD = frozenset({"hallucinated", "contradicted"})
#: Sentence indices at or above this are pooled into one last bin ("7+").
MAX_SENTENCE_BIN = 7


def relative_position(text: str, start: int) -> tuple[float | None, int | None]:
    """(character fraction, sentence index) of the character offset ``start`` in ``text``.

    The character fraction is ``start / len(text)`` (0 = first character), None for an empty
    text or an offset outside it.

    >>> relative_position("A dog. A cat on a mat.", 9)
    (0.4091, 1)
    """
    frac, _decile, sentence, _n = caption_positions(text, [start])[0]
    return frac, sentence


#: the position columns of mentions.parquet / claims.parquet, in the order :func:`caption_positions` gives them
POSITION_COLUMNS: tuple[str, ...] = ("char_frac", "decile", "sentence_idx", "n_sentences")
_NO_POSITION: tuple[None, None, None, None] = (None, None, None, None)


def caption_positions(text: str | None, starts: Iterable[int | None]
                      ) -> list[tuple[float | None, int | None, int | None, int | None]]:
    """``(char_frac, decile, sentence_idx, n_sentences)`` of each character offset in ``starts``
    within ``text`` (:data:`POSITION_COLUMNS`; the batch scorer writes them per mention and claim).

    ``char_frac`` is ``start / len(text)`` rounded to 4 places, ``decile`` its tenth (0..9),
    ``sentence_idx`` the 0-based sentence holding the offset (:func:`~caption_audit.quality.text.sentence_index`)
    and ``n_sentences`` the caption's sentence count; all None for an offset that is None or
    outside the text (or an empty/missing text). The sentences are split once per call.

    >>> caption_positions("A dog. A cat on a mat.", [2, 9, 40])
    [(0.0909, 0, 0, 2), (0.4091, 4, 1, 2), (None, None, None, None)]
    """
    n = len(text) if isinstance(text, str) else 0
    spans: list[tuple[int, int]] | None = None
    firsts: list[int] = []
    n_spans = 0
    out: list[tuple[float | None, int | None, int | None, int | None]] = []
    append = out.append
    for start in starts:
        if not n or start is None or not 0 <= start < n:
            append(_NO_POSITION)
            continue
        if spans is None:
            spans = sentence_spans(text)  # type: ignore[arg-type]  # n > 0: text is a str
            firsts = [s for s, _ in spans]
            n_spans = len(spans)
        frac = round(start / n, 4)
        append((frac, min(int(frac * 10), 9), sentence_index(spans, start, firsts), n_spans))
    return out


def mention_positions(mentions: pd.DataFrame, captions: pd.DataFrame) -> pd.DataFrame:
    """``mentions`` (``caption_id``, ``start``, ``verdict``, usually ``source``) with the columns
    ``char_frac`` (start / caption length), ``decile`` (0..9), ``sentence_idx`` (0-based) and
    ``n_sentences`` added, from the caption texts in ``captions`` (``caption_id``, ``caption``).
    Mentions whose caption text is missing, or whose offset lies outside it, get None/<NA>.
    """
    import pandas as pd

    texts = dict(zip(captions["caption_id"], captions["caption"], strict=True))
    at: dict[str, list[int]] = {}  # caption -> its rows, so each caption is split into sentences once
    starts: list[int | None] = []
    for i, (cid, start) in enumerate(zip(mentions["caption_id"], mentions["start"], strict=True)):
        at.setdefault(cid, []).append(i)
        starts.append(None if pd.isna(start) else int(start))
    rows: list[tuple[float | None, int | None, int | None, int | None]] = [_NO_POSITION] * len(starts)
    for cid, idx in at.items():
        for i, r in zip(idx, caption_positions(texts.get(cid), [starts[i] for i in idx]), strict=True):
            rows[i] = r
    fracs = [r[0] for r in rows]
    sents = [r[2] for r in rows]
    nsent = [r[3] for r in rows]
    out = mentions.copy()
    out["char_frac"] = pd.array(fracs, dtype="Float64")
    out["decile"] = pd.array([r[1] for r in rows], dtype="Int64")
    out["sentence_idx"] = pd.array(sents, dtype="Int64")
    out["n_sentences"] = pd.array(nsent, dtype="Int64")
    return out


def _curve(pos: pd.DataFrame, col: str, bins: list[int]) -> pd.DataFrame:
    import pandas as pd

    judged = pos[pos["verdict"].isin(JUDGED) & pos[col].notna()].copy()
    judged["bad"] = judged["verdict"].isin(BAD)
    if "source" not in judged:
        judged["source"] = "all"
    rows = []
    for source in sorted(set(judged["source"])) or []:
        sub = judged[judged["source"] == source]
        for b in bins:
            sel = sub[sub[col] == b]
            n, k = len(sel), int(sel["bad"].sum())
            rows.append({"source": source, "bin": b, "n_judged": n, "n_bad": k, "rate": k / n if n else None})
    out = pd.DataFrame(rows, columns=["source", "bin", "n_judged", "n_bad", "rate"])
    out["rate"] = pd.array(out["rate"].tolist(), dtype="Float64")  # <NA> = undefined, never 0
    return out.astype({"bin": "int64", "n_judged": "int64", "n_bad": "int64"})


def position_curves(positions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per source, the error rate by caption decile and by sentence index.

    ``positions``: the output of :func:`mention_positions` (or any frame with ``verdict``,
    ``decile``, ``sentence_idx`` and optionally ``source``). Returns ``{"decile": ...,
    "sentence": ...}``, each with columns ``source``, ``bin`` (decile 0..9; sentence index
    0..7, where 7 pools 7 and later), ``n_judged``, ``n_bad``, ``rate`` (None when
    ``n_judged`` is 0). Rates are plain proportions; for a confidence interval, bootstrap over
    captions as the summary does for CHAIR-i.
    """
    pos = positions.copy()
    pos["sentence_bin"] = pos["sentence_idx"].clip(upper=MAX_SENTENCE_BIN)
    return {
        "decile": _curve(pos, "decile", list(range(10))),
        "sentence": _curve(pos, "sentence_bin", list(range(MAX_SENTENCE_BIN + 1))),
    }

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

import pandas as pd

from caption_audit.quality.text import sentence_index, sentence_spans

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
    if not text or start is None or start < 0 or start >= len(text):
        return None, None
    return round(start / len(text), 4), sentence_index(sentence_spans(text), start)


def mention_positions(mentions: pd.DataFrame, captions: pd.DataFrame) -> pd.DataFrame:
    """``mentions`` (``caption_id``, ``start``, ``verdict``, usually ``source``) with the columns
    ``char_frac`` (start / caption length), ``decile`` (0..9), ``sentence_idx`` (0-based) and
    ``n_sentences`` added, from the caption texts in ``captions`` (``caption_id``, ``caption``).
    Mentions whose caption text is missing, or whose offset lies outside it, get None/<NA>.
    """
    texts = dict(zip(captions["caption_id"], captions["caption"], strict=True))
    spans_of: dict[str, list[tuple[int, int]]] = {}
    fracs: list[float | None] = []
    sents: list[int | None] = []
    nsent: list[int | None] = []
    for cid, start in zip(mentions["caption_id"], mentions["start"], strict=True):
        text = texts.get(cid)
        if not isinstance(text, str) or not text or pd.isna(start) or not 0 <= int(start) < len(text):
            fracs.append(None)
            sents.append(None)
            nsent.append(None)
            continue
        spans = spans_of.get(cid)
        if spans is None:
            spans = spans_of[cid] = sentence_spans(text)
        fracs.append(round(int(start) / len(text), 4))
        sents.append(sentence_index(spans, int(start)))
        nsent.append(len(spans))
    out = mentions.copy()
    out["char_frac"] = pd.array(fracs, dtype="Float64")
    out["decile"] = pd.array([None if f is None else min(int(f * 10), 9) for f in fracs], dtype="Int64")
    out["sentence_idx"] = pd.array(sents, dtype="Int64")
    out["n_sentences"] = pd.array(nsent, dtype="Int64")
    return out


def _curve(pos: pd.DataFrame, col: str, bins: list[int]) -> pd.DataFrame:
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

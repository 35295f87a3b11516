"""The reference pass's unit of work: parse a chunk of reference captions (e.g. COCO's human
captions) and keep what the other captions of the same image are judged against.

Run in worker processes by :func:`caption_audit.engine.local.map_ordered` (the parent's parser is
shared by fork), so the reference pass scales with ``--workers`` like the scoring pass; the
parent folds the small results in chunk order.

In one process (``--workers 1``, the local engine) the parsed reference captions are also kept
(:class:`ParseReuse`) and handed to the scoring pass, which then does not parse those texts a
second time (a COCO run's captions are its own references: half its parsing).
"""

from __future__ import annotations

from typing import Any

# claim kinds kept as evidence for the ``references`` resolver; object claims say which reference
# captions speak of one ("a dog"), for the count rule of the instances resolver
KEEP_KINDS = frozenset({"object", "count", "colour", "identity", "open_object"})


class ParseReuse:
    """Parsed captions kept from the reference pass for the scoring pass, by text (one process).

    The text stage is a function of the text (same parser, same settings), so a kept parse
    equals a fresh one. Each kept parse is handed out once (:meth:`take` pops it: the scoring
    pass may change a parse in place with ``--semantic``); at most ``limit`` are kept (about
    1 KB each for a COCO caption), the rest are parsed again.
    """

    def __init__(self, limit: int = 100_000):
        self.limit = limit
        self._kept: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, text: str, parsed: Any) -> None:
        """Keep ``parsed`` (the text stage's result for ``text``) while under the limit."""
        if len(self._kept) < self.limit:
            self._kept.setdefault(text, parsed)

    def take(self, text: str) -> Any:
        """The kept parse of ``text`` (removed), or None."""
        return self._kept.pop(text, None)

    def parse(self, parser: Any, texts: list[str]) -> list[Any]:
        """``parser.parse(texts)``, taking kept parses first and parsing only the others."""
        if not self._kept:
            return parser.parse(texts)
        out = [self._kept.pop(t, None) for t in texts]
        missing = [i for i, p in enumerate(out) if p is None]
        if missing:
            for i, p in zip(missing, parser.parse([texts[i] for i in missing]), strict=True):
                out[i] = p
        return out


def parse_references(state: tuple[Any, bool] | tuple[Any, bool, ParseReuse | None],
                     rows: list[tuple[str, str, str]]) -> list[tuple[str, list, set | None] | None]:
    """Parse ``(caption_id, image_id, text)`` rows with ``state = (parser, chair[, reuse])``;
    with a :class:`ParseReuse` (in-process runs only), every parse is also kept there.

    Returns:
        Per row: None for a text that cannot be scored (empty, no words: see
        :func:`~caption_audit.text.checks.text_problem`), else ``(caption_id, claims of
        KEEP_KINDS, COCO classes it asserts)``; the classes (not negated, not non-visual coco80
        mentions) only in CHAIR mode, else None.
    """
    from caption_audit.text.checks import text_problem

    parser, chair = state[0], state[1]
    reuse = state[2] if len(state) > 2 else None
    bad = [text_problem(r[2]) is not None for r in rows]
    parsed = iter(parser.parse([r[2] for r, b in zip(rows, bad, strict=True) if not b]))
    out: list[tuple[str, list, set | None] | None] = []
    for (caption_id, _, text), b in zip(rows, bad, strict=True):
        if b:
            out.append(None)
            continue
        p = next(parsed)
        if reuse is not None:
            reuse.keep(text, p)
        objects = ({m.canonical for m in p.mentions if m.vocab == "coco80" and not m.negated and not m.nonvisual}
                   if chair else None)
        out.append((caption_id, [cl for cl in p.claims if cl.kind in KEEP_KINDS], objects))
    return out

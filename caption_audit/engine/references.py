"""The reference pass's unit of work: parse a chunk of reference captions (e.g. COCO's human
captions) and keep what the other captions of the same image are judged against.

Run in worker processes by :func:`caption_audit.engine.local.map_ordered` (the parent's parser is
shared by fork), so the reference pass scales with ``--workers`` like the scoring pass; the
parent folds the small results in chunk order.
"""

from __future__ import annotations

from typing import Any

# claim kinds kept as evidence for the ``references`` resolver; object claims say which reference
# captions speak of one ("a dog"), for the count rule of the instances resolver
KEEP_KINDS = frozenset({"object", "count", "colour", "identity", "open_object"})


def parse_references(state: tuple[Any, bool],
                     rows: list[tuple[str, str, str]]) -> list[tuple[str, list, set | None] | None]:
    """Parse ``(caption_id, image_id, text)`` rows with ``state = (parser, chair)``.

    Returns:
        Per row: None for a text that cannot be scored (empty, no words: see
        :func:`~caption_audit.text.checks.text_problem`), else ``(caption_id, claims of
        KEEP_KINDS, COCO classes it asserts)``; the classes (not negated, not non-visual coco80
        mentions) only in CHAIR mode, else None.
    """
    from caption_audit.text.checks import text_problem

    parser, chair = state
    bad = [text_problem(r[2]) is not None for r in rows]
    parsed = iter(parser.parse([r[2] for r, b in zip(rows, bad, strict=True) if not b]))
    out: list[tuple[str, list, set | None] | None] = []
    for (caption_id, _, _), b in zip(rows, bad, strict=True):
        if b:
            out.append(None)
            continue
        p = next(parsed)
        objects = ({m.canonical for m in p.mentions if m.vocab == "coco80" and not m.negated and not m.nonvisual}
                   if chair else None)
        out.append((caption_id, [cl for cl in p.claims if cl.kind in KEEP_KINDS], objects))
    return out

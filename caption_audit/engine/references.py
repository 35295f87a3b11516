"""The reference pass's unit of work: parse a chunk of reference captions (e.g. COCO's human
captions) and keep what the other captions of the same image are judged against.

Reference chunk k holds the reference captions of scoring batch k. With ``--workers N`` the chunks
are parsed in the run's worker pool (:class:`caption_audit.engine.pool.WorkerPool`, the parent's
parser shared by fork): the worker keeps its parses (:class:`KeptParses`) and later scores batch k
itself, and every process folds every chunk's claims in chunk order (:class:`ReferenceFold`), so the
parent and each worker hold the same evidence. In one process (``--workers 1``, the local engine) the
parses are kept in a :class:`ParseReuse`. Either way a caption that is both a reference and scored
(a COCO run's captions are their own references) is parsed once, not twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import fields
from operator import attrgetter
from typing import Any

from caption_audit.types import Claim

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


class KeptParses:
    """Parses kept by one worker process, per scoring batch (:class:`ParseReuse` each), at most
    ``limit`` in all; over the limit the scoring pass parses those texts again (correct, slower)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.n = 0
        self._by_batch: dict[int, ParseReuse] = {}

    def open(self, batch_id: int) -> ParseReuse:
        """An empty store for ``batch_id``'s parses, holding at most what is left under the limit;
        call :meth:`close` once filled."""
        reuse = ParseReuse(limit=max(self.limit - self.n, 0))
        self._by_batch[batch_id] = reuse
        return reuse

    def close(self, batch_id: int) -> None:
        """Count what :meth:`open`'s store for ``batch_id`` kept (an empty one is dropped)."""
        reuse = self._by_batch.get(batch_id)
        if reuse is not None:
            if len(reuse):
                self.n += len(reuse)
            else:
                del self._by_batch[batch_id]

    def take(self, batch_id: int) -> ParseReuse | None:
        """The kept parses of ``batch_id`` (removed), or None."""
        reuse = self._by_batch.pop(batch_id, None)
        if reuse is not None:
            self.n -= len(reuse)
        return reuse


_CLAIM_TUPLE = attrgetter(*(f.name for f in fields(Claim)))


def encode_chunk(parsed: list[tuple[str, str, list, set | None] | None]) -> list[tuple[str, str, list, set | None] | None]:
    """A :func:`parse_references` result with each :class:`~caption_audit.types.Claim` as the
    tuple of its fields, for sending to other processes: the 72k claims of COCO val2017's
    captions unpickle in 0.04 s as tuples, 0.5 s as frozen dataclasses (pickled: 0.05 s vs
    0.2 s), and a process folds them without building the ``Claim`` objects
    (:class:`ReferenceClaims` builds those of an image when they are first read)."""
    return [None if res is None else (res[0], res[1], [_CLAIM_TUPLE(cl) for cl in res[2]], res[3])
            for res in parsed]


class ReferenceClaims(Mapping):
    """``image_id -> [(caption_id, Claim)]``, the reference claims of each image, in fold order.

    Claims folded as tuples (:func:`encode_chunk`) become :class:`~caption_audit.types.Claim`
    objects when their image is first read, once (a pool's parent, which scores nothing, never
    builds them; a worker builds only those of the images it scores). A read gives equal claims
    in the same order as folding the ``Claim`` objects themselves.
    """

    def __init__(self) -> None:
        self._lists: dict[str, list[tuple[str, Any]]] = {}
        self._tuples: set[str] = set()  # images whose list still holds field tuples

    def extend(self, image_id: str, caption_id: str, claims: list) -> None:
        """Append one reference caption's claims (``Claim`` objects or field tuples)."""
        lst = self._lists.setdefault(image_id, [])
        if claims:
            lst.extend((caption_id, cl) for cl in claims)
            if type(claims[0]) is tuple:
                self._tuples.add(image_id)

    def __getitem__(self, image_id: str) -> list[tuple[str, Claim]]:
        lst = self._lists[image_id]
        if image_id in self._tuples:  # built in place, once
            lst[:] = [(cid, Claim(*cl) if type(cl) is tuple else cl) for cid, cl in lst]
            self._tuples.discard(image_id)
        return lst

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._lists

    def __iter__(self) -> Iterator[str]:
        return iter(self._lists)

    def __len__(self) -> int:
        return len(self._lists)


class ReferenceFold:
    """The evidence the reference pass builds, folded chunk by chunk in chunk order: per image its
    reference captions' claims (:class:`ReferenceClaims`) and their number; in CHAIR mode the
    classes they assert join ``gt`` (:meth:`GroundTruth.add_caption_objects`). A chunk's claims
    may be ``Claim`` objects or :func:`encode_chunk`'s tuples. ``claims=False`` keeps no claims
    (``refs`` stays empty): a worker pool's parent, which scores nothing, needs only the counts
    and the CHAIR ground truth, while its workers fold the claims themselves."""

    def __init__(self, gt: Any, chair: bool, *, claims: bool = True):
        self.gt = gt
        self.chair = chair
        self.claims = claims
        self.refs = ReferenceClaims()
        self.n_refs: Counter = Counter()

    def add(self, parsed: list[tuple[str, str, list, set | None] | None]) -> None:
        """Fold one chunk's :func:`parse_references` (or :func:`encode_chunk`) result."""
        gt, chair, n_refs, extend = self.gt, self.chair, self.n_refs, self.refs.extend
        keep = self.claims
        for res in parsed:
            if res is None:  # a text that cannot be scored
                continue
            caption_id, image_id, claims, objects = res
            n_refs[image_id] += 1
            if keep:
                extend(image_id, caption_id, claims)
            if chair and gt.has_image(image_id):
                gt.add_caption_objects(image_id, objects)


def parse_references(state: tuple[Any, bool] | tuple[Any, bool, ParseReuse | None],
                     rows: list[tuple[str, str, str]]) -> list[tuple[str, str, list, set | None] | None]:
    """Parse ``(caption_id, image_id, text)`` rows with ``state = (parser, chair[, reuse])``;
    with a :class:`ParseReuse`, every parse is also kept there.

    Returns:
        Per row: None for a text that cannot be scored (empty, no words: see
        :func:`~caption_audit.text.checks.text_problem`), else ``(caption_id, image_id, claims
        of KEEP_KINDS, COCO classes it asserts)``; the classes (not negated, not non-visual coco80
        mentions) only in CHAIR mode, else None.
    """
    from caption_audit.text.checks import text_problem

    parser, chair = state[0], state[1]
    reuse = state[2] if len(state) > 2 else None
    bad = [text_problem(r[2]) is not None for r in rows]
    parsed = iter(parser.parse([r[2] for r, b in zip(rows, bad, strict=True) if not b]))
    out: list[tuple[str, list, set | None] | None] = []
    for (caption_id, image_id, text), b in zip(rows, bad, strict=True):
        if b:
            out.append(None)
            continue
        p = next(parsed)
        if reuse is not None:
            reuse.keep(text, p)
        objects = ({m.canonical for m in p.mentions if m.vocab == "coco80" and not m.negated and not m.nonvisual}
                   if chair else None)
        out.append((caption_id, image_id, [cl for cl in p.claims if cl.kind in KEEP_KINDS], objects))
    return out

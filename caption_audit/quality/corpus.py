"""Corpus-level quality, streaming: duplicate and near-duplicate captions across images of one
source, and the boilerplate openers/closers a source repeats.

Fed caption by caption (:meth:`CorpusAccumulator.add`); :meth:`CorpusAccumulator.finish` returns
per-caption columns and per-source tables. Only hashes and small integer arrays are kept per
caption (about 280 bytes: 6 hashes, 3 word counts, the source, 16 LSH band keys, a 64-byte
MinHash sketch, the caption id as UTF-8 bytes; no Python object per caption), never the texts;
texts are kept only for the per-source top lists (at most ``max_kept_texts`` per source and kind):
about 350 MB at 1.246M captions; ``finish`` needs about 190 bytes a caption more while it runs
(measured with tracemalloc on 60,000 ShareGPT4V-shaped captions, docs/performance.md).

Near-duplicates: MinHash (Broder 1997) of the set of word unigrams+bigrams of the normalised
caption, 64 values by one-permutation hashing with densification, computed in numpy batches of
2,048 captions, LSH banding 16 bands x 4 rows (a pair with Jaccard 0.8 becomes a candidate with
p = 0.9998, one with 0.5 with p = 0.64), candidates verified on the sketch (estimated Jaccard >= 0.8). Chosen over
``datasketch``: its per-caption ``MinHash.update_batch`` cost 0.8 ms (COCO) to 1.6 ms (OPERA) per
caption here, more than the whole 10% budget, and its LSH index keeps Python dicts per band.

Example::

    >>> acc = CorpusAccumulator()
    >>> acc.add("gpt", "1", "c1", "A cat on a red sofa next to a lamp and a big window.")
    >>> acc.add("gpt", "2", "c2", "A cat on a red sofa next to a lamp and a big window!")
    >>> acc.add("gpt", "3", "c3", "A dog in a park.")
    >>> res = acc.finish()
    >>> res.captions[["caption_id", "dup_group_size", "dup_images"]].values.tolist()
    [['c1', 2, 2], ['c2', 2, 2], ['c3', 1, 1]]
"""

from __future__ import annotations

import heapq
import itertools
import operator
import zlib
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from caption_audit.gc_pause import gc_paused
from caption_audit.quality.checks import CaptionBatch, CaptionText, with_batch
from caption_audit.quality.text import Words, settings, word_counts

_CHUNK = 2048
_SIM_ROWS = 16_384  # near-duplicate candidate pairs compared at a time (3 x 1 MB of sketches)
# Hashes are stable (the same in every process and run, unlike Python's salted ``hash()``), so a
# record prepared in any process (a forked pool worker, a Ray actor) can be absorbed by another:
# a caption's, sentence's or prefix's hash is a polynomial hash of its words' crc32 values
# (:class:`_Spans`, from :attr:`~caption_audit.quality.checks.CaptionBatch.word_crc`, which
# the MinHash sketches use too), an image id's one of its UTF-8 bytes (:func:`_hashes`). 0 stands
# for "no text"; no text of one word or more hashes to 0.
_BITMAP_BITS = 1 << 24
_POLY = 0x9E3779B97F4A7C15  # odd: invertible modulo 2**64
_POLY_INV = pow(_POLY, -1, 1 << 64)
_SURROGATES = operator.methodcaller("encode", "utf-8", "surrogatepass")


def _hashes(texts: list[str]) -> np.ndarray:
    """A stable 64-bit hash of each text's UTF-8 bytes (``zlib.crc32`` in the low and
    ``zlib.adler32`` in the high 32 bits), as a uint64 array: for short ids (image ids)."""
    raw = list(map(_SURROGATES, texts))
    n = len(raw)
    lo = np.fromiter(map(zlib.crc32, raw), dtype=np.uint64, count=n)
    hi = np.fromiter(map(zlib.adler32, raw), dtype=np.uint64, count=n)
    return lo | (hi << np.uint64(32))


def _id_hashes(ids: list[str | int]) -> np.ndarray:
    """:func:`_hashes` of ``str(id)`` for each id, each distinct id hashed once (captions share
    images)."""
    distinct = dict.fromkeys(ids)
    keys = list(distinct)
    distinct.update(zip(keys, _hashes(list(map(str, keys))).tolist(), strict=True))
    return np.fromiter(map(distinct.__getitem__, ids), dtype=np.uint64, count=len(ids))


class _Spans:
    """Stable hashes of runs of consecutive words of a batch: from the word hashes ``crc``
    (uint32, all captions' words one after the other), ``hash(a, b)`` of the words ``a:b`` is
    ``mix(sum_j v_j * P**-(j - a) + (b - a))`` modulo 2**64 (``v_j`` a mixed word hash, ``P`` odd),
    computed for many runs at once from one running sum. Equal word sequences have equal hashes
    wherever they stand; 0 for an empty run (and never for a non-empty one)."""

    def __init__(self, crc: np.ndarray):
        t = crc.size
        with np.errstate(over="ignore"):
            v = _mix64(crc.astype(np.uint64) + np.uint64(0x632BE59BD9B4E019))
            self._pow = _powers(_POLY, t + 1)  # P**j
            self._cum = np.zeros(t + 1, dtype=np.uint64)
            np.cumsum(v * _powers(_POLY_INV, t), out=self._cum[1:])  # sum of v_j P**-j

    def hash(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The hashes of the runs ``a[i]:b[i]`` (int64 arrays of word positions)."""
        with np.errstate(over="ignore"):
            s = (self._cum[b] - self._cum[a]) * self._pow[a]
            out = _mix64(s + (b - a).astype(np.uint64)) | np.uint64(1)
        out[b <= a] = 0
        return out


def _powers(base: int, n: int) -> np.ndarray:
    """``base ** j`` modulo 2**64 for j = 0 .. n-1 (uint64)."""
    out = np.full(n, base, dtype=np.uint64)
    if n:
        out[0] = 1
        np.multiply.accumulate(out, out=out)  # wraps modulo 2**64
    return out


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fast, well-mixed 64-bit hash of each element."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def _one_permutation_minhash(shingles: np.ndarray | list[np.ndarray], owner: np.ndarray | list[np.ndarray],
                             n: int, k: int) -> np.ndarray:
    """(n, k) MinHash sketches by one-permutation hashing with rotation densification
    (Li, Owen & Zhang, NIPS 2012; Shrivastava & Li, ICML 2014): each shingle is hashed once, its
    top bits pick one of ``k`` bins, the sketch keeps the minimum per bin; an empty bin takes the
    value of the next non-empty bin (circularly) plus an offset per step. The probability that two
    sketches agree in a bin is the Jaccard similarity of the shingle sets, as for k-hash MinHash,
    at 1/k of the cost. ``shingles`` / ``owner`` (caption of each shingle, < n) may be lists of
    parts (the sketch of their union: no concatenated copy)."""
    bits = k.bit_length() - 1
    if 1 << bits != k:
        raise ValueError("num_perm must be a power of two")
    empty_val = np.uint64(1 << 40)
    sig = np.full(n * k, empty_val, dtype=np.uint64)
    parts = zip(shingles, owner, strict=True) if isinstance(shingles, list) else [(shingles, owner)]
    for sh, ow in parts:
        h = _mix64(sh)
        at = (h >> np.uint64(64 - bits)).astype(np.int64)  # the bin
        at += ow * k
        h &= np.uint64(0xFFFFFFFF)  # the value
        np.minimum.at(sig, at, h)
    sig = sig.reshape(n, k)
    empty = sig == empty_val
    has_any = ~empty.all(axis=1)
    rows = np.flatnonzero(has_any & empty.any(axis=1))
    if rows.size:
        # an empty bin takes the value of the next non-empty bin (circularly) + step x distance:
        # the next non-empty column at or after each column, over the row written out twice
        e = empty[rows]
        small = np.uint8 if 2 * k < 256 else np.int32  # column numbers in one byte: less to scan
        col = np.arange(2 * k, dtype=small)
        nxt = np.where(np.concatenate([e, e], axis=1), small(2 * k), col)
        nxt = np.minimum.accumulate(nxt[:, ::-1], axis=1)[:, ::-1][:, :k]
        dist = (nxt - col[:k]).astype(np.uint64)
        part = sig[rows]
        src = np.take_along_axis(part, nxt % k, axis=1)
        sig[rows] = np.where(e, src + dist * np.uint64(1 << 32), part)
    sig[~has_any] = 0
    return sig


@dataclass
class CorpusRecord:
    """One batch of captions as :meth:`CorpusAccumulator.prepare` leaves it for
    :meth:`CorpusAccumulator.absorb`: picklable and compact (numpy arrays, plus the texts the
    text keepers may be offered, in offer order). Sources are by name (``names``, in order of
    first appearance; ``src``/``pre_src`` index it), not by the accumulator's registry. Hashes
    are stable (the same in every process): a record may be absorbed in any process.

    Per caption: ``caption_ids``, ``src``, ``img`` (image id hash), ``hash`` (normalised text),
    ``w_all`` (words; a caption with none has an empty normalised text and is not offered to
    the text keeper) and ``cap_texts`` (its text, "" when not offered), first/last sentence hash and words (``first_h``, ``first_w``, ``last_h``,
    ``last_w``) and prefix hashes (``pfirst``, ``plast``), ``token_lens`` (tokens for the MinHash,
    0 for a short caption). Per multi-sentence caption ``multi[j]``: its first and last sentence
    (``pieces[2j]``, ``pieces[2j+1]``, hashes ``piece_hash``, 0 for one without words). Per offered
    prefix: ``pre_src``, ``pre_hash``, ``pre_texts``. ``tokens``: crc32 of the MinHash tokens, caption
    after caption."""

    names: list[str]
    src: np.ndarray
    caption_ids: list[str]
    img: np.ndarray
    hash: np.ndarray
    w_all: np.ndarray
    cap_texts: list[str]
    first_h: np.ndarray
    first_w: np.ndarray
    last_h: np.ndarray
    last_w: np.ndarray
    pfirst: np.ndarray
    plast: np.ndarray
    multi: np.ndarray
    pieces: list[str]
    piece_hash: np.ndarray
    pre_src: np.ndarray
    pre_hash: np.ndarray
    pre_texts: list[str]
    tokens: np.ndarray
    token_lens: np.ndarray

    @classmethod
    def empty(cls) -> CorpusRecord:
        """A record of no captions (absorbing it changes nothing)."""
        u, i = np.zeros(0, np.uint64), np.zeros(0, np.int32)
        return cls([], i, [], u, u, i, [], u, i, u, i, u, u, np.zeros(0, np.int64), [], u, i, u, [],
                   np.zeros(0, np.uint32), np.zeros(0, np.int64))


class CorpusRecorder:
    """Stands in for a :class:`CorpusAccumulator` where captions are scored but not gathered (a
    ``--workers N`` pool worker): :meth:`add_batch` only prepares (:meth:`CorpusAccumulator.prepare`)
    the batch and keeps the record; :meth:`take` hands the records over (to be sent to the
    process that absorbs them, in batch order). Give it as ``corpus`` to
    :func:`~caption_audit.quality.checks.check_batch`."""

    def __init__(self, config: dict[str, Any] | None = None):
        self._acc = CorpusAccumulator(config, keepers=False)
        self._records: list[CorpusRecord] = []

    def add_batch(self, sources: list[str], image_ids: list[str | int], caption_ids: list[str],
                  texts: list[str | None] | CaptionBatch) -> None:
        """Prepare the batch's record (see :meth:`CorpusAccumulator.add_batch` for the arguments)."""
        with_batch(texts, lambda b: self._records.append(self._acc.prepare(sources, image_ids, caption_ids, b)))

    def take(self) -> list[CorpusRecord]:
        """The records prepared since the last call, in order."""
        out, self._records = self._records, []
        return out


class BatchOrder:
    """Absorbs the corpus records of numbered batches into ``acc`` (a :class:`CorpusAccumulator`)
    strictly in batch order, whatever order they arrive in: a run's workers, its Ray actors and
    its resumed batches (records prepared from their shards) put them as they come; each batch id
    0, 1, 2 ... must be put once. Only batches that wait for an earlier one are held."""

    def __init__(self, acc: CorpusAccumulator):
        self.acc = acc
        self._next = 0
        self._pending: dict[int, list[CorpusRecord]] = {}

    def put(self, batch_id: int, records: list[CorpusRecord]) -> None:
        """The records of ``batch_id`` (possibly none); absorbed once every earlier batch is."""
        if batch_id < self._next or batch_id in self._pending:
            raise ValueError(f"corpus records of batch {batch_id} given twice")
        self._pending[batch_id] = list(records)
        while self._next in self._pending:
            for rec in self._pending.pop(self._next):
                self.acc.absorb(rec)
            self._next += 1

    def check_complete(self, n_batches: int) -> None:
        """Raise unless batches 0 .. ``n_batches - 1``, and no other, were all absorbed."""
        if self._next != n_batches or self._pending:
            raise RuntimeError(f"corpus records: {self._next} of {n_batches} batches absorbed in order, "
                               f"{len(self._pending)} waiting")

    def put_shard(self, batch_id: int, path: Any) -> None:
        """Put the records of a resumed batch, prepared from its captions shard ``path`` (its
        scored captions, in order)."""
        rec = CorpusRecorder(self.acc.cfg)
        for rows in scored_rows(path):
            rec.add_batch(*rows)
        self.put(batch_id, rec.take())


def scored_rows(path: Any, rows: int = 4096) -> Any:
    """The scored captions of the captions table ``path`` (a shard or captions.parquet), in
    order, as ``(sources, image_ids, caption_ids, captions)`` lists of at most ``rows`` captions
    (read ``rows`` at a time: bounded memory): what :meth:`CorpusAccumulator.add_batch` takes."""
    from caption_audit.store.shardfile import iter_table_batches

    cols = ["source", "image_id", "caption_id", "caption", "status"]
    for b in iter_table_batches(path, rows, cols):
        d = b.to_pydict()
        keep = [i for i, status in enumerate(d["status"]) if status == "scored"]
        if keep:
            yield tuple([d[c][i] for i in keep] for c in cols[:4])


@dataclass
class CorpusResult:
    """What :meth:`CorpusAccumulator.finish` returns.

    Attributes:
        captions: one row per added caption, in add order: ``caption_id``, ``source``,
            ``dup_group_size`` (captions of the source with the same normalised text),
            ``dup_images`` (distinct images among them), ``near_dup_of`` (caption_id of a
            near-identical caption of another image, or None), ``near_dup_images`` (distinct
            images in its near-duplicate cluster, exact duplicates included), ``boilerplate_share``
            (share of its words in boilerplate opener/closer sentences; None for an empty caption),
            and ``corpus_issues`` (list of ``duplicate``, ``near_duplicate``, ``boilerplate``).
        reused: per source, the top reused captions: ``source``, ``text`` (None when not kept),
            ``n_captions``, ``n_images``, ``share`` (of the source's captions), ``rank``.
        openers: per source and position (``first``/``last``) and kind (``sentence`` = the whole
            normalised sentence, ``prefix`` = its first 3 words): ``text``, ``count``, ``share``,
            ``boilerplate`` (a sentence that counts as boilerplate), ``rank``.
        n_captions: captions per source.
    """

    captions: pd.DataFrame
    reused: pd.DataFrame
    openers: pd.DataFrame
    n_captions: dict[str, int]


class _Strings:
    """A growing list of str kept as UTF-8 bytes and offsets: about ``len + 8`` bytes a string,
    not the ~60 of a str object and its list slot (the caption ids of a large corpus)."""

    __slots__ = ("data", "offsets")

    def __init__(self) -> None:
        self.data = bytearray()
        self.offsets = array("q", [0])

    def extend(self, items: list[str]) -> None:
        enc = [t.encode() for t in items]  # strict: a str Arrow cannot hold fails here, as in pandas
        ends = np.cumsum(np.fromiter(map(len, enc), dtype=np.int64, count=len(enc))) + self.offsets[-1]
        self.data += b"".join(enc)
        self.offsets.frombytes(ends.tobytes())

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        return self.data[self.offsets[i]:self.offsets[i + 1]].decode()

    def series(self) -> pd.Series:
        """The strings as a pandas ``str`` Series (Arrow-backed: no str objects made)."""
        import pyarrow as pa

        arr = pa.LargeStringArray.from_buffers(len(self), pa.py_buffer(bytes(self.offsets)), pa.py_buffer(bytes(self.data)))
        return arr.to_pandas()


class _TextKeeper:
    """Keeps texts for a bounded number of hashes per source: on the second sighting of a hash
    (a 16M-bit bitmap says "seen before", false positives only cost a kept text) or always
    (``second_sight=False``), while fewer than ``cap`` texts are kept."""

    def __init__(self, cap: int, second_sight: bool):
        self.cap, self.second_sight = cap, second_sight
        self.seen = bytearray(_BITMAP_BITS // 8) if second_sight else None
        self.texts: dict[int, dict[int, str]] = {}

    def offer(self, src: int, h: int, text: str) -> None:
        kept = self.texts.get(src)
        if kept is None:
            kept = self.texts[src] = {}
        if h in kept or len(kept) >= self.cap:
            return
        if self.seen is not None:
            bit = (h ^ (src * 0x9E3779B97F4A7C15)) & (_BITMAP_BITS - 1)
            if not self.seen[bit >> 3] & (1 << (bit & 7)):
                self.seen[bit >> 3] |= 1 << (bit & 7)
                return
        kept[h] = text.strip()[:500]

    def offer_many(self, srcs: list[int], hs: np.ndarray, texts: list[str], ok: list[bool] | None) -> None:
        """:meth:`offer` for each ``(src, h, text)`` where ``ok`` (all when None), in order
        (``hs``: a uint64 array); the "seen before" bitmap test is done for the whole batch in
        numpy."""
        n = len(hs)
        if not n:
            return
        full = self.cap
        # near the cap (or without second sight) the order of sightings matters: one at a time
        if self.seen is None or any(len(self.texts.get(s, ())) + n >= full for s in set(srcs)):
            hl = hs.tolist()
            for i in range(n):
                if ok is None or ok[i]:
                    self.offer(srcs[i], hl[i], texts[i])
            return
        h = hs
        sv = np.array(srcs, dtype=np.uint64)
        with np.errstate(over="ignore"):
            bit = (h ^ (sv * np.uint64(0x9E3779B97F4A7C15))) & np.uint64(_BITMAP_BITS - 1)
        bit = bit.astype(np.int64)
        okm = np.ones(n, dtype=bool) if ok is None else np.array(ok, dtype=bool)
        seen = np.frombuffer(self.seen, dtype=np.uint8)
        before = ((seen[bit >> 3] >> (bit & 7)) & 1).astype(bool)
        # a second sighting inside this batch: an earlier (ok) caption had the same bit
        idx = np.nonzero(okm)[0]
        _, first = np.unique(bit[idx], return_index=True)
        again = np.ones(idx.size, dtype=bool)
        again[first] = False
        cand = np.zeros(n, dtype=bool)
        cand[idx] = before[idx] | again
        at = np.flatnonzero(cand)
        for i, hi in zip(at.tolist(), h[at].tolist(), strict=True):
            kept = self.texts.get(srcs[i])
            if kept is None:
                kept = self.texts[srcs[i]] = {}
            if hi not in kept:
                kept[hi] = texts[i].strip()[:500]
        b = bit[idx]
        np.bitwise_or.at(seen, b >> 3, (np.int64(1) << (b & 7)).astype(np.uint8))

    def offer_unseen(self, src: int, hs: list[int], texts: list[str]) -> None:
        """:meth:`offer` for each ``(h, text)`` of one source whose text is not empty, in order,
        for a keeper without second sight: a hash not kept yet keeps the text of its first
        offer. Set operations instead of one call per offer while the cap is not in reach."""
        if self.seen is not None:
            raise ValueError("offer_unseen: only for a keeper without second sight")
        kept = self.texts.get(src)
        if kept is None:
            kept = self.texts[src] = {}
        first = dict(zip(reversed(hs), reversed(texts), strict=True))  # hash -> text of its first offer
        if first.get(0) == "":
            del first[0]  # empty texts (hash 0) are not offered
        new = set(first).difference(kept)  # C-level, over ``first`` only (a dict argument)
        if len(kept) + len(new) >= self.cap:  # the order of offers decides what is kept
            for h, t in zip(hs, texts, strict=True):
                if t:
                    self.offer(src, h, t)
            return
        for h in new:
            kept[h] = first[h].strip()[:500]

    def get(self, src: int, h: int) -> str | None:
        return self.texts.get(src, {}).get(h)


class CorpusAccumulator:
    """Streaming duplicate / near-duplicate / boilerplate statistics over many captions.

    ``add`` is O(caption length); ``finish`` sorts/group-bys the hash arrays (O(n log n) in
    numpy/pandas, linear in Python work per near-duplicate candidate). ``add_batch`` is
    :meth:`absorb` of :meth:`prepare` (the per-batch work can run in another, forked, process).

    Args:
        config: overrides of the ``corpus`` settings (``num_perm``, ``bands``, ``max_kept_texts``...).
        keepers: False for an accumulator that only prepares (:meth:`prepare`; no text keepers, whose
            bitmaps take 4 MB): :class:`CorpusRecorder`'s.
    """

    def __init__(self, config: dict[str, Any] | None = None, *, keepers: bool = True):
        cfg = dict(settings()["corpus"])
        cfg.update(config or {})
        self.cfg = cfg
        self.k = int(cfg["num_perm"])
        self.bands = int(cfg["bands"])
        self._prefix_words = int(cfg["prefix_words"])
        self._near_min = int(cfg["near_min_tokens"])
        if self.k % self.bands:
            raise ValueError("num_perm must be a multiple of bands")
        rng = np.random.default_rng(20240613)
        self._band_mult = rng.integers(1, 1 << 63, self.k, dtype=np.uint64) | np.uint64(1)
        self._sources: dict[str, int] = {}
        self._ids = _Strings()  # caption ids, in add order
        self._src = array("i")
        self._img = array("Q")
        self._hash = array("Q")
        self._first = array("Q")
        self._last = array("Q")
        self._pfirst = array("Q")
        self._plast = array("Q")
        self._w_first = array("i")
        self._w_last = array("i")
        self._w_all = array("i")
        self._pend_tokens = array("I")  # crc32 of each token of the pending captions
        self._pend_lens: list[int] = []
        # per caption: its band keys (uint64 each) and the low byte of each MinHash value, row
        # after row; grown in place (no list of chunks concatenated, so no second copy in finish)
        self._bands = array("Q")
        self._sig = array("B")
        cap = int(cfg["max_kept_texts"])
        if keepers:  # not for one that only prepares (CorpusRecorder): no 2 MB bitmaps
            self._cap_texts = _TextKeeper(cap, second_sight=True)
            self._sent_texts = _TextKeeper(cap, second_sight=True)
            self._prefix_texts = _TextKeeper(cap, second_sight=False)

    # -- streaming -------------------------------------------------------------------------
    def add(self, source: str, image_id: str | int, caption_id: str, text: str | CaptionText | None) -> None:
        """Add one caption of ``source`` on image ``image_id``. ``text`` may be the
        :class:`~caption_audit.quality.checks.CaptionText` already given to ``check_caption``
        (its tokens and sentences are then not computed twice). Many captions at once:
        :meth:`add_batch` (same result, faster)."""
        if isinstance(text, CaptionText):
            b = CaptionBatch.from_parts([text.text], Words([text.norm]), [text.sents])
        else:
            b = CaptionBatch([text])
        self.add_batch([source], [image_id], [caption_id], b)

    def add_batch(self, sources: list[str], image_ids: list[str | int], caption_ids: list[str],
                  texts: list[str | None] | CaptionBatch) -> None:
        """Add many captions (in order): the same as :meth:`add` for each, column-wise. ``texts``
        may be the :class:`~caption_audit.quality.checks.CaptionBatch` already given to
        :func:`~caption_audit.quality.checks.check_captions`."""
        with_batch(texts, lambda b: self.absorb(self.prepare(sources, image_ids, caption_ids, b)))

    def prepare(self, sources: list[str], image_ids: list[str | int], caption_ids: list[str],
                b: CaptionBatch) -> CorpusRecord:
        """The per-batch half of :meth:`add_batch`: every hash, token and first/last sentence of
        the captions, computed without touching this accumulator's state (only its settings), as
        a picklable :class:`CorpusRecord`. :meth:`absorb` adds it; ``absorb(prepare(...))`` is
        ``add_batch``. A pool worker prepares the batches it scores; the parent absorbs their
        records in batch order. The hashes are stable (:class:`_Spans`, :func:`_hashes`): the
        record may be prepared in another process (a forked worker, a Ray actor)."""
        n = len(b)
        if not (len(sources) == len(image_ids) == len(caption_ids) == n):
            raise ValueError("add_batch: sources, image_ids, caption_ids and texts differ in length")
        names = list(dict.fromkeys(sources))
        if not n:
            return CorpusRecord.empty()
        local = {name: i for i, name in enumerate(names)}
        src = list(map(local.__getitem__, sources))
        txts, sents = b.texts, b.sents
        crc = b.word_crc  # every word's crc32, caption after caption
        spans = _Spans(crc)
        lens_a = b.words.counts
        start = np.zeros(n, dtype=np.int64)
        np.cumsum(lens_a[:-1], out=start[1:])
        end = start + lens_a
        cap_ok = lens_a > 0
        # first and last sentence of each caption (word runs of the caption: no word spans a
        # sentence end): a one-sentence caption is its own first sentence (same words, same
        # hash) and has no closer; the others' first and last sentences are tokenised here
        n_sent = np.fromiter(map(len, sents), dtype=np.int64, count=n)
        multi = np.flatnonzero(n_sent > 1).tolist()
        first_w = lens_a.copy()
        first_w[n_sent == 0] = 0
        last_w = np.zeros(n, dtype=np.int64)
        pieces: list[str] = []
        if multi:
            # first and last sentence of caption 1, then of caption 2, ...: the order in which
            # the text keeper sees them (its second-sighting rule depends on it)
            pieces = [p for i in multi for p in (sents[i][0], sents[i][-1])]
            plen = word_counts(pieces)
            first_w[multi] = plen[0::2]
            last_w[multi] = plen[1::2]
        # the word runs hashed, 5 per caption in one call: the whole caption (its normalised
        # text's hash; 0 when empty), first and last sentence, and their first k words
        k = self._prefix_words
        last_a = end - last_w
        hashes, first_h, last_h, pfirst, plast = spans.hash(
            np.concatenate([start, start, last_a, start, last_a]),
            np.concatenate([end, start + first_w, end, start + np.minimum(first_w, k), last_a + np.minimum(last_w, k)]),
        ).reshape(5, n)
        phash = np.zeros(0, dtype=np.uint64)
        if multi:
            phash = np.stack([first_h[multi], last_h[multi]], axis=1).ravel()
        # prefixes offered in the order first, last of caption 1, then caption 2, ... (empty
        # prefixes are not offered: left out here), each (source, hash) only at its first offer:
        # the text keeper keeps the text of a hash's first offer, later ones change nothing
        hs_i = np.stack([pfirst, plast], axis=1).ravel()
        offered = np.flatnonzero(hs_i)
        src_a = np.array(src, dtype=np.int32)
        src_i = src_a[offered >> 1]
        hs_i = hs_i[offered]
        keys = (hs_i,) if len(names) == 1 else (hs_i, src_i)
        order = np.lexsort(keys)  # stable: a group's first row is its first offer
        again = np.zeros(order.size, dtype=bool)  # the same key as the row before, in key order
        again[1:] = True
        for key in keys:
            ks = key[order]
            again[1:] &= ks[1:] == ks[:-1]
        first = np.sort(order[~again])
        offered, src_i, hs_i = offered[first], src_i[first], hs_i[first]
        # their texts: the first k words of the first (last) sentence
        cap_i = offered >> 1
        last_i = (offered & 1).astype(bool)
        lo = np.where(last_i, (last_a - start)[cap_i], 0)
        hi = lo + np.where(last_i, np.minimum(last_w, k)[cap_i], np.minimum(first_w, k)[cap_i])
        # (a byte slice of the batch's normal forms: words lo .. hi - 1 and the single spaces between)
        w = b.words
        wfirst = w.first[cap_i]
        buf = w.buf
        ts_i = [buf[x:y].decode("utf-8", "surrogatepass") for x, y in
                zip(w.starts[wfirst + lo].tolist(), w.ends[wfirst + hi - 1].tolist(), strict=True)]
        # MinHash tokens: the words of the captions long enough for the near-duplicate search
        long_enough = lens_a >= self._near_min
        toks = crc if long_enough.all() else crc[np.repeat(long_enough, lens_a)]
        return CorpusRecord(
            names=names, src=np.array(src, dtype=np.int32), caption_ids=list(caption_ids),
            img=_id_hashes(image_ids), hash=hashes, w_all=lens_a.astype(np.int32),
            # only the texts with words are offered
            cap_texts=txts if cap_ok.all() else [t if ok else "" for t, ok in zip(txts, cap_ok.tolist(), strict=True)],
            first_h=first_h, first_w=first_w.astype(np.int32), last_h=last_h, last_w=last_w.astype(np.int32),
            pfirst=pfirst, plast=plast, multi=np.array(multi, dtype=np.int64), pieces=pieces, piece_hash=phash,
            pre_src=src_i, pre_hash=hs_i, pre_texts=ts_i,
            tokens=toks.astype(np.uint32, copy=False), token_lens=np.where(long_enough, lens_a, 0))

    def absorb(self, rec: CorpusRecord) -> None:
        """The order-dependent half of :meth:`add_batch`: add a :meth:`prepare` record (the
        source registry, the per-caption arrays, the text keepers' offers in the record's
        order, the pending MinHash tokens). Records are absorbed in the order their captions
        are to be added (captions.parquet's order in a run)."""
        n = len(rec.caption_ids)
        if not n:
            return
        reg = self._sources
        for name in rec.names:
            if name not in reg:
                reg[name] = len(reg)
        gmap = np.array([reg[name] for name in rec.names], dtype=np.int32)
        src_a = gmap[rec.src]
        src = src_a.tolist()
        self._ids.extend(rec.caption_ids)
        self._src.frombytes(src_a.tobytes())
        self._img.frombytes(rec.img.tobytes())
        self._hash.frombytes(rec.hash.tobytes())
        self._w_all.frombytes(rec.w_all.tobytes())
        self._cap_texts.offer_many(src, rec.hash, rec.cap_texts, (rec.w_all > 0).tolist())
        multi = rec.multi.tolist()
        if multi:
            self._sent_texts.offer_many([src[i] for i in multi for _ in (0, 1)], rec.piece_hash, rec.pieces,
                                        (rec.piece_hash != 0).tolist())
        for arr, data in ((self._first, rec.first_h), (self._w_first, rec.first_w), (self._pfirst, rec.pfirst),
                          (self._last, rec.last_h), (self._w_last, rec.last_w), (self._plast, rec.plast)):
            arr.frombytes(data.tobytes())
        hs_i = rec.pre_hash.tolist()
        if len(rec.names) == 1:
            self._prefix_texts.offer_unseen(int(gmap[0]), hs_i, rec.pre_texts)
        else:  # per source, in order (the text keeper keeps texts per source)
            src_i = rec.pre_src.tolist()
            for j, s_ in enumerate(gmap.tolist()):
                mine = [x == j for x in src_i]
                self._prefix_texts.offer_unseen(s_, list(itertools.compress(hs_i, mine)),
                                                list(itertools.compress(rec.pre_texts, mine)))
        self._pend_tokens.frombytes(rec.tokens.tobytes())
        self._pend_lens.extend(rec.token_lens.tolist())
        if len(self._pend_lens) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        """MinHash + band keys of the pending captions, in one numpy batch."""
        lens = np.array(self._pend_lens, dtype=np.int64)
        n = lens.size
        if not n:
            return
        ok = lens > 0
        sig = np.zeros((n, self.k), dtype=np.uint64)
        if ok.any():
            # only the captions with tokens (the others keep an all-zero sketch)
            flat = np.frombuffer(self._pend_tokens, dtype=np.uint32).astype(np.uint64)
            lens_ok = lens[ok]
            n_ok = lens_ok.size
            owner = np.repeat(np.arange(n_ok, dtype=np.int64), lens_ok)
            # bigrams: token i and i+1 of the same caption (the pairs across two captions dropped)
            with np.errstate(over="ignore"):
                big = flat[:-1] * np.uint64(0x9E3779B97F4A7C15)
                big ^= flat[1:] << np.uint64(32)
                big ^= np.uint64(0x5BD1E995)
            same = owner[:-1] == owner[1:]
            sig[ok] = _one_permutation_minhash([flat, big[same]], [owner, owner[:-1][same]], n_ok, self.k)
        r = self.k // self.bands
        bands = np.zeros((n, self.bands), dtype=np.uint64)  # 0: no tokens, no band keys
        with np.errstate(over="ignore"):
            mixed = sig[ok] * self._band_mult[None, :]
            bands[ok] = mixed.reshape(-1, self.bands, r).sum(axis=2, dtype=np.uint64)
        self._bands.frombytes(bands.tobytes())
        self._sig.frombytes((sig & np.uint64(0xFF)).astype(np.uint8).tobytes())
        self._pend_tokens = array("I")
        self._pend_lens = []

    # -- results ---------------------------------------------------------------------------
    def finish(self, *, release: bool = False) -> CorpusResult:
        """Group the hashes: exact duplicates, near-duplicate clusters, boilerplate, top lists.
        ``release``: then free the per-caption state (the accumulator holds no caption
        afterwards; its text keepers are kept), e.g. before a pass over the captions table."""
        with gc_paused():
            result = self._finish()
        if release:
            self._ids = _Strings()
            for name in ("_src", "_img", "_hash", "_first", "_last", "_pfirst", "_plast", "_w_first", "_w_last",
                         "_w_all", "_bands", "_sig"):
                setattr(self, name, array(getattr(self, name).typecode))
        return result

    def _finish(self) -> CorpusResult:
        self._flush()
        n = len(self._ids)
        names = {v: k for k, v in self._sources.items()}
        src = np.frombuffer(self._src, dtype=np.int32) if n else np.zeros(0, np.int32)
        img = np.frombuffer(self._img, dtype=np.uint64) if n else np.zeros(0, np.uint64)
        hsh = np.frombuffer(self._hash, dtype=np.uint64) if n else np.zeros(0, np.uint64)
        w_all = np.frombuffer(self._w_all, dtype=np.int32) if n else np.zeros(0, np.int32)
        text_groups = _Groups(src, hsh)  # (source, normalised text): the exact duplicates
        size = text_groups.size[text_groups.gid]
        nimg_g = text_groups.distinct(img)  # distinct images per group
        nimg = nimg_g[text_groups.gid]
        empty = w_all == 0
        size = np.where(empty, 1, size)
        nimg = np.where(empty, 1, nimg)
        near_of, near_imgs = self._near_duplicates(src, img, hsh, text_groups, nimg)
        bshare, bflag, openers = self._boilerplate(src, names)
        near_flag = np.fromiter(map(operator.is_not, near_of, itertools.repeat(None)), dtype=bool, count=n)
        dup_flag = nimg >= 2
        # the captions with the same flags share one (read-only) list: 8 lists in all, none
        # per caption
        labels = [[], ["duplicate"], ["near_duplicate"], ["duplicate", "near_duplicate"],
                  ["boilerplate"], ["duplicate", "boilerplate"], ["near_duplicate", "boilerplate"],
                  ["duplicate", "near_duplicate", "boilerplate"]]
        code = dup_flag.astype(np.int64) + 2 * near_flag + 4 * bflag.astype(np.int64)
        issues = list(map(labels.__getitem__, code.tolist())) if n else []
        captions = pd.DataFrame({
            "caption_id": self._ids.series(),
            "source": list(map(names.__getitem__, src.tolist())),
            "dup_group_size": size.astype(np.int64),
            "dup_images": nimg.astype(np.int64),
            "near_dup_of": near_of,
            "near_dup_images": near_imgs,
            "boilerplate_share": bshare,
            "corpus_issues": issues,
        })
        reused = self._reused(src, text_groups, nimg_g, ~empty, names)
        n_caps = {names[s]: int(c) for s, c in zip(*np.unique(src, return_counts=True), strict=True)}
        return CorpusResult(captions, reused, openers, n_caps)

    def _near_duplicates(self, src: np.ndarray, img: np.ndarray, hsh: np.ndarray, text_groups: _Groups,
                         nimg: np.ndarray) -> tuple[list[str | None], np.ndarray]:
        n = src.size
        near_of: list[str | None] = [None] * n
        near_imgs = nimg.astype(np.int64)  # a copy
        if not n:
            return near_of, near_imgs
        bands = np.frombuffer(self._bands, dtype=np.uint64).reshape(n, self.bands)
        sig = np.frombuffer(self._sig, dtype=np.uint8).reshape(n, self.k)
        valid = bands[:, 0] != 0
        # one representative per (source, exact text): its first caption
        rep_mask = np.zeros(n, dtype=bool)
        rep_mask[text_groups.first] = True
        rep_mask &= valid
        reps = np.nonzero(rep_mask)[0]
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        thr = float(self.cfg["near_threshold"])
        src_r = src[reps]
        for b in range(self.bands):
            members, first = _later_members(src_r, bands[reps, b])
            if not members.size:
                continue
            # the representatives sharing this band key with an earlier one, in row order, and
            # the first representative with that key
            members, first = reps[members], reps[first]
            sims = np.empty(members.size)
            for lo in range(0, members.size, _SIM_ROWS):  # in blocks: the candidates can be most rows
                sl = slice(lo, lo + _SIM_ROWS)
                sims[sl] = (sig[members[sl]] == sig[first[sl]]).mean(axis=1)
            for i, f in zip(members[sims >= thr].tolist(), first[sims >= thr].tolist(), strict=True):
                ri, rf = find(i), find(f)
                if ri != rf:
                    parent[max(ri, rf)] = min(ri, rf)
        comp = {i: find(i) for i in parent}
        clusters: dict[int, list[int]] = {}
        for i, root in comp.items():
            clusters.setdefault(root, []).append(i)
        multi = {r: sorted(m) for r, m in clusters.items() if len(m) > 1}
        if not multi:
            return near_of, near_imgs
        # map every caption (exact duplicates too) to its representative's cluster
        root_of_rep = np.full(n, -1, dtype=np.int64)
        for r, root in comp.items():
            if root in multi:
                root_of_rep[r] = root
        row_root = root_of_rep[text_groups.first[text_groups.gid]]
        members_of: dict[int, list[int]] = {}
        for i in np.nonzero(row_root >= 0)[0].tolist():
            members_of.setdefault(int(row_root[i]), []).append(i)
        for root, rows in members_of.items():
            reps_sorted = multi[root]
            root_row, second = reps_sorted[0], reps_sorted[1]
            n_imgs = len({int(img[i]) for i in rows})
            for i in rows:
                target = second if hsh[i] == hsh[root_row] else root_row
                near_imgs[i] = n_imgs
                if img[target] != img[i]:
                    near_of[i] = self._ids[target]
        return near_of, near_imgs

    def _boilerplate(self, src: np.ndarray, names: dict[int, str]) -> tuple[Any, np.ndarray, pd.DataFrame]:
        n = len(src)
        cfg = self.cfg
        w_all = np.frombuffer(self._w_all, dtype=np.int32).astype(np.int64) if n else np.zeros(0, np.int64)
        n_src = np.bincount(src, minlength=len(names)) if n else np.zeros(0, np.int64)
        boiler_words = np.zeros(n, dtype=np.int64)
        rows = []
        top_k = int(cfg["top_k"])
        for pos, hs, ps, ws in (("first", self._first, self._pfirst, self._w_first),
                                ("last", self._last, self._plast, self._w_last)):
            h = np.frombuffer(hs, dtype=np.uint64) if n else np.zeros(0, np.uint64)
            p = np.frombuffer(ps, dtype=np.uint64) if n else np.zeros(0, np.uint64)
            w = np.frombuffer(ws, dtype=np.int32).astype(np.int64) if n else np.zeros(0, np.int64)
            sent_groups = _Groups(src, h)
            cnt = sent_groups.size[sent_groups.gid]
            share = cnt / np.maximum(n_src[src], 1) if n else np.zeros(0)
            is_boiler = (h != 0) & (cnt >= cfg["boilerplate_min_count"]) & (share >= cfg["boilerplate_min_share"])
            boiler_words += np.where(is_boiler, w, 0)
            for kind, col, keeper in (("sentence", h, self._sent_texts), ("prefix", p, self._prefix_texts)):
                nz = col != 0
                g = sent_groups if kind == "sentence" else _Groups(src, col)
                # groups of >= 2 captions with a non-empty key, in (source, key) order
                ok = (g.size >= 2) & nz[g.first]
                g_src = src[g.first[ok]].tolist()
                g_key = col[g.first[ok]].tolist()
                g_cnt = g.size[ok].tolist()
                by_src: dict[int, list[tuple[int, int]]] = {}
                for s_, key, c in zip(g_src, g_key, g_cnt, strict=True):
                    by_src.setdefault(s_, []).append((key, c))
                for s_ in sorted(by_src):
                    def text_of(key: int, s: int = s_, keeper: Any = keeper, kind: str = kind) -> str | None:
                        return keeper.get(s, key) or (self._cap_texts.get(s, key) if kind == "sentence" else None)

                    # ties in count are ordered by text, then key (a hash: arbitrary but stable);
                    # only the candidates that can reach the top k are looked up and sorted
                    cands = _top_candidates(by_src[s_], top_k, lambda kc: kc[1])
                    cands.sort(key=lambda kc: (-kc[1], text_of(kc[0]) or ""))
                    total = int(n_src[s_])
                    for rank, (key, c) in enumerate(cands[:top_k], 1):
                        rows.append({
                            "source": names[s_], "position": pos, "kind": kind, "rank": rank,
                            "text": text_of(key), "count": c, "share": c / total,
                            "boilerplate": bool(kind == "sentence" and c >= cfg["boilerplate_min_count"]
                                                and c / total >= cfg["boilerplate_min_share"]),
                        })
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(w_all > 0, np.minimum(boiler_words, w_all) / np.maximum(w_all, 1), np.nan)
        bshare = pd.array(np.round(frac, 4), dtype="Float64")  # <NA> for an empty caption
        bflag = np.nan_to_num(frac, nan=0.0) >= cfg["boilerplate_flag_share"]
        cols = ["source", "position", "kind", "rank", "text", "count", "share", "boilerplate"]
        return bshare, bflag, pd.DataFrame(rows, columns=cols)

    def _reused(self, src: np.ndarray, text_groups: _Groups, nimg_g: np.ndarray, nonempty: np.ndarray,
                names: dict[int, str]) -> pd.DataFrame:
        cols = ["source", "rank", "text", "n_captions", "n_images", "share"]
        if not src.size:
            return pd.DataFrame(columns=cols)
        n_src = np.bincount(src)
        g = text_groups
        # groups of non-empty captions on >= 2 images (an empty caption's group holds only
        # empty captions: one normalised text), in (source, hash) order
        ok = (nimg_g >= 2) & nonempty[g.first]
        by_src: dict[int, list[tuple[int, int, int, str]]] = {}
        hs = self._hash
        top_k = int(self.cfg["top_k"])
        for s_, first, n_caps, n_imgs in zip(src[g.first[ok]].tolist(), g.first[ok].tolist(),
                                            g.size[ok].tolist(), nimg_g[ok].tolist(), strict=True):
            by_src.setdefault(s_, []).append((hs[first], n_caps, n_imgs))
        rows = []
        for s_ in sorted(by_src):
            # only the groups that can reach the top k (by images, then captions) are looked up
            top = _top_candidates(by_src[s_], top_k, lambda r: (r[2], r[1]))
            sub = sorted(((h, n_caps, n_imgs, self._cap_texts.get(s_, h) or "") for h, n_caps, n_imgs in top),
                         key=lambda r: (-r[2], -r[1], r[3]))
            for rank, (h, n_caps, n_imgs, _text) in enumerate(sub[:top_k], 1):
                rows.append({"source": names[s_], "rank": rank, "text": self._cap_texts.get(s_, h),
                             "n_captions": n_caps, "n_images": n_imgs, "share": n_caps / int(n_src[s_])})
        return pd.DataFrame(rows, columns=cols)


def _top_candidates(items: list, k: int, rank: Any) -> list:
    """The items of ``items`` that can be among the first ``k`` when sorted by ``rank`` (higher
    first) with any tie-break: those ranked at least as high as the ``k``-th highest, in their
    order. Sorting them with the tie-break and keeping ``k`` gives what sorting all would."""
    if len(items) <= k:
        return items
    kth = heapq.nlargest(k, map(rank, items))[-1]
    return [x for x in items if rank(x) >= kth]


def _later_members(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows whose keys (numpy arrays of one length) equal an earlier row's, in row order,
    and for each the first row with those keys: what ``_Groups`` gives for the rows of groups
    of two or more that are not their group's first, with one sort and no per-row group arrays
    (memory about 30 bytes a row, not 100: the near-duplicate bands of a large corpus)."""
    keys = tuple(k for k in keys if k.size and k.min() != k.max()) or keys[-1:]
    order = np.lexsort(keys[::-1])  # stable: rows of a group in row order
    same = np.ones(max(order.size - 1, 0), dtype=bool)
    for k in keys:
        ks = k[order]
        same &= ks[1:] == ks[:-1]
        del ks
    later = np.flatnonzero(same) + 1  # sorted positions repeating the previous one's keys
    if not later.size:
        return later, later
    starts = np.flatnonzero(~same) + 1  # sorted positions starting a group (besides 0)
    del same
    first = np.zeros(later.size, dtype=np.int64)
    at = np.searchsorted(starts, later, side="right")
    has = at > 0
    first[has] = starts[at[has] - 1]
    rows, first = order[later], order[first]
    by_row = np.argsort(rows, kind="stable")
    return rows[by_row], first[by_row]


class _Groups:
    """Rows grouped by equal keys (numpy arrays of one length), groups numbered in sorted key
    order: ``gid`` (group of each row), ``first`` (first row of each group), ``size`` (rows per
    group). What pandas' ``groupby(...).transform("size")`` / ``duplicated`` give, without pandas."""

    __slots__ = ("order", "gid", "first", "size")

    def __init__(self, *keys: np.ndarray):
        n = keys[0].size
        # a key with one value on every row (one source) splits nothing: left out of the sort
        keys = tuple(k for k in keys if k.size and k.min() != k.max()) or keys[-1:]
        self.order = np.lexsort(keys[::-1])  # stable: rows of a group in row order
        change = np.zeros(n, dtype=bool)
        for k in keys:
            ks = k[self.order]
            change[1:] |= ks[1:] != ks[:-1]
            del ks
        if n:
            change[0] = True
        starts = np.nonzero(change)[0]
        gid_sorted = np.cumsum(change)
        del change
        gid_sorted -= 1
        self.gid = np.empty(n, dtype=np.int64)
        self.gid[self.order] = gid_sorted
        del gid_sorted
        self.first = self.order[starts]
        self.size = np.diff(np.append(starts, n))

    def distinct(self, values: np.ndarray) -> np.ndarray:
        """Number of distinct ``values`` per group."""
        if not values.size:
            return np.zeros(0, dtype=np.int64)
        sub = np.lexsort((values, self.gid))
        g, v = self.gid[sub], values[sub]
        new = np.ones(values.size, dtype=bool)
        new[1:] = (g[1:] != g[:-1]) | (v[1:] != v[:-1])
        return np.bincount(g[new], minlength=self.size.size)

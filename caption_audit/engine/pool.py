"""The worker processes of a ``--workers N`` run, kept for both passes (local engine).

The pool forks its workers once, after ground truth is built and spaCy is loaded (both shared
copy-on-write), and runs the reference pass and the scoring pass in the same processes:

1. Reference pass (:meth:`WorkerPool.references`): reference chunk k (the reference captions of
   scoring batch k) goes to the least busy worker, which parses it, keeps the parses
   (:class:`~caption_audit.engine.references.KeptParses`, at most ``keep`` in all) and returns
   the chunk's claims (as tuples, :func:`~caption_audit.engine.references.encode_chunk`). The
   parent folds each chunk in chunk order and forwards the worker's reply, as the bytes it
   received, to the other workers, so every process folds the same chunks in the same order
   (:class:`~caption_audit.engine.references.ReferenceFold`) and holds the same references and
   CHAIR ground truth as the parent (a process builds the ``Claim`` objects of an image when it
   first reads them: the parent, which scores nothing, never does).
2. Scoring pass (:meth:`WorkerPool.score`): batch k goes to the worker that parsed chunk k, which
   takes its kept parses instead of parsing those captions again (always that worker, so no
   caption is parsed twice; the split follows the reference pass's, where each chunk went to the
   least busy worker); it writes the batch's shards itself (``finish``) and returns only what
   ``finish`` returns. Other batches go to the least busy worker. With ``corpus`` (the run's
   :class:`~caption_audit.quality.corpus.BatchOrder`), each worker's quality checks also
   prepare the batch's corpus record from their own tokenisation
   (:class:`~caption_audit.quality.corpus.CorpusRecorder`); it comes back beside the batch's
   result and the parent's ``BatchOrder`` absorbs the records strictly in batch order (holding
   those that arrive early, and putting resumed batches' in their turn), so the run's corpus
   pass reads no caption back. The records' hashes are
   stable across processes (not Python's salted ``hash()``), as for Ray's actors.

At most two tasks are in flight per worker. Results with ``finish`` are handed over as they
arrive; without it, in batch order. A worker that dies raises ``BrokenProcessPool``; an
exception in a worker is raised again in the parent. Workers exit when the parent dies.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import pickle
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from typing import Any

from caption_audit.types import Caption

IN_FLIGHT = 2  # tasks sent to one worker and not yet answered


class _RemoteTraceback(Exception):
    def __init__(self, tb: str):
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


def _watch_parent(ppid: int) -> None:
    """Exit when the parent dies (e.g. SIGKILL), even if another process holds the pipe open."""
    while True:
        time.sleep(1.0)
        if os.getppid() != ppid:
            os._exit(1)


def pack(batch: list[Caption]) -> list[tuple]:
    """Captions as plain tuples, for sending to a worker (see :func:`unpack`)."""
    return [(c.caption_id, c.image_id, c.source, c.text, c.origin, c.error, c.image_file) for c in batch]


def unpack(rows: list[tuple]) -> list[Caption]:
    """The captions :func:`pack` sent."""
    return [Caption(*r) for r in rows]


def _send_error(conn: Connection, task: int, exc: BaseException) -> None:
    tb = traceback.format_exc()
    try:
        conn.send(("error", task, exc, tb))
    except Exception:  # an exception that does not pickle
        conn.send(("error", task, RuntimeError(repr(exc)), tb))


def _read(conn: Connection, inbox: queue.SimpleQueue) -> None:
    """Move the parent's messages into ``inbox`` as they come, so that the parent's sends never
    wait on a worker that is itself waiting to send a large reply (both pipes full)."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            os._exit(0)
        inbox.put(msg)
        if msg is None:
            return


def _worker_main(conn: Connection, inherited: list[Connection], parser: Any, gt: Any, chair: bool, keep: int,
                 ppid: int) -> None:
    """A worker's loop: answer the parent's messages until it sends None (or goes away)."""
    from caption_audit.engine.batch import BatchScorer
    from caption_audit.engine.references import (
        KeptParses,
        ReferenceFold,
        encode_chunk,
        parse_references,
    )

    for c in inherited:  # the parent's ends of the other workers' pipes: they must see EOF when it dies
        c.close()
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True).start()
    # the reference phase keeps what it allocates (kept parses, folded claims): no collection until
    # the scoring context comes, when it is all frozen (a collection would scan it again and again)
    gc.disable()
    fold = ReferenceFold(gt, chair)
    kept = KeptParses(keep)
    own: dict[int, list] = {}  # this worker's reference results, until the parent says to fold them
    scorer: BatchScorer | None = None
    recorder: Any = None
    finish: Callable | None = None
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_read, args=(conn, inbox), daemon=True).start()
    while True:
        msg = inbox.get()
        if msg is None:
            return
        kind, task = msg[0], msg[1]
        try:
            if kind == "ref":
                reuse = kept.open(task)
                own[task] = parse_references((parser, chair, reuse), msg[2])
                kept.close(task)
                conn.send(("parsed", task, encode_chunk(own[task])))  # claims as tuples: cheap to pickle
            elif kind == "fold":
                fold.add(own.pop(task))
            elif kind == "parsed":  # another worker's chunk, forwarded by the parent
                fold.add(msg[2])
            elif kind == "ctx":
                ctx, use_fold, finish = msg[2], msg[3], msg[4]
                ctx = replace(ctx, gt=gt, references=fold.refs if use_fold else ctx.references)
                recorder = None
                if msg[5]:  # the parent gathers the corpus: prepare each batch's record here
                    from caption_audit.quality.corpus import CorpusRecorder

                    recorder = CorpusRecorder()
                scorer = BatchScorer(ctx, parser, corpus=recorder)
                gc.freeze()  # ground truth, references, spaCy, kept parses: alive for the rest of the run
                gc.enable()
            elif kind == "score":
                assert scorer is not None
                scorer.reuse = kept.take(task)
                tables = scorer.score(unpack(msg[2]))
                scorer.reuse = None
                records = None if recorder is None else recorder.take()
                conn.send(("done", task, tables if finish is None else finish(task, tables), records))
        except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
            _send_error(conn, task, exc)


class WorkerPool:
    """``workers`` forked processes for the reference and scoring passes (see the module notes).

    Use as a context manager; leaving it stops the workers (at once on an error).

    Args:
        workers: number of processes.
        parser: the run's :class:`~caption_audit.text.parse.CaptionParser`; with ``use_parser``
            its spaCy pipeline is loaded here, before the fork, so the workers share one copy
            instead of each loading it on first use (about 1 s of CPU per worker).
        gt: the run's ground truth (CHAIR mode: the reference captions' classes are added in
            every process).
        chair: ``--gt chair``.
        keep: most parses kept by all workers together (about 1 KB each for a COCO caption).
    """

    def __init__(self, workers: int, parser: Any, gt: Any, *, chair: bool = False, keep: int = 100_000):
        ctx = mp.get_context("fork")
        nlp = getattr(parser, "nlp", None) if getattr(parser, "use_parser", False) else None
        if nlp is not None and hasattr(nlp, "resolve"):  # a LazyPipeline loads on first use
            nlp.resolve()
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        for _ in range(workers):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, daemon=True,
                               args=(theirs, [*self._conns, mine], parser, gt, chair, keep // workers, os.getpid()))
            proc.start()
            theirs.close()
            self._conns.append(mine)
            self._procs.append(proc)
        self._busy = [0] * workers
        self._owner: dict[int, int] = {}  # batch id -> worker holding its reference parses
        self._folded = False

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.close(error=exc_type is not None)

    def close(self, error: bool = False) -> None:
        """Stop the workers: ask them to exit (kill them after an error or a 10 s wait)."""
        if not error:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.send(None)
        for proc in self._procs:
            if error:
                proc.kill()
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()
        self._procs, self._conns = [], []

    def _send(self, w: int, msg: tuple) -> None:
        self._conns[w].send(msg)
        if msg[0] in ("ref", "score"):
            self._busy[w] += 1

    def _receive(self) -> list[tuple[int, bytes, tuple]]:
        """Wait for replies; returns ``(worker, raw bytes, message)`` for each."""
        ready = wait(self._conns + [p.sentinel for p in self._procs])
        got = []
        for w, conn in enumerate(self._conns):
            if conn not in ready:
                continue
            try:
                raw = conn.recv_bytes()
            except (EOFError, OSError):
                raise BrokenProcessPool("a worker process died") from None
            msg = pickle.loads(raw)
            self._busy[w] -= 1
            if msg[0] == "error":
                raise msg[2] from _RemoteTraceback(msg[3])
            got.append((w, raw, msg))
        if not got:  # only a process sentinel: a worker exited without a word
            raise BrokenProcessPool("a worker process died")
        return got

    def _idle(self) -> int:
        return min(range(len(self._busy)), key=self._busy.__getitem__)

    def references(self, chunks: Iterator[tuple[int, list[tuple[str, str, str]]]],
                   fold: Callable[[list], None]) -> None:
        """Parse ``(batch id, [(caption_id, image_id, text)])`` chunks in the workers (ids
        increasing); ``fold`` gets each chunk's :func:`~caption_audit.engine.references.parse_references`
        result in chunk order, as every worker's :class:`~caption_audit.engine.references.ReferenceFold` does."""
        order: list[int] = []
        replies: dict[int, tuple[int, bytes, list]] = {}

        def pump() -> None:  # wait for replies, then fold what is next in chunk order
            for w, raw, msg in self._receive():
                replies[msg[1]] = (w, raw, msg[2])
            while order and order[0] in replies:
                k = order.pop(0)
                owner, raw, parsed = replies.pop(k)
                fold(parsed)
                for v, conn in enumerate(self._conns):
                    if v == owner:
                        conn.send(("fold", k))
                    else:
                        conn.send_bytes(raw)  # ("parsed", k, result), as the owner sent it

        for k, rows in chunks:
            while min(self._busy) >= IN_FLIGHT or len(order) >= 2 * IN_FLIGHT * len(self._conns):
                pump()
            w = self._idle()
            self._owner[k] = w
            self._send(w, ("ref", k, rows))
            order.append(k)
        while order:
            pump()
        self._folded = True

    def score(self, batches: Iterator[tuple[int, list[Caption]]], ctx: Any, *,
              on_result: Callable[[tuple[int, Any], int], None], finish: Callable | None = None,
              corpus: Any = None) -> None:
        """Score ``(batch_id, captions)`` pairs: ``on_result((batch_id, tables or what finish
        returned), n)`` as they arrive with ``finish``, in batch order without it. ``ctx`` is the
        run's :class:`~caption_audit.engine.batch.ScoreContext`; its ground truth (and, after
        :meth:`references`, its references) are the workers' own, not sent again. ``corpus``: a
        :class:`~caption_audit.quality.corpus.BatchOrder` given each batch's corpus records as
        they arrive (it absorbs them in batch order; see the module notes)."""
        use_fold = self._folded and ctx.references is not None
        lite = replace(ctx, gt=None, references=None if use_fold else ctx.references)
        for conn in self._conns:
            conn.send(("ctx", None, lite, use_fold, finish, corpus is not None))
        sizes: dict[int, int] = {}
        order: list[int] = []
        done: dict[int, Any] = {}

        def collect() -> None:
            for _, _, msg in self._receive():
                k = msg[1]
                if corpus is not None:
                    corpus.put(k, msg[3])  # absorbed in batch order (BatchOrder)
                if finish is not None:
                    on_result((k, msg[2]), sizes.pop(k))
                else:
                    done[k] = msg[2]
            while order and order[0] in done:
                k = order.pop(0)
                on_result((k, done.pop(k)), sizes.pop(k))

        for k, batch in batches:
            owner = self._owner.pop(k, None)
            while True:
                if finish is None and len(order) >= 2 * IN_FLIGHT * len(self._conns):
                    collect()
                    continue
                w = self._idle() if owner is None else owner
                if self._busy[w] < IN_FLIGHT:
                    break
                collect()
            sizes[k] = len(batch)
            if finish is None:
                order.append(k)
            self._send(w, ("score", k, pack(batch)))
        while sizes:
            collect()

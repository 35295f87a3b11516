"""The audit pipeline: ingest -> parse -> (detect) -> score -> run folder.

Example:
    >>> from caption_audit.pipeline import AuditConfig, InputSpec, audit
    >>> cfg = AuditConfig(
    ...     inputs=[InputSpec("captions_val2017.json", role="captions"),
    ...             InputSpec("instances_val2017.json", role="ground_truth")],
    ...     out="runs/val2017")                                   # doctest: +SKIP
    >>> audit(cfg)                                                # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import gc
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from caption_audit import __version__
from caption_audit.engine import ENGINES
from caption_audit.engine.background import Background
from caption_audit.engine.local import run_local
from caption_audit.engine.pool import WorkerPool
from caption_audit.engine.references import ParseReuse, ReferenceFold, parse_references
from caption_audit.engine.shards import ShardStore, fingerprint
from caption_audit.engine.sink import BatchDone, ShardSink
from caption_audit.engine.stats import RunStats
from caption_audit.errors import ConfigError, InputError
from caption_audit.ingest.identity import file_identity
from caption_audit.scoring.aggregate import class_table
from caption_audit.scoring.groundtruth import GT_MODES, GroundTruth
from caption_audit.scoring.metrics import metric_metadata
from caption_audit.semantic.settings import SemanticSettings
from caption_audit.store.layout import summary_file, table_file
from caption_audit.store.lifecycle import RunLock, check_out, os_reason, remove_temp_files
from caption_audit.store.writer import SCHEMA_VERSION, write_json, write_table
from caption_audit.types import Caption, GTObject, ImageIds, ImageInfo, NamedObjects

Role = Literal["captions", "ground_truth", "both"]


@dataclass(frozen=True)
class InputSpec:
    """One input file and what to take from it.

    Attributes:
        path: the file.
        role: ``captions``, ``ground_truth`` or ``both`` (e.g. LLaVA's caps_boxes file).
        format: loader name; ``None`` sniffs it.
        source: caption source name (overrides the loader's default).
        options: loader options.
    """

    path: str | Path
    role: Role = "captions"
    format: str | None = None
    source: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditConfig:
    """Everything a run depends on: built once (``caption-audit run`` builds it from the command
    line and ``--config``), passed down as one frozen value; derive a changed one with
    :func:`dataclasses.replace`. :func:`audit` never changes it.

    Attributes:
        inputs: caption and ground-truth files.
        out: the run folder to write.
        gt_mode: ``instances`` or ``chair`` (see :mod:`caption_audit.scoring.groundtruth`).
        reference_source: the source whose captions feed GT in ``chair`` mode.
        batch_size: captions per text batch.
        n_resamples, confidence, seed: bootstrap settings.
        use_parser: run spaCy's parser on the sentences that need it.
        progress: show progress bars.
        engine: ``local`` (this process, or ``workers`` processes) or ``ray``.
        workers: parallel workers (processes, or Ray actors).
        ray_address: an existing Ray cluster (default: start a local one).
        resume: continue a killed run with the same inputs and settings.
        detector: detector settings (``DetectorSettings``); None for ground truth only.
        images_dir: folder of the image files, recorded for the dashboard (defaults to the
            detector's ``--images``).
        semantic: :class:`~caption_audit.semantic.settings.SemanticSettings` (a mapping such as
            ``{"embedder": name_or_path, "threshold": float}`` is converted once) to map open
            words onto COCO classes by sentence embeddings and judge broad terms ("animal");
            None to skip.
        claims: judge claims (counts, colours, person words, open-vocabulary things) with every
            resolver the evidence allows: ``instances`` (ground truth), ``pixels`` (with
            ``images_dir``), ``references`` (captions of ``reference_source``), ``detector``.
        pixels: judge colour claims on the image pixels when ``images_dir`` is given (off for
            drawn or synthetic images, whose colours say nothing about the captions).
    """

    inputs: Sequence[InputSpec]
    out: str | Path
    gt_mode: str = "instances"
    reference_source: str = "coco"
    batch_size: int = 1000
    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    use_parser: bool = True
    progress: bool = True
    engine: str = "local"
    workers: int = 1
    ray_address: str | None = None
    resume: bool = True
    detector: Any = None  # caption_audit.detect_stage.DetectorSettings
    images_dir: str | Path | None = None
    semantic: SemanticSettings | None = None
    claims: bool = True
    pixels: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "semantic", SemanticSettings.coerce(self.semantic))


def _semantic_dict(cfg: AuditConfig) -> dict[str, Any] | None:
    """The semantic settings as recorded in summary.json and the fingerprint."""
    return None if cfg.semantic is None else cfg.semantic.as_dict()


class _Progress:
    """A thin wrapper over rich's progress bar that can be switched off."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._p = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                               TextColumn("ETA"), TimeRemainingColumn(), transient=False)
            self._p.__enter__()
        return self

    def task(self, description: str, total: int | None) -> Callable[[int, str], None]:
        if not self._p:
            return lambda n, rate="": None
        tid = self._p.add_task(description, total=total, rate="")
        return lambda n, rate="": self._p.update(tid, advance=n, rate=rate)

    def __exit__(self, *exc: Any) -> None:
        if self._p:
            if exc[0] is None:  # the total was an estimate: a finished bar ends at what was done
                for t in self._p.tasks:
                    self._p.update(t.id, total=t.completed)
            self._p.__exit__(*exc)


def _images_dir(cfg: AuditConfig) -> str | Path | None:
    """The image folder: ``--images``, else the detector's."""
    return cfg.images_dir or (cfg.detector.images_dir if cfg.detector is not None else None)


def _load_inputs(cfg: AuditConfig) -> tuple[list[InputSpec], list[GTObject], list[ImageInfo], list[dict], list[str]]:
    from caption_audit.ingest import detect_format, load

    caption_specs: list[InputSpec] = []
    objects: list[GTObject] | NamedObjects = []
    images: list[ImageInfo] | ImageIds = []
    provenance: list[dict] = []
    warnings: list[str] = []
    for spec in cfg.inputs:
        path = Path(spec.path)
        if not path.exists():
            raise InputError(str(path), "no such file")
        fmt = spec.format or detect_format(path)
        _check_role(path, fmt, spec.role)
        if spec.role in ("ground_truth", "both"):
            options = dict(spec.options)
            if fmt == "coco_instances":  # polygons cost memory: only for the pixels resolver
                options.setdefault("keep_segmentation", bool(_images_dir(cfg)) and cfg.claims and cfg.pixels)
            res = load(path, fmt, source=spec.source, **options)
            if isinstance(res.objects, NamedObjects) and not objects:
                objects = res.objects  # kept as columns (CHAIR's 400k objects), a list once another file adds
            else:
                objects = objects if isinstance(objects, list) else list(objects)
                objects.extend(res.objects)
            if isinstance(res.images, ImageIds) and not images:
                images = res.images  # kept as a column of ids (CHAIR's 123k images), a list once another adds
            else:
                images = images if isinstance(images, list) else list(images)
                images.extend(res.images)
            warnings.extend(_with_path(path, w) for w in res.warnings)
            provenance.append({"path": str(path), "format": fmt, "role": "ground_truth",
                               "objects": len(res.objects), "images": len(res.images)})
            if spec.role == "ground_truth" and not res.objects:
                raise InputError(str(path), f"no ground-truth objects found (read as {fmt}: {len(res.images)} "
                                 "image(s), 0 objects); is it the right file?")
        if spec.role in ("captions", "both"):
            caption_specs.append(InputSpec(path, "captions", fmt, spec.source, spec.options))
    caption_specs, notes = _name_sources(caption_specs)
    warnings.extend(notes)
    return caption_specs, objects, images, provenance, warnings


# the `run` flag for each format, to name it when a file is given under the wrong role
_CAPTION_FLAGS = {"coco_captions": "--coco-captions", "llava_conversations": "--llava", "llava_bench": "--llava",
                  "llava_qa30x3": "--llava", "sharegpt4v": "--sharegpt4v", "generic_captions": "--captions"}
_GT_FLAGS = {"coco_instances": "--coco-instances", "generic_objects": "--objects"}


def _check_role(path: Path, fmt: str, role: str) -> None:
    """Refuse a ground-truth file given as captions, or a captions file given as ground truth."""
    if role in ("captions", "both") and fmt in _GT_FLAGS:
        raise InputError(str(path), f"this is a ground-truth file ({fmt}), not captions; pass it with {_GT_FLAGS[fmt]}")
    if role in ("ground_truth", "both") and fmt in _CAPTION_FLAGS:
        raise InputError(str(path), f"this is a captions file ({fmt}), not ground truth; "
                         f"pass it with {_CAPTION_FLAGS[fmt]}")


def _with_path(path: str | Path, warning: str) -> str:
    """``path: warning``, unless the warning already starts with the path."""
    return warning if warning.startswith(f"{path}:") else f"{path}: {warning}"


def _name_sources(specs: list[InputSpec]) -> tuple[list[InputSpec], list[str]]:
    """Distinct source names for the captions files (see :mod:`caption_audit.ingest.naming`);
    the warnings are also printed to stderr, since pooled or renamed sources change the table."""
    from caption_audit.ingest.naming import assign_source_names

    specs, notes = assign_source_names(specs)
    for note in notes:
        print(f"caption-audit: warning: {note}", file=sys.stderr)
    return specs, notes


def _iter_captions(specs: list[InputSpec], provenance: list[dict], warnings: list[str]) -> Iterator[Caption]:
    from caption_audit.ingest import iter_load

    seen: set[str] = set()
    for spec in specs:
        n = 0
        file_warnings: list[str] = []
        for cap in iter_load(spec.path, spec.format, source=spec.source, warnings=file_warnings, **spec.options):
            n += 1
            if cap.caption_id in seen:  # the same id in two files: keep both, rename the later
                k = 2
                while f"{cap.caption_id}~{k}" in seen:
                    k += 1
                cap = Caption(f"{cap.caption_id}~{k}", cap.image_id, cap.source, cap.text, cap.origin,
                              cap.error, cap.image_file)
            seen.add(cap.caption_id)
            yield cap
        warnings.extend(_with_path(spec.path, w) for w in file_warnings)
        provenance.append({"path": str(spec.path), "format": spec.format, "role": "captions", "records": n})


_COUNT_MARKERS = {  # bytes that occur once per caption record, for an ETA estimate only
    "coco_captions": b'"caption"',
    "llava_conversations": b'"gpt"',
    "sharegpt4v": b'"gpt"',
    "llava_caps_boxes": b'"captions"',
}


def _estimate_captions(specs: list[InputSpec]) -> int | None:
    """Approximate number of captions (for the progress bar's ETA): line counts of JSONL/CSV,
    marker counts in JSON; a fast byte scan, about 1 s per GB. None when it cannot tell."""
    total = 0
    for spec in specs:
        path = Path(spec.path)
        marker = _COUNT_MARKERS.get(spec.format or "")
        if marker is None and path.suffix.lower() in (".jsonl", ".csv", ".txt"):
            marker = b"\n"
        if marker is None or path.suffix.lower() == ".gz":
            return None
        n = 0
        try:
            with open(path, "rb") as f:
                tail = b""  # shorter than the marker, so a marker across chunks counts once
                while chunk := f.read(1 << 24):
                    buf = tail + chunk
                    n += buf.count(marker)
                    tail = buf[len(buf) - len(marker) + 1 :] if len(marker) > 1 else b""
        except OSError:
            return None
        if spec.format == "llava_caps_boxes":
            n *= 5
        total += n
    return total or None


# the input's last full batch and what follows it are cut in pieces of size // TAIL_PIECES (at
# least MIN_TAIL_PIECE captions), so that with --workers N no worker is left scoring a whole
# batch alone at the end (issue #15: OPERA's 6 batches of 1,000 long captions kept one of two
# workers busy 0.75 s after the other had finished); part of the run fingerprint, since a
# resumed run must cut its input the same way
TAIL_PIECES = 4
MIN_TAIL_PIECE = 64
BATCHING = f"size, last full batch and rest in {TAIL_PIECES} pieces (at least {MIN_TAIL_PIECE})"


def _batches(it: Iterator[Caption], size: int) -> Iterator[list[Caption]]:
    """``it`` in batches of ``size`` captions, in input order; the tail as :data:`TAIL_PIECES`
    describes. A function of the input and ``size`` only (the reference pass and the scoring
    pass, and a resumed run, cut the same batches)."""
    piece = size // TAIL_PIECES
    held: list[Caption] | None = None  # the last full batch, until it is known not to be the last
    batch: list[Caption] = []
    for c in it:
        batch.append(c)
        if len(batch) >= size:
            if held is not None:
                yield held
            held, batch = batch, []
    if piece < MIN_TAIL_PIECE:
        yield from (b for b in (held, batch) if b)
        return
    tail = (held or []) + batch
    for i in range(0, len(tail), piece):
        yield tail[i : i + piece]


def audit(cfg: AuditConfig) -> Path:
    """Run the audit and write the run folder; returns its path.

    With ``cfg.resume`` (the default) a run folder left by a killed run with the same inputs
    and settings continues from its finished batches. The folder is locked for the whole run and
    marked in progress until ``summary.json`` is written (see :mod:`caption_audit.store.lifecycle`).

    Raises:
        ConfigError: bad settings. InputError: an unreadable or wrong-role input file, an ``--out``
            that is not a (new, empty or caption-audit) folder, a folder another run is writing,
            a disk that is full or read-only, a worker process that died.
    """
    if cfg.gt_mode not in GT_MODES:
        raise ConfigError(f"Unknown ground-truth mode '{cfg.gt_mode}'. Valid modes: {', '.join(GT_MODES)}.")
    if cfg.engine not in ENGINES:
        raise ConfigError(f"Unknown engine '{cfg.engine}'. Valid engines: {', '.join(ENGINES)}.")
    if not cfg.inputs:
        raise ConfigError("No input files: give at least one captions file.")
    if cfg.batch_size < 1 or cfg.workers < 1:
        raise ConfigError("--batch-size and --workers must be at least 1.")
    if cfg.n_resamples < 1:
        raise ConfigError(f"--bootstrap must be at least 1 (got {cfg.n_resamples}).")
    if not 0 < cfg.confidence < 1:
        raise ConfigError(f"confidence must be between 0 and 1 (got {cfg.confidence}).")
    from caption_audit.gc_pause import gc_paused

    out = Path(cfg.out)
    check_out(out)
    with gc_paused():  # many small acyclic objects (CHAIR's table: 123k images, 393k labels)
        caption_specs, objects, images, provenance, warnings = _load_inputs(cfg)
    if not caption_specs:
        raise ConfigError("No captions input: give --coco-captions, --llava, --sharegpt4v or --captions.")
    with RunLock(out, {"version": __version__}) as lock, _LongLived() as long_lived, ExitStack() as stack:
        try:
            _audit_locked(cfg, out, caption_specs, objects, images, provenance, warnings, long_lived, stack)
        except BrokenProcessPool:
            raise InputError(str(out), "a worker process died (killed, or out of memory); finished batches "
                             "are kept: rerun the same command to resume") from None
        except OSError as exc:
            remove_temp_files(out)
            where = exc.filename if exc.filename and str(exc.filename).startswith(str(out)) else out
            raise InputError(str(where), f"{os_reason(exc)}; finished batches are kept: free space or fix "
                             "the folder, then rerun the same command to resume") from None
        lock.commit()
    return out


class _LongLived:
    """Exempt what a run keeps for its whole length (ground truth, vocabulary, spaCy, the
    reference claims) from Python's cyclic garbage collector (:func:`gc.freeze`): every full
    collection during the scoring pass would otherwise scan those millions of objects again,
    and forked workers would copy the pages it touches. Undone on leaving; a process that froze
    objects itself is left alone."""

    def __enter__(self) -> _LongLived:
        self.active = gc.get_freeze_count() == 0
        return self

    def mark(self) -> None:
        """Everything allocated so far lives for the rest of the run."""
        if self.active:
            gc.freeze()

    def __exit__(self, *exc: object) -> None:
        if self.active:
            gc.unfreeze()


def _audit_locked(cfg: AuditConfig, out: Path, caption_specs: list[InputSpec], objects: list[GTObject],
                  images: list[ImageInfo], provenance: list[dict], warnings: list[str],
                  long_lived: _LongLived | None = None, stack: ExitStack | None = None) -> None:
    """The run itself, inside the locked, in-progress run folder; summary.json is written last.
    With ``--workers N`` the worker pool is entered into ``stack`` (stopped on leaving it)."""
    from caption_audit.engine.batch import BatchScorer, ScoreContext
    from caption_audit.gc_pause import gc_paused
    from caption_audit.quality.corpus import BatchOrder, CorpusAccumulator, CorpusRecorder
    from caption_audit.quality.run import quality_pass
    from caption_audit.text.nlp import model_info
    from caption_audit.text.parse import CaptionParser

    t_start = time.perf_counter()
    parser = CaptionParser(use_parser=cfg.use_parser)
    images_dir = _images_dir(cfg)
    pixels = bool(images_dir) and cfg.claims and cfg.pixels and any(o.segmentation or o.bbox for o in objects)
    gt = GroundTruth(keep_geometry=pixels)
    with gc_paused():
        gt.add_objects(objects, parser.vocab)
        gt.add_images(images)
    # objects.parquet depends on nothing the run computes (unless a detector adds objects): a forked
    # child writes it on the core this process leaves idle while spaCy loads and captions are parsed
    objects_job = None
    if cfg.detector is None and stack is not None:
        objects_job = stack.enter_context(Background(_write_objects_table, out, objects, parser.vocab,
                                                     inline=len(objects) < _BACKGROUND_MIN_OBJECTS))
    if cfg.gt_mode == "chair" and not gt.available:
        raise ConfigError("--gt chair needs ground truth (instances or an objects file).")
    references, reference_counts = None, {}
    # each caption is parsed once: the reference pass's parses are kept for the scoring pass, in this
    # process (one worker) or in the worker that scores the batch (one pool for both passes)
    reuse = ParseReuse() if cfg.engine == "local" and cfg.workers <= 1 else None
    # the quality checks' tokenisation feeds the corpus pass (duplicates, boilerplate) as batches
    # are scored, instead of the captions being read back: whoever scores a batch (this process,
    # a worker, a Ray actor) prepares its corpus records, and they are absorbed here in batch
    # order (the records' hashes are the same in every process); a resumed batch's records are
    # prepared here from its captions shard, in its turn
    corpus = CorpusAccumulator()
    order = BatchOrder(corpus)
    pool = None
    if cfg.engine == "local" and cfg.workers > 1:
        if cfg.use_parser:
            parser.nlp.resolve()  # spaCy loaded once here (``parser.nlp`` alone is a lazy stand-in), so
            # that it is frozen below with the rest: the forked workers share it
        ShardSink.warm()  # so do pandas and pyarrow
        if long_lived is not None:
            long_lived.mark()
        pool = WorkerPool(cfg.workers, parser, gt, chair=cfg.gt_mode == "chair")
        if stack is not None:
            stack.enter_context(pool)
    if cfg.gt_mode == "chair" or cfg.claims:
        if long_lived is not None:
            long_lived.mark()  # ground truth: a collection during the pass would scan it again
        with gc_paused():  # the pass keeps what it allocates (reference claims, kept parses): no cycles to find
            references, reference_counts = _reference_pass(cfg, caption_specs, parser, gt, warnings, reuse, pool)
    if long_lived is not None:
        long_lived.mark()  # ground truth, references, spaCy (when loaded), kept parses
    detected = None
    if cfg.detector is not None:
        from caption_audit.detect_stage import run_detection

        settings = replace(cfg.detector, engine=cfg.engine, workers=cfg.workers, ray_address=cfg.ray_address)
        detected = run_detection(settings, _iter_captions(caption_specs, [], []), images, objects,
                                 parser.vocab, progress=cfg.progress)
    resolvers: tuple[str, ...] = ()
    if cfg.claims:
        resolvers = tuple(name for name, on in (("instances", gt.available), ("pixels", pixels),
                                                ("references", references is not None),
                                                ("detector", detected is not None)) if on)
    ctx = ScoreContext(gt=gt, use_parser=cfg.use_parser, evidence=detected.evidence if detected else None,
                       semantic=cfg.semantic, resolvers=resolvers,
                       references=references if cfg.claims else None, reference_counts=reference_counts,
                       images_dir=str(images_dir) if pixels else None,
                       image_files={im.image_id: im.file_name for im in images if im.file_name} if pixels else None)

    fp = fingerprint({
        "inputs": [(file_identity(s.path), s.role, s.format, s.source, s.options) for s in cfg.inputs],
        "gt_mode": cfg.gt_mode, "batch_size": cfg.batch_size, "batching": BATCHING, "use_parser": cfg.use_parser,
        "vocab": parser.vocab.hash, "version": __version__, "schema": SCHEMA_VERSION, "semantic": _semantic_dict(cfg),
        "claims": (resolvers, cfg.reference_source, str(images_dir) if pixels else None),
        "detector": None if cfg.detector is None else (cfg.detector.name, cfg.detector.kwargs, detected.info["model"],
                                                       detected.info["images_computed"] + detected.info["images_cached"]),
    })
    shards = ShardStore(out, fp)
    done = shards.open(resume=cfg.resume)
    stats = RunStats(_reason_key)
    counts = Counter()
    with _Progress(cfg.progress) as progress:
        advance = progress.task("parse + score", _estimate_captions(caption_specs) if cfg.progress else None)
        t0 = time.perf_counter()

        # the process that scores a batch writes its shards and returns its statistics only
        sink = ShardSink(str(out), fp, _reason_key)
        sink.warm()

        def on_result(result: tuple[int, BatchDone], n: int) -> None:
            batch_id, batch = result
            if not shards.shard("captions", batch_id).exists():  # e.g. a Ray node without the run folder
                raise InputError(str(out), f"batch {batch_id} was scored but its shards are not in the run folder; "
                                 "with --ray-address the run folder must be on storage every node can write")
            stats.add_batch(batch_id, batch.stats)
            counts["scored_now"] += n
            elapsed = max(time.perf_counter() - t0, 1e-9)
            advance(n, f"{counts['scored_now'] / elapsed:,.0f} captions/s")

        def todo() -> Iterator[tuple[int, list[Caption]]]:
            for batch_id, batch in enumerate(_batches(_iter_captions(caption_specs, provenance, warnings),
                                                      cfg.batch_size)):
                counts["batches"] = batch_id + 1
                if batch_id in done:
                    stats.add_shard(batch_id, shards.shard("captions", batch_id))
                    order.put_shard(batch_id, shards.shard("captions", batch_id))
                    counts["resumed"] += len(batch)
                    advance(len(batch), "resumed")
                    continue
                yield batch_id, batch

        if cfg.engine == "ray":
            from caption_audit.engine.ray_engine import run_ray

            run_ray(todo(), ctx, workers=cfg.workers, address=cfg.ray_address, on_result=on_result, finish=sink,
                    corpus=order)
        else:
            run_local(todo(), ctx, workers=cfg.workers,
                      scorer=BatchScorer(ctx, parser, reuse, CorpusRecorder() if pool is None else None),
                      on_result=on_result, finish=sink, pool=pool, corpus=order)
        reuse = None  # free what the scoring pass did not take
        if pool is not None:
            pool.close()

    stats.check_complete(counts["batches"])
    order.check_complete(counts["batches"])
    # The tail (issue #15): the quality pass merges the captions shards itself (one read and one
    # write of the table with the corpus columns filled). Mentions and claims are merged by a
    # forked child meanwhile (a thread was measured slower: GIL hand-offs slow the corpus pass);
    # the quality pass waits for them before its position block reads them.
    small = sum(p.stat().st_size for name in ("mentions", "claims") for p in shards.parts(name)) < _BACKGROUND_MIN_BYTES
    merges = Background(_merge_tables, shards, ("mentions", "claims"), inline=small)
    if stack is not None:
        stack.enter_context(merges)
    quality = quality_pass(out, stats, n_resamples=cfg.n_resamples, confidence=cfg.confidence, seed=cfg.seed,
                           parts=shards.parts("captions"), corpus=corpus, merged=merges.join)
    if objects_job is not None:
        objects_job.join()
        _write_images_table(out, images, gt)
    else:
        _write_gt_tables(out, objects, images, gt, parser.vocab, detected.objects if detected else None)
    _write_classes(out)
    _coverage_warning(stats, gt, warnings, detector=detected is not None)
    summary = _summary(cfg, stats, provenance, warnings, gt, parser, model_info(parser.nlp))
    quality.attach(summary)
    summary["run"] = {"engine": cfg.engine, "workers": cfg.workers, "batch_size": cfg.batch_size,
                      "resumed_captions": counts["resumed"], "seconds": round(time.perf_counter() - t_start, 2),
                      "fingerprint": fp}
    if detected is not None:
        summary["detector"] = detected.info
    summary["claims"] = {"enabled": cfg.claims, "resolvers": list(resolvers),
                         "reference_source": cfg.reference_source if references is not None else None,
                         "reference_images": len(reference_counts)}
    if images_dir:
        summary["images_dir"] = str(Path(images_dir).resolve())
    write_json(summary_file(out), summary)
    shards.cleanup()


def _coverage_warning(stats: RunStats, gt: GroundTruth, warnings: list[str], *, detector: bool) -> None:
    """Warn (summary.json and stderr) when ground truth knows under half of the captioned images."""
    if not gt.available or detector:
        return
    captioned = stats.images()
    if not captioned:
        return
    known = sum(gt.has_image(i) for i in captioned)
    if known < 0.5 * len(captioned):
        msg = (f"ground truth covers only {known} of {len(captioned)} captioned images "
               f"({100 * known / len(captioned):.0f}%); captions of the other images are skipped. "
               "Check that the ground-truth file matches the captions (same split, same image ids).")
        warnings.insert(0, msg)
        print(f"caption-audit: warning: {msg}", file=sys.stderr)


def _reason_key(problem: str) -> str:
    """Group skip reasons: 'invalid JSON at line 7: ...' -> 'invalid JSON'."""
    key = problem.split(":")[0]
    if key.startswith("unknown image id"):
        return "unknown image id"
    if key.startswith("missing field"):
        return key
    return key.split(" at line")[0].split(" (")[0]


def _reference_pass(cfg: AuditConfig, specs: list[InputSpec], parser: Any, gt: GroundTruth,
                    warnings: list[str], reuse: ParseReuse | None = None, pool: WorkerPool | None = None
                    ) -> tuple[dict[str, list[tuple[str, Any]]] | None, dict[str, int]]:
    """Parse the reference source's captions once: their claims become evidence for the other
    captions of the same image (the ``references`` resolver), and in CHAIR mode their objects
    join the ground truth. Chunk k holds the reference captions of scoring batch k. With ``reuse``
    (one process) the parses are also kept there for the scoring pass; with ``pool`` the chunks
    are parsed in its workers, which keep their parses for the batches they will score. On Ray
    the pass runs in this process and keeps nothing (the actors parse those captions again).

    Returns:
        ``(image_id -> [(caption_id, Claim)], image_id -> number of reference captions)``; the
        first is ``None`` when no caption of the reference source exists, and empty with
        ``pool`` (each worker holds its own, folded from every chunk).
    """
    from caption_audit.ingest.naming import fixed_source

    chair = cfg.gt_mode == "chair"
    fold = ReferenceFold(gt, chair, claims=pool is None)  # a pool's workers keep the claims, not this process
    # files whose captions all get another source name hold no reference caption: they are not
    # read for this pass (a 1.2M-caption ShareGPT4V file: about 14 s of one process)
    names = [fixed_source(s.format, s.source) for s in specs]
    readable = None in names or cfg.reference_source in names

    def todo() -> Iterator[tuple[int, list[tuple[str, str, str]]]]:
        if not readable:
            return
        for batch_id, batch in enumerate(_batches(_iter_captions(specs, [], []), cfg.batch_size)):
            chunk = [(c.caption_id, c.image_id, c.text) for c in batch
                     if c.source == cfg.reference_source and not c.error]  # empty texts are dropped when parsed
            if chunk:
                yield batch_id, chunk

    if pool is not None:
        pool.references(todo(), fold.add)
    else:
        for _, chunk in todo():
            fold.add(parse_references((parser, chair, reuse), chunk))
    n_refs = fold.n_refs
    if chair and not n_refs:  # e.g. CHAIR's own object table, which already holds the caption objects
        warnings.append(
            f"--gt chair: no reference captions of source '{cfg.reference_source}' on the audited images; "
            "ground truth is the given objects only (CHAIR's imid_to_objects table already includes them)"
        )
    return (fold.refs if n_refs else None), dict(n_refs)


def _summary(cfg: AuditConfig, stats: RunStats, provenance: list[dict], warnings: list[str], gt: GroundTruth,
             parser: Any, nlp_info: dict) -> dict:
    sources, used = stats.per_source(n_resamples=cfg.n_resamples, confidence=cfg.confidence, seed=cfg.seed)
    n_input, n_scored = stats.n_input, stats.n_scored
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "caption-audit", "version": __version__},
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "gt_mode": cfg.gt_mode if gt.available else "none",
        "reference_source": cfg.reference_source if cfg.gt_mode == "chair" else None,
        "text": {**nlp_info, "vocab_hash": parser.vocab.hash,
                 "parser": "lexical+spacy" if cfg.use_parser else "lexical", "semantic": _semantic_dict(cfg)},
        "inputs": provenance,
        "counts": {"input": n_input, "scored": n_scored, "skipped": n_input - n_scored,
                   "skipped_by_reason": stats.skip_reasons(), "gt_images": len(gt.known)},
        "metrics": metric_metadata(),
        "sources": sources,
        "bootstrap": {"n_resamples": used, "confidence": cfg.confidence, "unit": "image", "seed": cfg.seed},
        "unmapped_gt_labels": dict(gt.unmapped.most_common(50)),
        "warnings": warnings[:200],
    }


# below these sizes a side job runs inline: a fork and a join cost more than the job (start-up, issue #15)
_BACKGROUND_MIN_OBJECTS = 20_000
_BACKGROUND_MIN_BYTES = 1 << 20


def _merge_tables(shards: ShardStore, names: tuple[str, ...]) -> None:
    for name in names:
        shards.merge(name)


def _write_gt_tables(out: Path, objects: list[GTObject], images: list[ImageInfo], gt: GroundTruth, vocab: Any,
                     detected: dict[str, list] | None = None) -> None:
    """objects.parquet and images.parquet (images.parquet reads captions.parquet)."""
    _write_objects_table(out, objects, vocab, detected)
    _write_images_table(out, images, gt)


def _write_objects_table(out: Path, objects: list[GTObject], vocab: Any, detected: dict[str, list] | None = None
                         ) -> None:
    """objects.parquet: the ground-truth objects, then the detected ones (depends on no other table)."""
    if isinstance(objects, NamedObjects) and len(objects) and not detected:
        _write_named_objects(out, objects, vocab)
    else:
        cols = _object_columns(objects, vocab)
        for k, v in (detected or {}).items():
            cols.setdefault(k, []).extend(v)
        write_table(out, "objects", cols)


def _write_named_objects(out: Path, objects: NamedObjects, vocab: Any) -> None:
    """The objects table of name-only objects (CHAIR's 393k), built as Arrow arrays: the
    constant and empty columns are not converted from Python lists value by value."""
    import pyarrow as pa

    from caption_audit.store.writer import SCHEMAS, write_arrow_table

    n = len(objects)
    schema = SCHEMAS["objects"]
    labels = pa.array(objects.labels, schema.field("label").type)
    # the canonical name of each distinct label, spread by the dictionary indices (no per-row Python)
    enc = labels.dictionary_encode()
    canon = pa.array([vocab.canonical_of(c) or c for c in enc.dictionary.to_pylist()], schema.field("category").type)
    write_arrow_table(out, "objects", pa.Table.from_arrays([
        pa.array(objects.image_ids, schema.field("image_id").type),
        canon.take(enc.indices),
        labels,
        pa.nulls(n, schema.field("bbox").type),
        pa.repeat(pa.scalar(False, schema.field("normalized").type), n),
        pa.repeat(pa.scalar(objects.origin, schema.field("origin").type), n),
        pa.nulls(n, schema.field("score").type),
    ], schema=schema))


def _object_columns(objects: list[GTObject], vocab: Any) -> dict[str, list]:
    canon = {c: vocab.canonical_of(c) or c for c in {o.category for o in objects}}
    return {  # column by column: this table has a row per GT object (400k for CHAIR's)
        "image_id": [o.image_id for o in objects],
        "category": [canon[o.category] for o in objects],
        "label": [o.category for o in objects],
        "bbox": [list(o.bbox) if o.bbox else None for o in objects],
        "normalized": [o.normalized for o in objects],
        "origin": [o.origin for o in objects],
        "score": [None] * len(objects),
    }


def _write_images_table(out: Path, images: list[ImageInfo] | ImageIds, gt: GroundTruth) -> None:
    import duckdb

    seen: dict[str, ImageInfo | None]
    if isinstance(images, ImageIds):  # ids only: each id once, in first-seen order, as below
        seen = dict.fromkeys(images.image_ids)
    else:
        seen = {}
        for im in images:
            prev = seen.get(im.image_id)
            if prev is None or (prev.file_name is None and im.file_name):
                seen[im.image_id] = im
    # images that only captions know (no GT), with the file name the caption file gave
    con = duckdb.connect()
    rows = con.execute("select image_id from read_parquet(?) group by 1 order by 1",  # deterministic rows
                       [table_file(out, "captions").as_posix()]).fetchall()
    con.close()
    for (image_id,) in rows:
        seen.setdefault(image_id, None)
    ids = list(seen)
    known = gt.known
    if isinstance(images, ImageIds):  # ids only (CHAIR's 123k): no file names or sizes
        file_names = widths = heights = [None] * len(ids)
    else:
        ims = list(seen.values())
        file_names = [im.file_name if im is not None else None for im in ims]
        widths = [im.width if im is not None else None for im in ims]
        heights = [im.height if im is not None else None for im in ims]
    write_table(out, "images", {
        "image_id": ids, "file_name": file_names, "width": widths, "height": heights,
        "gt_available": [i in known for i in ids]})  # gt.has_image, without a call per image


def _write_classes(out: Path) -> None:
    write_table(out, "classes", class_table(out))

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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from caption_audit import __version__
from caption_audit.errors import ConfigError, InputError
from caption_audit.scoring.bootstrap import bootstrap_ci
from caption_audit.scoring.groundtruth import GT_MODES, GroundTruth
from caption_audit.scoring.metrics import METRIC_LIST, STAT_COLUMNS, metric_metadata
from caption_audit.scoring.verdicts import score_caption
from caption_audit.store.writer import TableWriter, write_json, write_table
from caption_audit.text.checks import text_problem
from caption_audit.types import Caption, GTObject, ImageInfo

Role = Literal["captions", "ground_truth", "both"]


@dataclass
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


@dataclass
class AuditConfig:
    """Everything a run depends on.

    Attributes:
        inputs: caption and ground-truth files.
        out: the run folder to write.
        gt_mode: ``instances`` or ``chair`` (see :mod:`caption_audit.scoring.groundtruth`).
        reference_source: the source whose captions feed GT in ``chair`` mode.
        batch_size: captions per text batch.
        n_resamples, confidence, seed: bootstrap settings.
        use_parser: run spaCy's parser on the sentences that need it.
        progress: show progress bars.
    """

    inputs: list[InputSpec]
    out: str | Path
    gt_mode: str = "instances"
    reference_source: str = "coco"
    batch_size: int = 1000
    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    use_parser: bool = True
    progress: bool = True


class _Progress:
    """A thin wrapper over rich's progress bar that can be switched off."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._p = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

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
            self._p.__exit__(*exc)


def _load_inputs(cfg: AuditConfig) -> tuple[list[InputSpec], list[GTObject], list[ImageInfo], list[dict], list[str]]:
    from caption_audit.ingest import detect_format, load

    caption_specs: list[InputSpec] = []
    objects: list[GTObject] = []
    images: list[ImageInfo] = []
    provenance: list[dict] = []
    warnings: list[str] = []
    for spec in cfg.inputs:
        path = Path(spec.path)
        if not path.exists():
            raise InputError(str(path), "no such file")
        fmt = spec.format or detect_format(path)
        if spec.role in ("ground_truth", "both"):
            res = load(path, fmt, source=spec.source, **spec.options)
            objects.extend(res.objects)
            images.extend(res.images)
            warnings.extend(f"{path}: {w}" for w in res.warnings)
            provenance.append({"path": str(path), "format": fmt, "role": "ground_truth",
                               "objects": len(res.objects), "images": len(res.images)})
            if spec.role == "ground_truth" and not res.objects and not res.images:
                raise InputError(str(path), f"no ground-truth objects or images found (format {fmt})")
        if spec.role in ("captions", "both"):
            caption_specs.append(InputSpec(path, "captions", fmt, spec.source, spec.options))
    return caption_specs, objects, images, provenance, warnings


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
        warnings.extend(f"{spec.path}: {w}" for w in file_warnings)
        provenance.append({"path": str(spec.path), "format": spec.format, "role": "captions", "records": n})


def _batches(it: Iterator[Caption], size: int) -> Iterator[list[Caption]]:
    batch: list[Caption] = []
    for c in it:
        batch.append(c)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def audit(cfg: AuditConfig) -> Path:
    """Run the audit and write the run folder; returns its path.

    Raises:
        ConfigError: bad settings. InputError: an unreadable input file.
    """
    if cfg.gt_mode not in GT_MODES:
        raise ConfigError(f"Unknown ground-truth mode '{cfg.gt_mode}'. Valid modes: {', '.join(GT_MODES)}.")
    if not cfg.inputs:
        raise ConfigError("No input files: give at least one captions file.")
    from caption_audit.text.nlp import model_info
    from caption_audit.text.parse import CaptionParser

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    caption_specs, objects, images, provenance, warnings = _load_inputs(cfg)
    if not caption_specs:
        raise ConfigError("No captions input: give --coco-captions, --llava, --sharegpt4v or --captions.")

    parser = CaptionParser(use_parser=cfg.use_parser)
    vocab = parser.vocab
    gt = GroundTruth()
    gt.add_objects(objects, vocab)
    gt.add_images(images)
    have_gt = gt.available
    coco_index = {c: i for i, c in enumerate(vocab.classes)}

    if cfg.gt_mode == "chair":
        if not have_gt:
            raise ConfigError("--gt chair needs ground truth (instances or an objects file).")
        _add_reference_objects(cfg, caption_specs, parser, gt)

    cap_writer = TableWriter(out, "captions")
    men_writer = TableWriter(out, "mentions")
    stats = _Stats()
    class_acc: dict[tuple[str, str], Counter] = defaultdict(Counter)
    class_images: dict[tuple[str, str], set[str]] = defaultdict(set)
    image_files: dict[str, str] = {}
    skipped = Counter()
    import time

    with _Progress(cfg.progress) as progress:
        advance = progress.task("parse + score", None)
        t0 = time.perf_counter()
        done = 0
        for batch in _batches(_iter_captions(caption_specs, provenance, warnings), cfg.batch_size):
            problems: list[str | None] = []
            for c in batch:
                if c.error:
                    problems.append(c.error)
                elif have_gt and not gt.has_image(c.image_id):
                    problems.append(f"unknown image id '{c.image_id}' (not in any ground-truth file)")
                else:
                    problems.append(text_problem(c.text))
                if c.image_file and c.image_id not in image_files:
                    image_files[c.image_id] = c.image_file
            to_parse = [c.text for c, p in zip(batch, problems, strict=True) if p is None]
            parsed = iter(parser.parse(to_parse))
            crow: dict[str, list] = defaultdict(list)
            mrow: dict[str, list] = defaultdict(list)
            for c, problem in zip(batch, problems, strict=True):
                if problem is not None:
                    status = f"skipped: {problem}"
                    skipped[_reason_key(problem)] += 1
                    _caption_row(crow, c, status, None, None, 0, 0, have_gt and gt.has_image(c.image_id))
                    stats.add(c, None, 0, 0, False)
                    continue
                p = next(parsed)
                image_gt = gt.of(c.image_id) if have_gt else None
                s = score_caption(p, image_gt, coco_index)
                _caption_row(crow, c, "scored", s, p, p.n_words, p.n_chars, image_gt is not None)
                _mention_rows(mrow, c, p)
                stats.add(c, s, p.n_words, p.n_chars, image_gt is not None)
                _classes(class_acc, class_images, c, s)
            cap_writer.write(crow)
            men_writer.write(mrow)
            done += len(batch)
            advance(len(batch), f"{done / max(time.perf_counter() - t0, 1e-9):,.0f} captions/s")
    cap_writer.close()
    men_writer.close()

    _write_gt_tables(out, objects, images, gt, image_files, vocab)
    _write_classes(out, class_acc, class_images)
    summary = _summary(cfg, stats, skipped, provenance, warnings, gt, parser, model_info(parser.nlp))
    write_json(out / "summary.json", summary)
    return out


def _reason_key(problem: str) -> str:
    """Group skip reasons: 'invalid JSON at line 7: ...' -> 'invalid JSON'."""
    key = problem.split(":")[0]
    if key.startswith("unknown image id"):
        return "unknown image id"
    if key.startswith("missing field"):
        return key
    return key.split(" at line")[0].split(" (")[0]


def _add_reference_objects(cfg: AuditConfig, specs: list[InputSpec], parser: Any, gt: GroundTruth) -> None:
    """CHAIR mode: parse the reference captions once and add their objects to GT."""
    refs = [c for c in _iter_captions(specs, [], []) if c.source == cfg.reference_source and not c.error
            and text_problem(c.text) is None and gt.has_image(c.image_id)]
    if not refs:
        raise ConfigError(
            f"--gt chair needs reference captions of source '{cfg.reference_source}' on the audited images; none found."
        )
    for i in range(0, len(refs), cfg.batch_size):
        chunk = refs[i : i + cfg.batch_size]
        for c, p in zip(chunk, parser.parse([c.text for c in chunk]), strict=True):
            gt.add_caption_objects(
                c.image_id,
                {m.canonical for m in p.mentions if m.vocab == "coco80" and not m.negated and not m.nonvisual},
            )


def _caption_row(rows: dict, c: Caption, status: str, s: Any, p: Any, n_words: int, n_chars: int, gt_ok: bool) -> None:
    rows["caption_id"].append(c.caption_id)
    rows["image_id"].append(c.image_id)
    rows["source"].append(c.source)
    rows["caption"].append(c.text)
    rows["status"].append(status)
    rows["origin"].append(c.origin)
    scored = s is not None
    rows["mentioned"].append(s.mentioned if scored else [])
    rows["hallucinated"].append(s.hallucinated if scored else [])
    rows["covered"].append(s.covered if scored else [])
    rows["gt_objects"].append(s.gt_objects if scored else [])
    rows["open_mentioned"].append(s.open_mentioned if scored else [])
    rows["n_mentions"].append(s.n_mentions if scored else 0)
    rows["n_hallucinated"].append(s.n_hallucinated if scored else 0)
    rows["n_unverifiable"].append(s.n_unverifiable if scored else 0)
    rows["n_words"].append(n_words)
    rows["n_chars"].append(n_chars)
    judged = scored and gt_ok
    rows["chair_i"].append(s.n_hallucinated / s.n_mentions if judged and s.n_mentions else None)
    rows["has_hallucination"].append(s.n_hallucinated > 0 if judged else None)
    rows["coverage"].append(len(s.covered) / len(s.gt_objects) if judged and s.gt_objects else None)
    rows["halluc_per_100w"].append(100.0 * s.n_hallucinated / n_words if judged and n_words else None)
    rows["gt_available"].append(gt_ok)


def _mention_rows(rows: dict, c: Caption, p: Any) -> None:
    for i, m in enumerate(p.mentions):
        rows["caption_id"].append(c.caption_id)
        rows["image_id"].append(c.image_id)
        rows["source"].append(c.source)
        rows["idx"].append(i)
        rows["start"].append(m.start)
        rows["end"].append(m.end)
        rows["text"].append(m.text)
        rows["lemma"].append(m.lemma)
        rows["canonical"].append(m.canonical)
        rows["vocab"].append(m.vocab)
        rows["count"].append(m.count)
        rows["negated"].append(m.negated)
        rows["hedged"].append(m.hedged)
        rows["nonvisual"].append(m.nonvisual)
        rows["verdict"].append(m.verdict)
        rows["reason"].append(m.reason)
        rows["evidence"].append(m.evidence)
        rows["score"].append(m.score)
        rows["box"].append(list(m.box) if m.box else None)


def _classes(acc: dict, images: dict, c: Caption, s: Any) -> None:
    for name in s.gt_objects:
        key = (c.source, name)
        acc[key]["n_gt_captions"] += 1
        images[key].add(c.image_id)
    for name in s.covered:
        acc[(c.source, name)]["n_covered"] += 1
    # mention-level counts come from the caption's statistics by class
    for name in s.mentioned:
        acc[(c.source, name)]["n_captions_mentioning"] += 1
    for name in s.hallucinated:
        acc[(c.source, name)]["n_captions_hallucinating"] += 1


class _Stats:
    """Per-caption statistic vectors (small numbers only), for metrics and the bootstrap."""

    def __init__(self) -> None:
        self.sources: list[str] = []
        self.images: list[str] = []
        self.cols: dict[str, list[float]] = {c: [] for c in STAT_COLUMNS}
        self.n_gt: list[int] = []

    def add(self, c: Caption, s: Any, n_words: int, n_chars: int, gt_ok: bool) -> None:
        self.sources.append(c.source)
        self.images.append(c.image_id)
        scored = s is not None
        judged = scored and gt_ok
        vals = {
            "n_hallucinated": s.n_hallucinated if judged else 0,
            "n_mentions": s.n_mentions if judged else 0,
            "has_hallucination": int(judged and s.n_hallucinated > 0),
            "judged": int(judged),
            "n_covered": len(s.covered) if judged else 0,
            "n_gt": len(s.gt_objects) if judged else 0,
            "n_words": n_words if scored else 0,
            "n_chars": n_chars if scored else 0,
            "scored": int(scored),
            "n_unverifiable": s.n_unverifiable if scored else 0,
            "n_all_mentions": s.n_all_mentions if scored else 0,
            "skipped": int(not scored),
            "one": 1,
        }
        for k in self.cols:
            self.cols[k].append(vals[k])


def _source_metrics(stats: _Stats, mask: np.ndarray, cfg: AuditConfig) -> tuple[dict, int]:
    cols = list(stats.cols)
    col_index = {c: i for i, c in enumerate(cols)}
    data = np.column_stack([np.asarray(stats.cols[c], dtype=np.float64)[mask] for c in cols])
    img = np.asarray(stats.images, dtype=object)[mask]
    uniq, inverse = np.unique(img.astype(str), return_inverse=True)
    per_image = np.zeros((len(uniq), len(cols)))
    np.add.at(per_image, inverse, data)
    totals = data.sum(axis=0)
    ratios = [(col_index[m.numerator], col_index[m.denominator], m.scale) for m in METRIC_LIST]
    cis, used = bootstrap_ci(per_image, ratios, n_resamples=cfg.n_resamples,
                             confidence=cfg.confidence, seed=cfg.seed)
    out = {}
    for m, (lo, hi) in zip(METRIC_LIST, cis, strict=True):
        num, den = totals[col_index[m.numerator]], totals[col_index[m.denominator]]
        value = m.compute(num, den)
        entry = {"value": value, "ci_low": lo, "ci_high": hi, "numerator": float(num), "denominator": float(den)}
        if value is None:
            entry["status"] = m.empty_status
        out[m.name] = entry
    return out, used


def _summary(cfg: AuditConfig, stats: _Stats, skipped: Counter, provenance: list[dict],
             warnings: list[str], gt: GroundTruth, parser: Any, nlp_info: dict) -> dict:
    sources: dict[str, Any] = {}
    src = np.asarray(stats.sources, dtype=object)
    used = 0
    for name in dict.fromkeys(stats.sources):
        mask = src == name
        metrics, used = _source_metrics(stats, mask, cfg)
        n_in = int(mask.sum())
        n_scored = int(np.asarray(stats.cols["scored"])[mask].sum())
        sources[name] = {
            "counts": {
                "input": n_in,
                "scored": n_scored,
                "skipped": n_in - n_scored,
                "judged": int(np.asarray(stats.cols["judged"])[mask].sum()),
                "images": len(set(np.asarray(stats.images, dtype=object)[mask])),
            },
            "metrics": metrics,
        }
    n_input = len(stats.sources)
    n_scored = int(sum(stats.cols["scored"]))
    return {
        "schema_version": 1,
        "tool": {"name": "caption-audit", "version": __version__},
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "gt_mode": cfg.gt_mode if gt.available else "none",
        "reference_source": cfg.reference_source if cfg.gt_mode == "chair" else None,
        "text": {**nlp_info, "vocab_hash": parser.vocab.hash,
                 "parser": "lexical+spacy" if cfg.use_parser else "lexical",
                 "sentences_parsed": parser.stats["sentences_parsed"]},
        "inputs": provenance,
        "counts": {"input": n_input, "scored": n_scored, "skipped": n_input - n_scored,
                   "skipped_by_reason": dict(skipped.most_common()),
                   "gt_images": len(gt.known)},
        "metrics": metric_metadata(),
        "sources": sources,
        "bootstrap": {"n_resamples": used, "confidence": cfg.confidence, "unit": "image", "seed": cfg.seed},
        "unmapped_gt_labels": dict(gt.unmapped.most_common(50)),
        "warnings": warnings[:200],
    }


def _write_gt_tables(out: Path, objects: list[GTObject], images: list[ImageInfo], gt: GroundTruth,
                     image_files: dict[str, str], vocab: Any) -> None:
    cache: dict[str, str] = {}
    cols: dict[str, list] = defaultdict(list)
    for o in objects:
        canon = cache.get(o.category)
        if canon is None:
            canon = cache[o.category] = vocab.canonical_of(o.category) or o.category
        cols["image_id"].append(o.image_id)
        cols["category"].append(canon)
        cols["label"].append(o.category)
        cols["bbox"].append(list(o.bbox) if o.bbox else None)
        cols["normalized"].append(o.normalized)
        cols["origin"].append(o.origin)
        cols["score"].append(None)
    write_table(out, "objects", cols)
    seen: dict[str, ImageInfo] = {}
    for im in images:
        if im.image_id not in seen or (seen[im.image_id].file_name is None and im.file_name):
            seen[im.image_id] = im
    for image_id, f in image_files.items():
        if image_id not in seen:
            seen[image_id] = ImageInfo(image_id, f)
        elif seen[image_id].file_name is None:
            im = seen[image_id]
            seen[image_id] = ImageInfo(image_id, f, im.width, im.height)
    icols: dict[str, list] = defaultdict(list)
    for im in seen.values():
        icols["image_id"].append(im.image_id)
        icols["file_name"].append(im.file_name)
        icols["width"].append(im.width)
        icols["height"].append(im.height)
        icols["gt_available"].append(gt.has_image(im.image_id))
    write_table(out, "images", icols)


def _write_classes(out: Path, acc: dict, images: dict) -> None:
    import duckdb

    # mention-level counts per (source, class) straight from mentions.parquet
    con = duckdb.connect()
    rows = con.execute(
        """select source, canonical, count(*) filter (where verdict <> 'unverifiable'),
                   count(*) filter (where verdict = 'hallucinated')
            from read_parquet(?)
            where vocab = 'coco80' and not negated and not nonvisual group by 1, 2""",
        [(out / "mentions.parquet").as_posix()],
    ).fetchall()
    con.close()
    mention_counts = {(s, c): (n, h) for s, c, n, h in rows}
    keys = sorted(set(acc) | set(mention_counts))
    cols: dict[str, list] = defaultdict(list)
    for key in keys:
        n_m, n_h = mention_counts.get(key, (0, 0))
        a = acc.get(key, Counter())
        cols["source"].append(key[0])
        cols["canonical"].append(key[1])
        cols["n_mentions"].append(n_m)
        cols["n_hallucinated"].append(n_h)
        cols["n_gt_images"].append(len(images.get(key, ())))
        cols["n_covered"].append(a["n_covered"])
        cols["n_gt_captions"].append(a["n_gt_captions"])
        cols["hallucination_rate"].append(n_h / n_m if n_m else None)
        cols["coverage"].append(a["n_covered"] / a["n_gt_captions"] if a["n_gt_captions"] else None)
    write_table(out, "classes", cols)

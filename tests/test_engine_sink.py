"""Workers write their own shards; the parent only folds their statistics (engine/sink.py,
engine/references.py, RunStats.add_batch)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from caption_audit.cli import build_parser
from caption_audit.commands.run import config_from_args
from caption_audit.engine.batch import BatchScorer, ScoreContext
from caption_audit.engine.shards import ShardStore
from caption_audit.engine.stats import RunStats, batch_stats
from caption_audit.ingest import iter_load, load
from caption_audit.pipeline import _reason_key, audit
from caption_audit.scoring.aggregate import CAPTION_COLUMNS
from caption_audit.scoring.groundtruth import GroundTruth
from caption_audit.text.parse import CaptionParser
from tests._scale_data import assert_same_run, write_inputs


def _run(caps: Path, objs: Path, out: Path, *extra: str) -> Path:
    argv = ["run", "--captions", str(caps), "--objects", str(objs), "--out", str(out),
            "--batch-size", "40", "--bootstrap", "50", "--quiet", "--no-resume", *extra]
    return audit(config_from_args(build_parser().parse_args(argv)))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_inputs(tmp_path_factory.mktemp("sink") / "in", n_images=60, per_image=4)  # 243 captions, 7 batches


@pytest.mark.parametrize("workers", ["1", "2"])
def test_shards_are_written_by_the_process_that_scored_them(inputs: tuple[Path, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch, workers: str) -> None:
    """A spy on ShardStore.write (inherited by the forked workers) logs the writing process: with
    workers, every shard comes from a worker and none from the parent; alone, from the parent."""
    log = tmp_path / "writers.log"
    write = ShardStore.write

    def spy(self: ShardStore, batch_id: int, *tables: dict) -> None:
        write(self, batch_id, *tables)
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {batch_id}\n")

    monkeypatch.setattr(ShardStore, "write", spy)
    _run(*inputs, tmp_path / "run", "--workers", workers)
    rows = [line.split() for line in log.read_text().splitlines()]
    assert sorted(int(b) for _, b in rows) == list(range(7))  # each batch written once
    writers = {int(p) for p, _ in rows}
    if workers == "1":
        assert writers == {os.getpid()}
    else:
        assert os.getpid() not in writers and 1 <= len(writers) <= 2


def test_chair_reference_pass_in_workers_equals_one_process(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    """--gt chair: the reference captions are parsed in the workers and fold into the ground truth in
    order, so the run folder matches one process."""
    extra = ("--gt", "chair", "--reference-source", "preds")
    one = _run(*inputs, tmp_path / "w1", *extra)
    two = _run(*inputs, tmp_path / "w2", *extra, "--workers", "2")
    assert_same_run(one, two)


def test_batch_stats_from_columns_equal_stats_from_the_shard(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    """What a worker folds from its column dicts equals what a resumed batch folds from its shard,
    in any arrival order and for other batch boundaries, and equals the run's summary."""
    caps, objs = inputs
    run = _run(caps, objs, tmp_path / "ref")  # batches of 40
    parser = CaptionParser()
    gt = GroundTruth()
    gt.add_objects(load(objs, "generic_objects").objects, parser.vocab)
    scorer = BatchScorer(ScoreContext(gt=gt), parser)
    captions = list(iter_load(caps, "generic_captions", warnings=[]))
    batches = [captions[i:i + 100] for i in range(0, len(captions), 100)]
    store = ShardStore(tmp_path / "shards", "fp")
    store.open(resume=False)
    from_columns, from_shards = RunStats(_reason_key), RunStats(_reason_key)
    for k in reversed(range(len(batches))):  # arrival out of order
        tables = scorer.score(batches[k])
        store.write(k, *tables)
        from_columns.add_batch(k, batch_stats(tables[0], _reason_key))
        from_shards.add_shard(k, store.shard("captions", k))
    from_columns.check_complete(len(batches))
    a = from_columns.per_source(n_resamples=50, confidence=0.95, seed=0)
    assert a == from_shards.per_source(n_resamples=50, confidence=0.95, seed=0)
    assert from_columns.skip_reasons() == from_shards.skip_reasons() == {
        "unknown image id": 1, "empty caption": 1, "invalid JSON": 1}
    table = pd.read_parquet(run / "captions.parquet", columns=CAPTION_COLUMNS)
    assert from_columns.n_input == len(table) == 243
    summary = json.loads((run / "summary.json").read_text())
    # the summary adds the corpus checks (duplicates, boilerplate: known only after all batches)
    # and the metrics without degenerate captions; the batch statistics hold everything else
    corpus = {"duplicate_share", "near_duplicate_share", "boilerplate_share"}

    def batch_part(sources: dict) -> dict:
        return {name: {k: ({m: v for m, v in block[k].items() if m not in corpus} if k == "metrics" else block[k])
                       for k in block if k != "metrics_clean"} for name, block in sources.items()}

    assert batch_part(a[0]) == batch_part(summary["sources"])


def test_workers_parse_each_reference_caption_once(inputs: tuple[Path, Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """--workers 2 with the captions as their own references: a spy on CaptionParser.parse
    (inherited by the forked workers) logs every text parsed; each caption with a text is parsed
    exactly once in the whole run (reference pass and scoring pass), by the workers, none by the
    parent, and the run folder equals one process's."""
    log = tmp_path / "parsed.log"
    parse = CaptionParser.parse

    def spy(self: CaptionParser, texts: list[str]) -> list:
        texts = list(texts)
        with open(log, "a", encoding="utf-8") as f:
            f.writelines(f"{os.getpid()}\t{json.dumps(t)}\n" for t in texts)
        return parse(self, texts)

    extra = ("--reference-source", "preds")
    one = _run(*inputs, tmp_path / "w1", *extra)
    monkeypatch.setattr(CaptionParser, "parse", spy)
    two = _run(*inputs, tmp_path / "w2", *extra, "--workers", "2")
    assert_same_run(one, two)
    rows = [line.split("\t") for line in log.read_text(encoding="utf-8").splitlines()]
    parsed = Counter(json.loads(t) for _, t in rows)
    texts = Counter(c.text for c in iter_load(inputs[0], "generic_captions", warnings=[])
                    if not c.error and c.text.strip())
    assert sum(texts.values()) == 241  # 243 records less the empty caption and the invalid JSON line
    assert parsed == texts
    assert os.getpid() not in {int(p) for p, _ in rows}

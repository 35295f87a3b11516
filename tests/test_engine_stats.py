"""engine.stats: a batch's statistics from its column dict (no DataFrame) equal those that the
DataFrame path of ``stat_table`` gives, per source and image; the fold is order-independent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from caption_audit.engine.stats import RunStats, batch_stats
from caption_audit.scoring.aggregate import CAPTION_COLUMNS, stat_table
from caption_audit.scoring.metrics import STAT_COLUMNS
from tests._runs import demo_run


@pytest.fixture(scope="module")
def captions(tmp_path_factory):
    return pq.read_table(demo_run(tmp_path_factory) / "captions.parquet").to_pydict()


def _reason(s: str) -> str:
    return s.split(":")[0]


def test_dict_stats_equal_the_dataframe_path(captions):
    cols = {c: captions[c] for c in CAPTION_COLUMNS}
    df = pd.DataFrame(cols)
    want = stat_table(df)
    got = stat_table(cols)
    for c in STAT_COLUMNS:
        assert np.array_equal(got[c], want[c]), c
    b = batch_stats(captions, _reason)
    assert b.n_input == len(df) and b.n_scored == int((df["status"] == "scored").sum())
    data = pd.DataFrame(want).assign(source=df["source"], image_id=df["image_id"].astype(str))
    for name, uniq, sums in b.sources:
        ref = data[data["source"] == name].groupby("image_id")[list(STAT_COLUMNS)].sum().sort_index()
        assert list(uniq) == list(ref.index)
        assert np.allclose(sums, ref.to_numpy())


def test_missing_values_and_skipped_rows(captions):
    n = len(captions["status"])
    cols = {k: list(v) for k, v in captions.items()}
    cols["status"][0] = "skipped: unknown image id 42"
    cols["n_words"][1] = None
    cols["gt_available"][2] = None
    b = batch_stats(cols, _reason)
    assert b.reasons == {"unknown image id 42": 1} and b.n_input == n
    assert b.n_scored == sum(s == "scored" for s in cols["status"])
    empty = batch_stats({k: [] for k in cols}, _reason)
    assert (empty.sources, empty.reasons, empty.n_input, empty.n_scored) == ([], {}, 0, 0)


def test_batches_fold_in_batch_order(captions):
    half = len(captions["status"]) // 2
    parts = [{k: v[:half] for k, v in captions.items()}, {k: v[half:] for k, v in captions.items()}]
    a, b = RunStats(_reason), RunStats(_reason)
    a.add_batch(0, batch_stats(parts[0], _reason))
    a.add_batch(1, batch_stats(parts[1], _reason))
    b.add_batch(1, batch_stats(parts[1], _reason))
    assert b.n_input == 0  # held until batch 0 arrives
    b.add_batch(0, batch_stats(parts[0], _reason))
    sa, _ = a.per_source(n_resamples=50, confidence=0.95, seed=0)
    sb, _ = b.per_source(n_resamples=50, confidence=0.95, seed=0)
    assert sa == sb and a.n_input == b.n_input == len(captions["status"])

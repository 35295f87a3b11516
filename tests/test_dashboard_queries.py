"""Unit tests for dashboards/queries.py on a small hand-written run (tests/data/dashboard)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from caption_audit.errors import ConfigError, InputError
from dashboards import queries as q
from tests.dashboard_fixture import build_tiny_run

pytest.importorskip("duckdb")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> q.Run:
    return q.open_run(build_tiny_run(tmp_path_factory.mktemp("tiny") / "run"))


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> q.Run:
    # the baseline lacks one caption and had a different text for another
    path = build_tiny_run(tmp_path_factory.mktemp("tiny_base") / "run", drop=("sharegpt4v:3",),
                          caption_overrides={"llava:1": "The image shows a dog and a frisbee."})
    return q.open_run(path)


def test_open_run_errors_name_the_file(tmp_path: Path):
    with pytest.raises(InputError, match="run folder not found"):
        q.open_run(tmp_path / "nope")
    with pytest.raises(InputError, match=r"captions\.parquet.*missing"):
        q.open_run(tmp_path)
    r = build_tiny_run(tmp_path / "r")
    (r / "summary.json").write_text("{not json")
    with pytest.raises(InputError, match=r"summary\.json:1"):
        q.open_run(r)


def test_paging_is_complete_stable_and_disjoint(run):
    total = q.count_rows(run, "captions")
    assert total == 10
    seen = []
    for p in range(4):
        df = q.page(run, "captions", page_number=p, page_size=3)
        assert len(df) == (3 if p < 3 else 1)
        seen += df["caption_id"].tolist()
    assert seen == sorted(seen) and len(set(seen)) == total
    assert q.page(run, "captions", page_number=9, page_size=3).empty


def test_sort_and_nulls_last(run):
    df = q.page(run, "captions", sort_by="chair_i", descending=True, page_size=10)
    vals = df["chair_i"].tolist()
    assert vals[:4] == [0.5, 0.5, 0.5, 0.5]
    assert df["chair_i"].isna().tolist()[-2:] == [True, True]


@pytest.mark.parametrize("bad", ["chair_i; DROP TABLE captions", "caption", "1"])
def test_sort_column_is_whitelisted(run, bad):
    with pytest.raises(ConfigError, match="cannot sort"):
        q.page(run, "captions", sort_by=bad)


def test_bad_paging_arguments(run):
    with pytest.raises(ConfigError):
        q.page(run, "captions", page_size=0)
    with pytest.raises(ConfigError):
        q.page(run, "captions", page_size=q.MAX_PAGE_SIZE + 1)
    with pytest.raises(ConfigError):
        q.page(run, "captions", page_number=-1)
    with pytest.raises(ConfigError, match="unknown table"):
        q.page(run, "objects")


def test_filters_on_captions(run):
    f = q.Filters(sources=("llava",))
    assert q.count_rows(run, "captions", f) == 4
    assert set(q.page(run, "captions", q.Filters(classes=("cat",)))["caption_id"]) == {
        "coco:2", "llava:1", "llava:2", "sharegpt4v:3"}
    assert q.count_rows(run, "captions", q.Filters(only_hallucinated=True)) == 5
    assert q.count_rows(run, "captions", q.Filters(min_chair_i=0.5)) == 4
    assert q.count_rows(run, "captions", q.Filters(verdicts=("hallucinated",), sources=("coco",))) == 1
    assert q.count_rows(run, "captions", q.Filters(text="COUCH")) == 3  # case-insensitive


def test_filters_on_mentions(run):
    df = q.page(run, "mentions", q.Filters(verdicts=("hallucinated",)), page_size=50)
    assert set(df["verdict"]) == {"hallucinated"} and len(df) == 6
    df = q.page(run, "mentions", q.Filters(classes=("dog",), sources=("llava",)))
    assert set(df["caption_id"]) == {"llava:1", "llava:2"}
    assert q.count_rows(run, "mentions", q.Filters(min_chair_i=0.5, verdicts=("supported",))) == 5
    assert q.count_rows(run, "mentions", q.Filters(text="hot")) == 1


@pytest.mark.parametrize("needle, expected", [
    ("'; DROP TABLE captions; --", {"sharegpt4v:1"}),
    ("' OR '1'='1", set()),
    ("100%", {"llava:1"}),
    ("%", {"llava:1"}),          # a literal percent, not a wildcard
    ("_", {"llava:1", "llava:2", "llava:3"}),  # fun_time, __pwned
    ("e_s", set()),              # a literal underscore, not a wildcard ("image shows")
    ("\\", set()),
    ("<script>", {"llava:2"}),
    ("café", {"sharegpt4v:3"}),
    ('onerror="window', {"llava:3"}),
])
def test_text_search_is_literal_and_injection_safe(run, needle, expected):
    got = set(q.page(run, "captions", q.Filters(text=needle), page_size=50)["caption_id"])
    assert got == expected
    assert q.count_rows(run, "captions") == 10  # the table is still there


def test_injection_in_list_filters_matches_nothing(run):
    evil = ("coco') OR 1=1 --",)
    assert q.count_rows(run, "captions", q.Filters(sources=evil)) == 0
    assert q.count_rows(run, "mentions", q.Filters(classes=evil, verdicts=evil)) == 0


def test_export_csv_respects_filters_cap_and_lists(run):
    data = q.export_csv(run, "captions", q.Filters(sources=("llava",)))
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert [r["caption_id"] for r in rows] == ["llava:1", "llava:2", "llava:3", "llava:4"]
    assert rows[1]["caption"] == "A cat on a couch <script>window.__pwned=1</script> and a dog."
    assert rows[0]["hallucinated"] == "cat|couch"
    capped = q.export_csv(run, "mentions", cap=2).decode().splitlines()
    assert len(capped) == 3  # header + 2
    empty = q.export_csv(run, "captions", q.Filters(text="no such text"))
    assert empty.decode().startswith('"chair_i"') and len(empty.decode().splitlines()) == 1


def test_export_streams_in_batches(run):
    chunks = list(q.iter_csv(run, "mentions", batch_rows=5))
    assert len(chunks) >= 3
    assert chunks[0].startswith(b'"verdict"') and not chunks[1].startswith(b'"verdict"')


def test_image_index_order_and_hallucination_filter(run):
    assert q.image_count(run) == 4
    assert [q.image_at(run, i) for i in range(4)] == ["1", "2", "10", "sam/images/sa_1.jpg"]  # natural order
    assert q.image_at(run, 4) is None
    assert q.image_count(run, only_hallucinated=True) == 3
    assert q.image_position(run, "10") == 2
    assert q.image_position(run, "sam/images/sa_1.jpg", only_hallucinated=True) is None
    assert q.image_position(run, "10' OR '1'='1") is None


def test_image_rows(run):
    caps = q.image_captions(run, "1")
    assert caps["source"].tolist() == ["coco", "llava", "sharegpt4v"]
    ments = q.caption_mentions(run, caps["caption_id"].tolist())
    assert set(ments["caption_id"]) == set(caps["caption_id"])
    objs = q.image_objects(run, "1")
    assert len(objs) == 4 and sorted(objs["origin"].unique()) == ["chair_captions", "detector:gdino", "instances"]
    assert q.image_info(run, "1")["file_name"] == "000000000001.jpg"
    assert q.image_info(run, "nope")["file_name"] is None


def test_overview_aggregates(run):
    m = q.source_metrics(run)
    ci = m[(m.source == "llava") & (m.metric == "chair_i")].iloc[0]
    assert ci["value"] == pytest.approx(4 / 9) and ci["from"] == "summary.json"
    assert ci["ci_low"] <= ci["value"] <= ci["ci_high"]
    # metrics absent from summary.json are recomputed in DuckDB
    comp = m[(m.metric == "mentions_per_caption") & (m.source == "coco")].iloc[0]
    assert comp["from"] == "computed" and comp["value"] == pytest.approx(7 / 3)
    assert q.sources(run) == ["coco", "llava", "sharegpt4v"]
    h = q.length_histogram(run, bins=5)
    assert h["captions"].sum() == 9  # scored captions only
    c = q.class_rates(run, top_k=3)
    assert c["canonical"].nunique() == 3
    assert q.provenance(run)["schema_version"] == 1
    assert "dog" in q.class_names(run)


def test_computed_metrics_match_summary(run):
    comp = q.computed_metrics(run).set_index(["source", "metric"])["value"]
    summ = json.loads((run.path / "summary.json").read_text())["sources"]
    for src, block in summ.items():
        for name in ("chair_i", "chair_s", "coverage", "halluc_per_100w", "n_words_mean"):
            v = block["metrics"][name]["value"]
            if v is not None:
                assert comp[(src, name)] == pytest.approx(v), (src, name)


def test_find_image_tries_coco_names(tmp_path: Path):
    (tmp_path / "val2014").mkdir()
    (tmp_path / "val2014" / "COCO_val2014_000000000042.jpg").write_bytes(b"x")
    (tmp_path / "a.png").write_bytes(b"x")
    assert q.find_image("42", None, [tmp_path]).name == "COCO_val2014_000000000042.jpg"
    assert q.find_image("7", "sub/a.png", [tmp_path / "missing", tmp_path]).name == "a.png"
    assert q.find_image("43", None, [tmp_path]) is None


def test_baseline_deltas_and_changed_captions(run, base):
    d = q.metric_deltas(run, base)
    row = d[(d.source == "llava") & (d.metric == "chair_i")].iloc[0]
    assert row["base_value"] == pytest.approx(2 / 7) and row["value"] == pytest.approx(4 / 9)
    # a paired 95% interval on a handful of images holds 0: no verdict of better/worse
    assert row["ci_low"] <= row["delta"] <= row["ci_high"] and row["ci_low"] <= 0 <= row["ci_high"]
    assert row["change"] == "no clear difference"
    assert q.changed_captions_count(run, base) == 1  # llava:1; sharegpt4v:3 has no match
    ch = q.changed_captions(run, base)
    assert ch["caption_id"].tolist() == ["llava:1"]
    assert ch["newly_hallucinated"].iloc[0] == "cat, couch"
    assert q.changed_captions_count(run, run) == 0


def test_find_image_never_leaves_the_image_folder(tmp_path: Path):
    """file_name comes from the run: '..', absolute paths and symlinks out are refused (issue #14)."""
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"x")
    (images / "inside.png").write_bytes(b"x")
    (images / "link_out.png").symlink_to(secret)
    (images / "link_in.png").symlink_to(images / "inside.png")
    (images / "dir_out").symlink_to(tmp_path)
    for name in ("../secret.png", str(secret), "link_out.png", "sub/../../secret.png", "dir_out/secret.png",
                 "a\x00b.png", "x" * 5000):
        assert q.find_image("nonnumeric", name, [images]) is None, name
    assert q.find_image("n", "inside.png", [images]) == (images / "inside.png").resolve()
    assert q.find_image("n", "link_in.png", [images]) == (images / "inside.png").resolve()
    assert q.find_image("n", "sub/../inside.png", [images]) == (images / "inside.png").resolve()


def test_baseline_matches_on_source_image_and_order_not_caption_id(run, tmp_path: Path):
    """Two decodings on the same images have different caption ids: pairs come from
    (source, image, order within the image), so changed captions are found (issue #13)."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    other = tmp_path / "other"
    shutil.copytree(run.path, other)
    cp = other / "captions.parquet"
    t = pq.read_table(cp)
    df = t.to_pandas()
    df["caption_id"] = "beam-" + df["caption_id"]
    df["hallucinated"] = [[] for _ in range(len(df))]
    pq.write_table(pa.Table.from_pandas(df, schema=t.schema, preserve_index=False), cp)
    base = q.open_run(other)
    m = q.caption_matching(run, base)
    assert m["pairs"] == len(df) and m["same_id"] == 0 and m["run_only"] == m["base_only"] == 0
    n_h = int((q.page(run, "captions", q.Filters(only_hallucinated=True), page_size=500)).shape[0])
    assert n_h > 0 and q.changed_captions_count(run, base) == n_h
    ch = q.changed_captions(run, base)
    assert (ch["base_caption_id"] == "beam-" + ch["caption_id"]).all()

"""The whole audit on real data from ../shared/data (skipped where absent)."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest

from caption_audit.pipeline import AuditConfig, InputSpec, audit
from caption_audit.store import RunFolder
from caption_audit.store.writer import SCHEMA_VERSION, SCHEMAS
from tests.conftest import shared


@pytest.fixture(scope="module")
def llava_bench(tmp_path_factory):
    caps_boxes = shared("llava", "caps_boxes_coco2014_val_80.jsonl")
    answers = shared("llava", "qa90_gpt4_answer.jsonl")
    out = tmp_path_factory.mktemp("llava") / "run"
    audit(AuditConfig(inputs=[InputSpec(caps_boxes, "both", source="coco"), InputSpec(answers, "captions", source="llava")],
                      out=out, progress=False, n_resamples=200))
    return RunFolder(out)


def test_llava_bench_every_caption_is_in_the_output(llava_bench):
    caps = llava_bench.captions()
    assert Counter(caps["source"]) == {"coco": 401, "llava": 30}
    assert (caps["status"] == "scored").all()
    assert caps["caption_id"].is_unique
    counts = llava_bench.summary["counts"]
    assert counts == {**counts, "input": 431, "scored": 431, "skipped": 0, "gt_images": 80}


def test_llava_bench_tables_follow_the_schema(llava_bench):
    for name, schema in SCHEMAS.items():
        table = pd.read_parquet(llava_bench.path / f"{name}.parquet")
        assert list(table.columns) == schema.names, name
    objects = llava_bench.objects()
    assert len(objects) == 476 and objects["normalized"].all()
    assert set(llava_bench.images()["image_id"]) >= set(llava_bench.captions()["image_id"])


def test_llava_bench_verdicts(llava_bench):
    caps = llava_bench.captions().set_index("caption_id")
    # GPT-4 saw the boxes: the suitcase description of image 441147 is fully supported
    row = caps.loc["qa90_gpt4_answer:1"]
    assert row["image_id"] == "441147" and list(row["mentioned"]) == ["suitcase"] and list(row["hallucinated"]) == []
    assert row["coverage"] == 1.0
    # every hallucinated mention names a class absent from the image's instances
    ments = llava_bench.mentions()
    objects = llava_bench.objects().groupby("image_id")["category"].agg(set)
    for _, m in ments[ments["verdict"] == "hallucinated"].iterrows():
        assert m["canonical"] not in objects.get(m["image_id"], set())
    for _, m in ments[(ments["verdict"] == "supported")].iterrows():
        assert m["canonical"] in objects[m["image_id"]]


def test_llava_bench_summary_metrics(llava_bench):
    s = llava_bench.summary
    assert s["gt_mode"] == "instances" and s["schema_version"] == SCHEMA_VERSION
    assert "core_web_sm" in s["text"]["spacy_model"] and s["text"]["spacy_model_version"].startswith("3.")
    assert s["text"]["vocab_hash"].startswith("sha256:")
    for source in ("coco", "llava"):
        metrics = s["sources"][source]["metrics"]
        for name in ("chair_i", "chair_s", "coverage", "halluc_per_100w"):
            m = metrics[name]
            assert m["ci_low"] <= m["value"] <= m["ci_high"], (source, name, m)
    # GPT-4 wrote from the boxes, so it covers far more of the annotated objects than one COCO caption
    assert s["sources"]["llava"]["metrics"]["coverage"]["value"] > s["sources"]["coco"]["metrics"]["coverage"]["value"] + 0.3
    assert s["sources"]["llava"]["metrics"]["n_words_mean"]["value"] > 5 * s["sources"]["coco"]["metrics"]["n_words_mean"]["value"]
    assert s["metrics"]["chair_i"]["higher_is_better"] is False and s["metrics"]["coverage"]["higher_is_better"] is True


def test_llava_bench_class_table(llava_bench):
    classes = llava_bench.classes()
    row = classes[(classes["source"] == "coco") & (classes["canonical"] == "dining table")].iloc[0]
    assert row["n_hallucinated"] > 0 and row["n_mentions"] >= row["n_hallucinated"]
    assert ((classes["hallucination_rate"].fillna(0) >= 0) & (classes["hallucination_rate"].fillna(0) <= 1)).all()


def test_chair_mode_reproduces_chair_worked_examples(tmp_path):
    """CHAIR's two worked examples (Maxlinn/CHAIR-metric-standalone) with CHAIR's own object table."""
    inputs = shared("chair_standalone", "example_inputs.jsonl")
    table = shared("chair_standalone", "chair_imid_to_objects.json")
    expected = json.loads(shared("chair_standalone", "outputs.json").read_text())
    out = audit(AuditConfig(inputs=[InputSpec(inputs, "captions"), InputSpec(table, "ground_truth")],
                            out=tmp_path / "run", gt_mode="chair", progress=False, n_resamples=100))
    run = RunFolder(out)
    caps = run.captions().set_index("image_id")
    ments = run.mentions()
    for sent in expected["sentences"]:
        image_id = str(sent["image_id"])
        row = caps.loc[image_id]
        ours = ments[(ments["image_id"] == image_id) & (ments["vocab"] == "coco80")]
        assert Counter(ours["canonical"]) == Counter(sent["mscoco_generated_words"])
        assert sorted(row["hallucinated"]) == sorted(sent["mscoco_hallucinated_words"])
        assert sorted(row["gt_objects"]) == sorted(sent["mscoco_gt_words"])
        assert row["chair_i"] == pytest.approx(sent["metrics"]["CHAIRi"])
        assert float(bool(row["has_hallucination"])) == sent["metrics"]["CHAIRs"]
        assert row["coverage"] == pytest.approx(sent["metrics"]["Recall"])
    overall = expected["overall_metrics"]
    metrics = run.summary["sources"]["example_inputs"]["metrics"]
    assert metrics["chair_s"]["value"] == pytest.approx(overall["CHAIRs"])
    assert metrics["chair_i"]["value"] == pytest.approx(overall["CHAIRi"])
    assert metrics["coverage"]["value"] == pytest.approx(overall["Recall"])


def test_chair_mode_makes_reference_captions_hallucination_free(tmp_path):
    caps_boxes = shared("llava", "caps_boxes_coco2014_val_80.jsonl")
    out = audit(AuditConfig(inputs=[InputSpec(caps_boxes, "both", source="coco")], out=tmp_path / "run",
                            gt_mode="chair", progress=False, n_resamples=100))
    s = RunFolder(out).summary
    assert s["gt_mode"] == "chair"
    assert s["sources"]["coco"]["metrics"]["chair_i"]["value"] == 0.0


def test_coco_mini_official_files(tmp_path):
    caps = shared("coco_mini", "annotations", "captions_train2017.json")
    inst = shared("coco_mini", "annotations", "instances_train2017.json")
    out = audit(AuditConfig(inputs=[InputSpec(caps, "captions"), InputSpec(inst, "ground_truth")],
                            out=tmp_path / "run", progress=False, n_resamples=100))
    run = RunFolder(out)
    assert run.summary["counts"]["input"] == 400 and run.summary["counts"]["scored"] == 400
    images = run.images()
    assert images["file_name"].str.endswith(".jpg").all() and images["width"].notna().all()
    objects = run.objects()
    assert len(objects) == 739 and not objects["normalized"].any()
    assert objects["bbox"].map(lambda b: b[2] > b[0] and b[3] > b[1]).all()  # xyxy pixels


def test_audit_leaves_its_config_unchanged_and_the_config_is_frozen(tmp_path):
    """Run settings are one frozen value: audit() derives what it needs (the detector's engine and
    workers) without writing to the caller's config, and a config cannot be changed in place."""
    import copy
    import dataclasses

    from caption_audit.demo import data_dir
    from caption_audit.detect_stage import DetectorSettings
    from caption_audit.semantic.settings import SemanticSettings

    d = data_dir()
    cfg = AuditConfig(
        inputs=[InputSpec(d / "coco_captions.json", "captions", "coco_captions", "coco"),
                InputSpec(d / "instances.json", "ground_truth", "coco_instances")],
        out=tmp_path / "run", progress=False, workers=2, images_dir=d / "images",
        detector=DetectorSettings(name="annotations", images_dir=d / "images", cache_dir=tmp_path / "cache"))
    before = copy.deepcopy(cfg)
    audit(cfg)
    assert cfg == before and cfg.detector.workers == 1 and cfg.detector.engine == "local"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["detector"]["name"] == "annotations"
    # a mapping from the CLI/config layer is converted once; derive changed settings with replace()
    derived = dataclasses.replace(cfg, semantic={"threshold": 0.99})
    assert derived.semantic == SemanticSettings(threshold=0.99) and isinstance(derived.inputs, tuple)
    assert cfg.semantic is None
    for obj, name in ((cfg, "workers"), (cfg.detector, "workers"), (cfg.inputs[0], "role"),
                      (derived.semantic, "threshold")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, name, 3)


def test_progress_bar_ends_at_its_total() -> None:
    """The caption total is a byte-scan estimate; a finished bar shows done/done, not done/estimate."""
    from caption_audit.pipeline import _Progress

    with _Progress(True) as progress:
        advance = progress.task("parse + score", 1000)
        advance(998, "")
        tasks = progress._p.tasks
    assert tasks[0].total == tasks[0].completed == 998


@pytest.mark.parametrize("n,size,want", [
    (0, 1000, []), (5, 1000, [5]), (999, 1000, [250, 250, 250, 249]),
    (1014, 1000, [250, 250, 250, 250, 14]), (6000, 1000, [1000] * 5 + [250] * 4),
    (10, 2, [2] * 5), (300, 256, [64, 64, 64, 64, 44]),
])
def test_batches_cut_the_tail_in_pieces(n, size, want):
    """Batches keep input order and ``size``; the last full batch and the rest are cut in
    quarters (so no worker scores a whole batch alone at the end), unless a quarter would be
    under MIN_TAIL_PIECE captions."""
    from caption_audit.pipeline import _batches

    got = list(_batches(iter(range(n)), size))
    assert [len(b) for b in got] == want
    assert [c for b in got for c in b] == list(range(n))


def _reads(monkeypatch):
    """Count the runs' passes over their captions files (pipeline._iter_captions calls)."""
    import caption_audit.pipeline as pipeline

    calls = []
    real = pipeline._iter_captions

    def counted(specs, *args):
        calls.append([s.path for s in specs])
        return real(specs, *args)

    monkeypatch.setattr(pipeline, "_iter_captions", counted)
    return calls


def test_reference_pass_skips_files_without_reference_captions(tmp_path, monkeypatch):
    """A run whose files can hold no caption of the reference source (here one ShareGPT4V file,
    reference source coco) reads them once, and writes what reading them twice writes."""
    import caption_audit.ingest.naming as naming

    data = "tests/data/ingest/"
    inputs = [InputSpec(data + "sharegpt4v_instruct_gpt4-vision_cap100k_sample.json", "captions"),
              InputSpec(data + "imid_to_objects_sample.json", "ground_truth")]
    calls = _reads(monkeypatch)
    skipped = audit(AuditConfig(inputs=inputs, out=tmp_path / "skipped", gt_mode="chair", progress=False,
                                n_resamples=50))
    assert len(calls) == 1  # the scoring pass only
    monkeypatch.setattr(naming, "fixed_source", lambda fmt, source: None)  # as if records named their own
    read = audit(AuditConfig(inputs=inputs, out=tmp_path / "read", gt_mode="chair", progress=False,
                             n_resamples=50))
    assert len(calls) == 3  # reference pass + scoring pass
    a, b = RunFolder(skipped), RunFolder(read)
    for table in ("captions", "mentions", "claims"):
        pd.testing.assert_frame_equal(getattr(a, table)(), getattr(b, table)())
    drop = ("created", "run")
    assert {k: v for k, v in a.summary.items() if k not in drop} == {k: v for k, v in b.summary.items() if k not in drop}
    assert any("no reference captions of source 'coco'" in w for w in a.summary["warnings"])


def test_reference_pass_reads_files_that_may_hold_reference_captions(tmp_path, monkeypatch):
    data = "tests/data/ingest/"
    calls = _reads(monkeypatch)
    audit(AuditConfig(inputs=[InputSpec(data + "sharegpt4v_instruct_gpt4-vision_cap100k_sample.json", "captions"),
                              InputSpec(data + "captions_val2017_sample.json", "captions"),
                              InputSpec(data + "imid_to_objects_sample.json", "ground_truth")],
                      out=tmp_path / "run", gt_mode="chair", progress=False, n_resamples=50))
    assert len(calls) == 2

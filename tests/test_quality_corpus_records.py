"""The corpus pass fed from pool workers: ``prepare`` (per batch, in a worker) + ``absorb`` (in
batch order, in the parent) is ``add_batch``, and a ``--workers 2`` run builds the same corpus as a
one-process run without reading the captions back."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from caption_audit.quality.checks import CaptionBatch, check_batch
from caption_audit.quality.corpus import CorpusAccumulator, CorpusRecorder
from caption_audit.text.checks import text_problem
from tests.conftest import shared

OPENERS = ["The image features", "In the image, there is", "This image shows"]
BODIES = ["a red double-decker bus driving down a busy street", "a man riding a wave on top of a surfboard",
          "two cats sleeping on a couch next to a remote control", "a pizza with cheese on a wooden table",
          "a young girl holding an umbrella in the rain", "a kitchen with a white sink and a window"]
CLOSERS = ["Overall, the scene captures a lively atmosphere.", "The scene is peaceful.", ""]


def _captions(n: int) -> tuple[list[str | None], list[str], list[str], list[str]]:
    """Realistic LVLM / COCO-style captions: openers and closers repeated (boilerplate), exact and
    near duplicates across images, one- and multi-sentence captions, empty, unusable and missing
    texts, three sources interleaved."""
    texts: list[str | None] = []
    for i in range(n):
        body = BODIES[i % len(BODIES)]
        if i % 11 == 0:
            texts.append("")
        elif i % 13 == 0:
            texts.append(None)
        elif i % 17 == 0:
            texts.append("... !!! ...")
        elif i % 5 == 0:
            texts.append(f"A {body.split(' ', 1)[1]}")  # COCO-style, one sentence: exact duplicates
        elif i % 7 == 0:  # near duplicate: one word changed at the end
            texts.append(f"{OPENERS[0]} {body} and a small dog near it. It is sunny today outside")
        else:
            texts.append(f"{OPENERS[i % 3]} {body} number {i % 40}. {CLOSERS[i % 3]}".strip())
    sources = [("coco", "llava", "minigpt4")[i % 3] for i in range(n)]
    image_ids = [str(i // 2) for i in range(n)]
    caption_ids = [f"c{i}" for i in range(n)]
    return texts, sources, image_ids, caption_ids


def _same(a: CorpusAccumulator, b: CorpusAccumulator) -> None:
    for keeper in ("_cap_texts", "_sent_texts", "_prefix_texts"):
        assert getattr(a, keeper).texts == getattr(b, keeper).texts, keeper
    ra, rb = a.finish(), b.finish()
    assert ra.captions.equals(rb.captions)
    assert ra.reused.equals(rb.reused) and ra.openers.equals(rb.openers)
    assert ra.n_captions == rb.n_captions


@pytest.mark.parametrize("cap", [3, 10_000])  # the text keepers' cap reached, and not
def test_prepare_then_absorb_is_add_batch(cap: int) -> None:
    texts, sources, image_ids, caption_ids = _captions(1500)
    cfg = {"max_kept_texts": cap}
    direct, split = CorpusAccumulator(cfg), CorpusAccumulator(cfg)
    records = []
    for lo in range(0, len(texts), 97):  # batches that do not align with the MinHash chunks
        hi = lo + 97
        args = (sources[lo:hi], image_ids[lo:hi], caption_ids[lo:hi])
        direct.add_batch(*args, texts[lo:hi])
        records.append(split.prepare(*args, CaptionBatch(texts[lo:hi])))
    for rec in records:  # prepared first (as workers do), absorbed afterwards, through pickle
        split.absorb(pickle.loads(pickle.dumps(rec)))
    if cap == 3:
        assert all(len(kept) == 3 for kept in direct._cap_texts.texts.values())
    _same(direct, split)


def test_a_recorder_in_check_batch_gives_what_the_accumulator_gets() -> None:
    """``check_batch`` with a :class:`CorpusRecorder` (a pool worker) prepares the scored captions
    only (skipped ones are left out); absorbing the records in order equals ``check_batch`` with
    the accumulator itself (one process). A batch without scored captions gives no record."""
    texts, sources, image_ids, caption_ids = _captions(600)
    fed, absorbed = CorpusAccumulator(), CorpusAccumulator()
    recorder = CorpusRecorder()
    n_records = 0
    for lo in range(0, len(texts), 50):
        sl = slice(lo, lo + 50)
        problems = [text_problem(t) for t in texts[sl]]
        kw = {"sources": sources[sl], "image_ids": image_ids[sl], "caption_ids": caption_ids[sl]}
        a = check_batch(texts[sl], problems, corpus=fed, **kw)
        b = check_batch(texts[sl], problems, corpus=recorder, **kw)
        assert a.quality_issues == b.quality_issues
        for rec in recorder.take():
            n_records += 1
            absorbed.absorb(rec)
    assert n_records == 12
    check_batch(["", None], ["empty caption", "empty caption"], corpus=recorder, sources=["s", "s"],
                image_ids=["1", "2"], caption_ids=["x", "y"])
    assert recorder.take() == []
    assert len(fed._ids) < len(texts)  # some captions were skipped
    _same(fed, absorbed)


def test_prepare_then_absorb_on_opera_captions() -> None:
    """Real LVLM captions (long, multi-sentence, boilerplate openers) of several models as
    sources, interleaved, in batches."""
    rows = []
    for model in ("instructblip", "llava-1.5", "minigpt4"):
        path = shared("opera", "chair_eval_results", model, "greedy.jsonl")
        rows += [(model, json.loads(line)) for line in path.read_text().splitlines()[:400]]
    rows = rows[::2] + rows[1::2]
    direct, split = CorpusAccumulator(), CorpusAccumulator()
    for lo in range(0, len(rows), 256):
        part = rows[lo:lo + 256]
        args = ([m for m, _ in part], [r["image_id"] for _, r in part], [f"{m}/{k + lo}" for k, (m, _) in enumerate(part)])
        direct.add_batch(*args, [r["caption"] for _, r in part])
        split.absorb(pickle.loads(pickle.dumps(split.prepare(*args, CaptionBatch([r["caption"] for _, r in part])))))
    _same(direct, split)


def test_two_workers_feed_the_corpus_without_reading_captions_back(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from caption_audit.cli import build_parser
    from caption_audit.commands.run import config_from_args
    from caption_audit.pipeline import audit
    from caption_audit.quality import run as quality_run
    from tests._scale_data import assert_same_run, read_run, write_inputs

    caps, objs = write_inputs(tmp_path / "in", n_images=60, per_image=4)

    def run(out: Path, workers: str) -> Path:
        argv = ["run", "--captions", str(caps), "--objects", str(objs), "--out", str(out), "--batch-size", "30",
                "--bootstrap", "50", "--quiet", "--no-resume", "--workers", workers]
        return audit(config_from_args(build_parser().parse_args(argv)))

    one = run(tmp_path / "w1", "1")

    def read_back(*_: object) -> None:
        raise AssertionError("the quality pass read the captions back")

    monkeypatch.setattr(quality_run, "_corpus", read_back)
    two = run(tmp_path / "w2", "2")
    assert_same_run(one, two)
    q1, q2 = read_run(one)["summary"]["quality"], read_run(two)["summary"]["quality"]
    assert q1 == q2
    block = q1["sources"]["preds"]
    assert block["flag_counts"]["near_duplicate"] > 0 and block["openers"]["prefix"]  # not an empty corpus


def test_records_prepared_under_another_hash_salt_absorb_the_same(tmp_path: Path) -> None:
    """A record's hashes do not depend on the process (Python's ``hash()`` is salted per process):
    records prepared in a child with another ``PYTHONHASHSEED`` (as a Ray actor is) and absorbed
    here give what ``add_batch`` gives here."""
    import os
    import subprocess
    import sys

    texts, sources, image_ids, caption_ids = _captions(300)
    args = json.dumps([texts, sources, image_ids, caption_ids])
    (tmp_path / "in.json").write_text(args)
    code = ("import json, pickle, sys\n"
            "from caption_audit.quality.corpus import CorpusRecorder\n"
            "texts, sources, image_ids, caption_ids = json.load(open(sys.argv[1]))\n"
            "rec = CorpusRecorder()\n"
            "for lo in range(0, len(texts), 64):\n"
            "    s = slice(lo, lo + 64)\n"
            "    rec.add_batch(sources[s], image_ids[s], caption_ids[s], texts[s])\n"
            "open(sys.argv[2], 'wb').write(pickle.dumps(rec.take()))\n")
    records = []
    for seed in ("1", "2"):
        out = tmp_path / f"rec{seed}.pkl"
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "in.json"), str(out)], check=True, env=env)
        records.append(pickle.loads(out.read_bytes()))
    for a, b in zip(*records, strict=True):  # the same bytes under both salts
        assert pickle.dumps(a) == pickle.dumps(b)
    direct, absorbed = CorpusAccumulator(), CorpusAccumulator()
    for lo in range(0, len(texts), 64):
        s = slice(lo, lo + 64)
        direct.add_batch(sources[s], image_ids[s], caption_ids[s], texts[s])
    for rec in records[0]:
        absorbed.absorb(rec)
    _same(direct, absorbed)

"""Corpus-level quality (caption_audit/quality/corpus.py): exact and near duplicates across
images, boilerplate openers/closers, top lists, and the OPERA openers."""

from __future__ import annotations

import collections
import json
import re

import pytest

from caption_audit.quality.checks import CaptionText
from caption_audit.quality.corpus import CorpusAccumulator
from tests.conftest import shared

LONG = ("The image features a large brown dog lying on a wooden floor next to a red ball, with a "
        "window and a potted plant in the background.")


def _run(rows):
    acc = CorpusAccumulator()
    for src, img, cid, text in rows:
        acc.add(src, img, cid, text)
    res = acc.finish()
    return res, res.captions.set_index("caption_id")


def test_exact_duplicates_across_images():
    res, c = _run([
        ("s", "1", "a", "A bathroom with a toilet and a sink."),
        ("s", "2", "b", "a bathroom with a toilet and a sink"),  # same normalised text
        ("s", "3", "c", "A BATHROOM, with a toilet and a sink!"),
        ("s", "4", "d", "A kitchen with a stove."),
        ("t", "5", "e", "A bathroom with a toilet and a sink."),  # other source: not counted
    ])
    assert c.loc["a", "dup_group_size"] == 3 and c.loc["a", "dup_images"] == 3
    assert "duplicate" in c.loc["b", "corpus_issues"]
    assert c.loc["d", "corpus_issues"] == [] and c.loc["e", "dup_images"] == 1
    top = res.reused[res.reused.source == "s"].iloc[0]
    assert top.n_images == 3 and top.n_captions == 3
    assert top.text.lower().startswith("a bathroom")


def test_same_image_twice_is_not_a_duplicate():
    _, c = _run([("s", "1", "a", "A dog on a bed."), ("s", "1", "b", "A dog on a bed.")])
    assert c.loc["a", "dup_group_size"] == 2 and c.loc["a", "dup_images"] == 1
    assert c.loc["a", "corpus_issues"] == []


@pytest.mark.parametrize("variant, near", [
    (LONG.replace("brown", "black"), True),  # one word changed
    (LONG.replace("red ball", "blue ball"), True),
    (LONG.replace(" in the background", ""), True),  # a phrase dropped
    ("A city street at night with cars, buses and many people walking on the wet sidewalk "
     "under bright neon signs.", False),
    ("The image features a large brown cat sitting on a sofa next to a lamp, with a television "
     "and a bookshelf behind it.", False),  # same template, other content
])
def test_near_duplicates(variant, near):
    _, c = _run([("s", "1", "a", LONG), ("s", "2", "b", variant)])
    assert (c.loc["b", "near_dup_of"] == "a") is near
    assert ("near_duplicate" in c.loc["a", "corpus_issues"]) is near
    if near:
        assert c.loc["a", "near_dup_images"] == 2


def test_near_duplicates_need_other_images_same_source_and_length():
    _, c = _run([
        ("s", "1", "a", LONG), ("s", "1", "b", LONG.replace("brown", "black")),  # same image
        ("t", "2", "c", LONG.replace("brown", "white")),  # other source
        ("s", "3", "d", "A dog on a red bed."), ("s", "4", "e", "A dog on a blue bed."),  # short
    ])
    assert c["near_dup_of"].isna().all()


def test_boilerplate_closers_and_openers():
    rows = []
    subjects = ["dog", "cat", "horse", "bird", "car", "bus", "tree", "boat", "kite", "train"]
    for i, s in enumerate(subjects):
        rows.append(("s", str(i), f"c{i}", f"The image features a {s} in the middle of a large field "
                     f"number {i}. Overall, the image captures a peaceful and serene scene."))
    rows.append(("s", "99", "x", "A kitchen with a stove. Two pots are on the stove."))
    res, c = _run(rows)
    assert c.loc["c0", "boilerplate_share"] == pytest.approx(10 / 25, abs=0.01)
    assert c.loc["x", "boilerplate_share"] == 0
    o = res.openers
    closer = o[(o.position == "last") & (o.kind == "sentence")].iloc[0]
    assert closer.text == "Overall, the image captures a peaceful and serene scene."
    assert closer["count"] == 10 and closer.boilerplate and closer.share == pytest.approx(10 / 11)
    opener = o[(o.position == "first") & (o.kind == "prefix")].iloc[0]
    assert opener.text == "the image features" and opener["count"] == 10


def test_boilerplate_flag_when_most_words_are_boilerplate():
    rows = [("s", str(i), f"c{i}", f"This is a photo. It shows object {i}. Enjoy the view.") for i in range(8)]
    _, c = _run(rows)
    assert c.loc["c0", "boilerplate_share"] >= 0.5
    assert "boilerplate" in c.loc["c0", "corpus_issues"]


def test_empty_and_caption_text_input():
    acc = CorpusAccumulator()
    acc.add("s", 1, "a", "")
    acc.add("s", 2, "b", None)
    acc.add("s", 3, "c", CaptionText(LONG))
    acc.add("s", 4, "d", LONG)
    c = acc.finish().captions.set_index("caption_id")
    assert c.loc["a", "dup_images"] == 1 and c.loc["a", "corpus_issues"] == []  # empties are not duplicates
    assert c.loc["a", "boilerplate_share"] is None or str(c.loc["a", "boilerplate_share"]) == "<NA>"
    assert c.loc["c", "dup_images"] == 2


def test_no_texts_kept_for_unique_captions():
    # memory bound: hashes only; a text is kept only once its hash is seen a second time
    acc = CorpusAccumulator()
    for i in range(3000):
        acc.add("s", str(i), str(i), f"A photo of object number {i} with a unique word w{i}x.")
    assert sum(len(d) for d in acc._cap_texts.texts.values()) <= 3
    assert len(acc.finish().captions) == 3000


def test_chunks_flush_consistently():
    # captions split over several numpy batches must compare like captions in one batch
    rows = [("s", str(i), f"c{i}", f"{LONG} Item {i % 50}.") for i in range(4500)]
    _, c = _run(rows)
    assert (c["dup_images"] == 90).all()  # 4500 / 50 texts, each on 90 images


def test_finish_release_frees_the_captions_and_keeps_the_result():
    """``finish(release=True)`` (the run's quality pass, issue #15) returns what ``finish()`` does
    and then holds no caption: its per-caption arrays are freed before the captions pass. The
    caption ids (kept as UTF-8 bytes, not str objects) come back as the same strings."""
    rows = [("s", str(i % 7), f"c{i}-\u00e9", f"{LONG} Item {i % 5}.") for i in range(300)]
    results = []
    for release in (False, True):
        acc = CorpusAccumulator()
        acc.add_batch(*map(list, zip(*rows, strict=True)))
        results.append(acc.finish(release=release))
        held = (len(acc._ids), len(acc._hash), len(acc._bands), len(acc._sig))
        assert held == ((0, 0, 0, 0) if release else (300, 300, 300 * acc.bands, 300 * acc.k))
    kept, freed = results
    assert kept.captions.equals(freed.captions) and kept.reused.equals(freed.reused)
    assert kept.openers.equals(freed.openers) and kept.n_captions == freed.n_captions
    assert kept.captions["caption_id"].tolist() == [r[2] for r in rows]
    near = kept.captions["near_dup_of"].dropna()
    assert len(near) and near.isin(kept.captions["caption_id"]).all()


# -- real data: OPERA openers and loops ------------------------------------------------------

def _opera(model, decoding):
    path = shared("opera", "chair_eval_results", model, f"{decoding}.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("model, decoding, opener, min_share", [
    ("instructblip", "greedy", "the image features", 0.9),
    ("llava-1.5", "greedy", "the image features", 0.7),
    ("minigpt4", "greedy", "this image shows", 0.7),
    ("minigpt4", "beam5", "this image shows", 0.6),
    ("shikra", "greedy", "the image features", 0.6),
])
def test_opera_most_common_opener_matches_a_grep(model, decoding, opener, min_share):
    rows = _opera(model, decoding)
    acc = CorpusAccumulator()
    for i, r in enumerate(rows):
        acc.add(f"{model}/{decoding}", r["image_id"], str(i), r["caption"])
    res = acc.finish()
    top = res.openers[(res.openers.position == "first") & (res.openers.kind == "prefix")].iloc[0]
    # independent count: first three words, as a grep would see them
    grep = collections.Counter(" ".join(re.findall(r"\w+", r["caption"].lower())[:3]) for r in rows)
    word, count = grep.most_common(1)[0]
    assert top.text == word == opener
    assert top["count"] == count and top.share >= min_share
    assert res.captions["corpus_issues"].map(len).sum() < len(rows) * 0.05  # LVLM captions are rarely reused


def test_coco_reused_captions():
    data = json.loads(shared("coco_val2017_captions", "captions_val2017.json").read_text())
    acc = CorpusAccumulator()
    for a in data["annotations"][:10000]:
        acc.add("coco", a["image_id"], str(a["id"]), a["caption"])
    res = acc.finish()
    images, captions = collections.defaultdict(set), collections.Counter()
    for a in data["annotations"][:10000]:
        key = " ".join(re.findall(r"[^\W_]+(?:['’][^\W_]+)*", a["caption"].lower()))
        images[key].add(a["image_id"])
        captions[key] += 1
    assert res.reused.iloc[0].n_images == max(len(v) for v in images.values())
    dup = res.captions["corpus_issues"].map(lambda x: "duplicate" in x).sum()
    assert dup == sum(captions[k] for k, v in images.items() if len(v) > 1)


def _minhash_reference(shingles, owner, n, k):
    """One-permutation MinHash with densification done bin by bin (the plain definition)."""
    from caption_audit.quality.corpus import _mix64

    h = _mix64(shingles)
    bits = k.bit_length() - 1
    sig = [[None] * k for _ in range(n)]
    for hv, o in zip(h.tolist(), owner.tolist(), strict=True):
        b, v = hv >> (64 - bits), hv & 0xFFFFFFFF
        if sig[o][b] is None or v < sig[o][b]:
            sig[o][b] = v
    out = []
    for row in sig:
        if all(v is None for v in row):
            out.append([0] * k)
            continue
        dense = []
        for j in range(k):
            d = 0
            while row[(j + d) % k] is None:
                d += 1
            dense.append(row[(j + d) % k] + d * (1 << 32))
        out.append(dense)
    return out


def test_minhash_densification_matches_the_definition():
    import numpy as np

    from caption_audit.quality.corpus import _one_permutation_minhash

    rng = np.random.default_rng(3)
    lens = rng.integers(0, 40, 300)  # empty rows, rows with a few shingles (many empty bins), full rows
    owner = np.repeat(np.arange(300), lens)
    shingles = rng.integers(0, 1 << 62, owner.size).astype(np.uint64)
    got = _one_permutation_minhash(shingles, owner, 300, 64)
    assert got.tolist() == _minhash_reference(shingles, owner, 300, 64)


@pytest.mark.parametrize("n_src, n_keys", [(1, 5), (3, 40), (2, 10_000), (1, 1)])
def test_later_members_match_the_groups(n_src, n_keys):
    """The near-duplicate band pairs (issue #15: one sort, no per-row group arrays) are the rows
    of ``_Groups``' groups of two or more that are not their group's first, with that first row,
    in row order; on random keys with many collisions, one source or several, and none."""
    import numpy as np

    from caption_audit.quality.corpus import _Groups, _later_members

    rng = np.random.default_rng(n_src * 7 + n_keys)
    for n in (0, 1, 2, 500):
        src = rng.integers(0, n_src, n).astype(np.int32)
        key = rng.integers(0, n_keys, n).astype(np.uint64)
        g = _Groups(src, key) if n else None
        if n:
            first = g.first[g.gid]
            keep = (g.size[g.gid] >= 2) & (np.arange(n) != first)
            want = (np.flatnonzero(keep), first[keep])
        else:
            want = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        got = _later_members(src, key)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])

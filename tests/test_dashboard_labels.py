"""Tests for dashboards/labels.py and the claim views: flags written by the dashboard are read
by `caption-audit evaluate --labels`; claims render with their verdict colours and evidence.

Runs are made by the real pipeline from the bundled demo sample (with its images, so the
pixels resolver decides colour claims) and, where present, from shared coco_mini photos.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from caption_audit.errors import ConfigError
from dashboards import labels as lb
from dashboards import queries as q
from dashboards import render as rd
from tests.conftest import SHARED


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    from caption_audit.demo import data_dir
    from caption_audit.pipeline import AuditConfig, InputSpec, audit

    d = data_dir()
    return Path(audit(AuditConfig(inputs=[
        InputSpec(d / "coco_captions.json", "captions", "coco_captions", "coco"),
        InputSpec(d / "instances.json", "ground_truth", "coco_instances"),
        InputSpec(d / "llava_detail.json", "captions", "llava_conversations", "llava"),
    ], out=tmp_path_factory.mktemp("demo") / "run", n_resamples=50, progress=False, images_dir=d / "images")))


@pytest.mark.parametrize("verdict,flag,label", [
    ("contradicted", "verdict_wrong", True),
    ("contradicted", "verdict_right", False),
    ("supported", "verdict_wrong", False),
    ("supported", "verdict_right", True),
    ("hallucinated", "verdict_wrong", True),
    ("unverifiable", "claim_true", True),
    ("unsupported_by_refs", "claim_false", False),
])
def test_claim_label_says_whether_the_claim_is_true(verdict, flag, label):
    assert lb.claim_label(verdict, flag) is label


def test_no_side_verdict_needs_a_direct_answer():
    with pytest.raises(ConfigError, match="takes no side"):
        lb.claim_label("unverifiable", "verdict_wrong")
    with pytest.raises(ConfigError, match="unknown flag"):
        lb.claim_label("supported", "maybe")


def test_flags_are_read_by_evaluate(demo, capsys):
    """Flag a contradicted claim as wrong, a supported one as right and a mention as wrong;
    `caption-audit evaluate RUN --labels RUN/labels.jsonl` reads exactly those labels."""
    from caption_audit.cli import main

    run = q.open_run(demo)
    claims = run.cursor().execute("SELECT * FROM claims ORDER BY caption_id, idx").df().to_dict("records")
    contra = next(c for c in claims if c["verdict"] == "contradicted")
    sup = next(c for c in claims if c["verdict"] == "supported" and c["kind"] == "colour") \
        if any(c["verdict"] == "supported" and c["kind"] == "colour" for c in claims) \
        else next(c for c in claims if c["verdict"] == "supported")
    ment = run.cursor().execute("SELECT * FROM mentions WHERE verdict = 'hallucinated' LIMIT 1").df().to_dict("records")[0]
    for rec in (lb.label_record(contra, "verdict_wrong"), lb.label_record(sup, "verdict_right"),
                lb.label_record(lb.mention_as_claim(ment), "verdict_wrong")):
        lb.append_label(demo, rec)
    path = demo / lb.LABELS_FILE
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["label"] for r in rows] == [True, True, True]
    from caption_audit.semantic.evaluate_claims import evaluate_claims, load_claim_labels

    loaded = load_claim_labels(path)
    assert [(r["caption_id"], r["kind"]) for r in loaded] == [
        (contra["caption_id"], contra["kind"]), (sup["caption_id"], sup["kind"]),
        (ment["caption_id"], "object" if ment["vocab"] == "coco80" else "open_object")]
    res = evaluate_claims(demo, path)
    assert res["all"]["found"] == 3  # every flag matched the run claim it was made on
    assert res["all"]["fp"] == 2  # two contradicted verdicts the user says are wrong
    assert main(["evaluate", str(demo), "--labels", str(path)]) == 0
    assert "claim labels: 3" in capsys.readouterr().out
    path.unlink()


def test_append_is_locked_append_only_and_refuses_symlinks(tmp_path):
    rec = {"caption_id": "c", "kind": "object", "span": [0, 3], "subject": "dog", "value": "", "label": True}
    threads = [threading.Thread(target=lb.append_label, args=(tmp_path, {**rec, "n": i})) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / lb.LABELS_FILE).read_text().splitlines()
    assert sorted(json.loads(x)["n"] for x in lines) == list(range(40))
    other = tmp_path / "elsewhere.txt"
    other.write_text("keep\n")
    link_dir = tmp_path / "linked"
    link_dir.mkdir()
    (link_dir / lb.LABELS_FILE).symlink_to(other)
    with pytest.raises(ConfigError, match="not a regular file"):
        lb.append_label(link_dir, rec)
    assert other.read_text() == "keep\n"


def test_demo_claims_render_with_verdicts_evidence_and_swatches(demo):
    run = q.open_run(demo)
    claims = run.cursor().execute("SELECT * FROM claims").df()
    colour = claims[(claims.kind == "colour") & claims.evidence.str.startswith("mask:")].iloc[0].to_dict()
    cap = run.cursor().execute("SELECT caption FROM captions WHERE caption_id = ?", [colour["caption_id"]]).fetchone()[0]
    ments = q.caption_mentions(run, [colour["caption_id"]]).to_dict("records")
    cl = q.caption_claims(run, [colour["caption_id"]]).to_dict("records")
    out = rd.caption_html(cap, ments, cl)
    assert f'data-claim-verdict="{colour["verdict"]}"' in out
    assert rd.html.escape(colour["evidence"], quote=True) in out  # the evidence is the hover
    shares = rd.mask_shares(colour["evidence"])
    assert shares and all(n in rd.SWATCH_HEX for n, _ in shares)
    listing = rd.claims_list_html(cl, verdicts=(colour["verdict"],))
    assert listing.count('class="ca-swatch"') >= len(shares)
    # Explorer: the claims table filters by kind, verdict and text
    f = q.Filters(kinds=("colour",), verdicts=(colour["verdict"],))
    page = q.page(run, "claims", f, page_size=500)
    assert len(page) == q.count_rows(run, "claims", f) > 0
    assert set(page["kind"]) == {"colour"} and list(page.columns[:3]) == ["verdict", "kind", "text"]
    assert q.count_rows(run, "claims", q.Filters(text="mask:")) == int(claims.evidence.str.contains("mask:").sum())


@pytest.mark.skipif(not (SHARED / "coco_mini").is_dir(), reason="shared data coco_mini not present")
def test_coco_mini_claim_metrics_and_contradicted_list(tmp_path):
    """Real photos: the overview's claim metrics match summary.json, every contradicted claim
    is listed under its caption."""
    from tests.dashboard_fixture import audit_coco_mini

    run = q.open_run(audit_coco_mini(tmp_path / "coco"))
    m = q.source_metrics(run)
    for name, _ in q.CLAIM_CARD_METRICS:
        row = m[(m.source == "coco") & (m.metric == name)]
        assert len(row) == 1, name
        assert row["from"].iloc[0] == "summary.json"
    comp = q.computed_metrics(run)
    assert set(n for n, _ in q.CLAIM_CARD_METRICS) <= set(comp["metric"])  # metric SQL covers them
    bad = run.cursor().execute("SELECT caption_id FROM captions WHERE n_contradicted > 0 LIMIT 3").fetchall()
    for (cid,) in bad:
        cl = q.caption_claims(run, [cid]).to_dict("records")
        listing = rd.claims_list_html(cl)
        assert listing.count("<li>") == sum(c["verdict"] == "contradicted" for c in cl) > 0

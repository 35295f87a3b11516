"""Streamlit AppTest tests of dashboards/app.py.

Runs are built by the real pipeline from the files in shared/data (coco_mini: 80 train2017
images with captions, instances and image files, plus three evil captions; llava:
LLaVA-Bench COCO captions vs GPT-4 detail descriptions, almost no image files), and from
the hand-written tiny run (tests/data/dashboard/tiny.json) for exact expected values.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from tests.dashboard_fixture import SHARED_DATA, audit_coco_mini, audit_llava_bench, build_tiny_run

pytest.importorskip("streamlit")
from PIL import Image  # noqa: E402
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboards import render as rd  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")
needs_coco_mini = pytest.mark.skipif(not (SHARED_DATA / "coco_mini" / "train2017").is_dir(),
                                     reason=f"shared data coco_mini not found under {SHARED_DATA} "
                                     "(set CAPTION_AUDIT_SHARED_DATA)")
needs_llava = pytest.mark.skipif(not (SHARED_DATA / "llava" / "qa90_gpt4_answer.jsonl").is_file(),
                                 reason=f"shared data llava/ not found under {SHARED_DATA}")


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return (build_tiny_run(root / "run"),
            build_tiny_run(root / "base", drop=("sharegpt4v:3",),
                           caption_overrides={"llava:1": "The image shows a dog and a frisbee."}))


@pytest.fixture(scope="module")
def coco_run(tmp_path_factory):
    if not (SHARED_DATA / "coco_mini" / "train2017").is_dir():
        pytest.skip(f"shared data coco_mini not found under {SHARED_DATA}")
    return audit_coco_mini(tmp_path_factory.mktemp("coco") / "run")


@pytest.fixture(scope="module")
def llava_run(tmp_path_factory):
    if not (SHARED_DATA / "llava" / "qa90_gpt4_answer.jsonl").is_file():
        pytest.skip(f"shared data llava/ not found under {SHARED_DATA}")
    return audit_llava_bench(tmp_path_factory.mktemp("llava") / "run")


@pytest.fixture
def media(monkeypatch):
    """Record the bytes of every image the app hands to Streamlit's media storage."""
    seen: list[bytes] = []
    orig = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        if isinstance(path_or_data, bytes | bytearray):
            seen.append(bytes(path_or_data))
        return orig(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return seen


def app(monkeypatch, run: Path, *, baseline: Path | None = None, images: Path | None = None,
        page: str | None = None) -> AppTest:
    monkeypatch.setenv("CAPTION_AUDIT_RUN", str(run))
    for var, val in (("CAPTION_AUDIT_BASELINE", baseline), ("CAPTION_AUDIT_IMAGES", images)):
        if val is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, str(val))
    at = AppTest.from_file(APP, default_timeout=60)
    if page:
        at.session_state["page"] = page
    return at.run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def html_bodies(at: AppTest) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def captions_text(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def plain(markdown: str) -> str:
    """What an escaped Markdown string (dashboards.render.md) shows: backslash escapes and
    the invisible word joiners removed."""
    return re.sub(r"\\(.)", r"\1", markdown).replace(rd.WORD_JOINER, "")


def count_color(img: Image.Image, color, tol=40) -> int:
    return sum(1 for p in img.convert("RGB").getdata() if all(abs(a - b) <= tol for a, b in zip(p, color, strict=True)))


# ----------------------------------------------------------------------------- tiny run


def test_missing_and_bad_run_show_errors(monkeypatch, tmp_path):
    monkeypatch.delenv("CAPTION_AUDIT_RUN", raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    no_exception(at)
    assert "No run folder given" in at.error[0].value
    at = app(monkeypatch, tmp_path)
    shown = plain(at.error[0].value)
    assert "captions.parquet" in shown and "missing" in shown


def test_tiny_every_page_renders(monkeypatch, tiny_runs):
    run, base = tiny_runs
    at = app(monkeypatch, run, baseline=base)
    no_exception(at)
    assert [s.value for s in at.subheader][:3] == ["coco", "llava", "sharegpt4v"]
    assert len(at.get("vega_lite_chart")) == 3

    at.sidebar.radio(key="page").set_value("Explorer").run()
    no_exception(at)
    assert "10 captions match" in " ".join(captions_text(at))
    at.text_input(key="f_text").set_value("<script>").run()
    assert at.dataframe[0].value["caption_id"].tolist() == ["llava:2"]
    at.text_input(key="f_text").set_value("").run()
    at.radio(key="ex_table").set_value("mentions").run()
    at.multiselect(key="f_ver").set_value(["hallucinated"]).run()
    no_exception(at)
    df = at.dataframe[0].value
    assert set(df["verdict"]) == {"hallucinated"} and len(df) == 6
    assert list(df.columns[:3]) == ["verdict", "canonical", "text"]
    assert at.get("download_button")
    # a row opens its image in the browser
    at.radio(key="ex_table").set_value("captions").run()
    assert list(at.dataframe[0].value.columns[:3]) == ["chair_i", "n_hallucinated", "hallucinated"]
    first = str(at.dataframe[0].value["image_id"].iloc[0])
    at.button(key="open_captions").click().run()
    no_exception(at)
    assert at.sidebar.radio(key="page").value == "Image browser"
    assert first in " ".join(m.value for m in at.markdown)

    at.sidebar.radio(key="page").set_value("Baseline").run()
    no_exception(at)
    deltas = at.dataframe[0].value
    assert {"source", "metric", "base_value", "value", "delta", "ci_low", "ci_high", "change"} <= set(deltas.columns)
    assert set(deltas["change"]) <= {"better", "worse", "no clear difference", "n/a"}
    assert "Captions whose hallucinated objects changed: 1 of 9" in [s.value for s in at.subheader]
    assert at.dataframe[1].value["caption_id"].tolist() == ["llava:1"]


def test_tiny_baseline_page_without_baseline(monkeypatch, tiny_runs):
    at = app(monkeypatch, tiny_runs[0], page="Baseline")
    no_exception(at)
    assert "--baseline" in at.info[0].value


def test_tiny_evil_captions_are_escaped(monkeypatch, tiny_runs):
    at = app(monkeypatch, tiny_runs[0], page="Image browser")
    no_exception(at)
    at.text_input(key="jump_id").set_value("10").run()  # llava:3 carries the <img onerror> caption
    body = html_bodies(at)
    assert "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in body
    assert "<img" not in body and "onerror=\"" not in body
    at.text_input(key="jump_id").set_value("2").run()
    body = html_bodies(at)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in body
    assert "<script" not in body
    assert 'class="ca-mention ca-hallucinated"' in body
    at.text_input(key="jump_id").set_value("999").run()
    assert "has no captions" in at.warning[0].value


# ----------------------------------------------------------------------------- coco_mini


@needs_coco_mini
def test_coco_mini_overview(monkeypatch, coco_run):
    at = app(monkeypatch, coco_run)
    no_exception(at)
    subs = [s.value for s in at.subheader]
    assert subs[:2] == ["coco", "evil"]
    labels = [m.label for m in at.metric]
    assert labels[:5] == ["CHAIR-i", "CHAIR-s", "coverage", "halluc. per 100 words", "words per caption"]
    assert any(c.startswith("95% CI ") for c in captions_text(at))
    # metrics, length, classes + the two position curves of the caption quality section
    assert len(at.get("vega_lite_chart")) == 5 and "Caption quality" in subs
    assert at.json  # provenance
    assert "Hallucination rate by class" in subs


@needs_coco_mini
def test_coco_mini_image_browser_draws_boxes(monkeypatch, coco_run, media):
    at = app(monkeypatch, coco_run, page="Image browser", images=SHARED_DATA / "coco_mini" / "train2017")
    no_exception(at)
    assert not at.warning, [w.value for w in at.warning]  # the image file was found
    info = [c for c in captions_text(at) if c.startswith("ground-truth boxes")][0]
    n_gt = int(info.split("ground-truth boxes (blue): ")[1].split(" ")[0])
    assert n_gt > 0 and "detector boxes (amber): 0" in info  # no detector in this run
    drawn = Image.open(io.BytesIO(media[-1]))
    # compare with the raw photo: the drawn one has many more box-coloured pixels
    raw = Image.open(SHARED_DATA / "coco_mini" / "train2017" / "000000000790.jpg")
    assert drawn.size == raw.size
    assert count_color(drawn, rd.GT_COLOR) > count_color(raw, rd.GT_COLOR) + 500
    body = html_bodies(at)
    assert "ca-mention" in body
    # every source's captions are shown side by side
    assert [m.value for m in at.markdown if m.value in ("**coco**", "**evil**")] == ["**coco**", "**evil**"]
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in body and "<script" not in body

    first = [m.value for m in at.markdown if m.value.startswith("**image ")][0]
    at.button(key="next").click().run()
    no_exception(at)
    assert [m.value for m in at.markdown if m.value.startswith("**image ")][0] != first
    assert "image **2** of **80**" in [m.value for m in at.markdown]

    at.checkbox(key="only_h").check().run()
    no_exception(at)
    assert any("of **" in m.value for m in at.markdown)
    assert 'class="ca-mention ca-hallucinated"' in html_bodies(at)


# ----------------------------------------------------------------------------- llava


@needs_llava
def test_llava_placeholder_for_missing_image_and_real_image_when_present(monkeypatch, llava_run, media):
    at = app(monkeypatch, llava_run, page="Image browser", images=SHARED_DATA / "faithscore")
    no_exception(at)
    at.text_input(key="jump_id").set_value("COCO_val2014_000000441147.jpg").run()  # qa90's first image
    no_exception(at)
    assert "Image file not found for image id 441147" in at.warning[0].value
    placeholder = Image.open(io.BytesIO(media[-1]))
    assert count_color(placeholder, rd.PLACEHOLDER_BG, tol=3) > placeholder.width * placeholder.height / 4
    # boxes are normalised xyxy, drawn even on the placeholder
    assert count_color(placeholder, rd.GT_COLOR) > 100
    assert [m.value for m in at.markdown if m.value in ("**coco**", "**llava**")] == ["**coco**", "**llava**"]
    assert "ca-hallucinated" in html_bodies(at) or "ca-supported" in html_bodies(at)

    at.text_input(key="jump_id").set_value("164255").run()  # the one real image (faithscore/)
    no_exception(at)
    assert not at.warning
    photo = Image.open(io.BytesIO(media[-1]))
    assert photo.size == Image.open(SHARED_DATA / "faithscore" / "COCO_val2014_000000164255.jpg").size


# ----------------------------------------------------------------------------- hostile run (issue #14)

MARKDOWN_ELEMENTS = ("markdown", "caption", "subheader", "header", "title", "warning", "error", "info",
                     "success", "exception")
NOT_A_RUN = ("That is not a caption-audit run folder (a folder holding the summary.json and "
             "captions.parquet that `caption-audit run` writes).")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    from tests.dashboard_fixture import audit_hostile_demo

    return audit_hostile_demo(tmp_path_factory.mktemp("hostile"))


def markdown_strings(at: AppTest) -> list[str]:
    """Every string the app handed to Streamlit's Markdown renderer (plus metric labels/help)."""
    out = []
    for kind in MARKDOWN_ELEMENTS:
        for el in at.get(kind):
            out.append(str(getattr(el, "value", "") or getattr(el.proto, "body", "")))
    for el in at.get("metric"):
        out += [el.label, el.proto.help]
    for el in at.get("expander"):
        out.append(el.label)
    return out


def live_markup(md_text: str) -> list[str]:
    """Link, image or HTML syntax left after dropping backslash-escaped characters, and GFM
    autolinks (which survive escaping) in the text as shown."""
    raw = re.sub(r"\\.", "", md_text)
    found = [tok for tok in ("](", "![", "<") if tok in raw]
    shown = re.sub(r"\\(.)", r"\1", md_text)  # word joiners kept: they are what stops GFM
    return found + re.findall(r"(?i)(?:https?|ftp|javascript):/|www\.|\w@\w", shown)


def assert_inert(at: AppTest) -> None:
    no_exception(at)
    bad = {s: live_markup(s) for s in markdown_strings(at) if live_markup(s)}
    assert not bad, bad


def test_hostile_strings_never_render_as_markdown(monkeypatch, hostile, media):
    """Source names, image ids, file names, class names, warnings and reasons from a run are
    all shown as text on every page: no link, image, tag or autolink gets through."""
    from tests.dashboard_fixture import HOSTILE_HTML, HOSTILE_LINK, SECRET_RGB

    at = app(monkeypatch, hostile["run"], images=hostile["images"])
    assert_inert(at)
    assert HOSTILE_LINK in [plain(s.value) for s in at.subheader]  # shown, literally
    at.sidebar.radio(key="page").set_value("Image browser").run()
    assert_inert(at)
    for wanted in ("900001", "900002", "900003", "900004", "900005", HOSTILE_HTML, "[click](http:/evil.example/src)",
                   "nope [x](http://evil.example/jump)"):
        at.text_input(key="jump_id").set_value(wanted).run()
        assert_inert(at)
    assert any(HOSTILE_LINK in plain(m.value) for m in at.markdown)
    # claim views (issue #10): hostile captions with claims underlined, contradicted lists and
    # the flag form stay inert; the label lands in RUN/labels.jsonl only
    from dashboards import queries as q

    hostile_image = q.open_run(hostile["run"]).cursor().execute(
        "SELECT image_id FROM claims WHERE source = ? ORDER BY image_id LIMIT 1", [HOSTILE_LINK]).fetchone()[0]
    at.text_input(key="jump_id").set_value(hostile_image).run()
    assert_inert(at)
    body = html_bodies(at)
    assert 'class="ca-claim ca-claim-' in body and "<img" not in body.replace("&lt;img", "")
    at.button(key="flag_save").click().run()
    assert_inert(at)
    assert (hostile["run"] / "labels.jsonl").is_file() and at.success
    (hostile["run"] / "labels.jsonl").unlink()
    at.sidebar.radio(key="page").set_value("Explorer").run()
    at.radio(key="ex_table").set_value("claims").run()
    assert_inert(at)
    at.text_input(key="f_text").set_value("[click]").run()
    assert_inert(at)
    # the secret image outside --images (reached by '..', an absolute path and a symlink) is never opened
    assert media
    for blob in media:
        img = Image.open(io.BytesIO(blob))
        assert img.width <= rd.MAX_PLACEHOLDER_SIDE and img.height <= rd.MAX_PLACEHOLDER_SIDE
        assert count_color(img, SECRET_RGB, tol=10) < 50
    at.sidebar.radio(key="page").set_value("Explorer").run()
    assert_inert(at)
    at.sidebar.radio(key="page").set_value("Baseline").run()
    at.text_input(key="base_path").set_value(str(hostile["run"])).run()
    assert_inert(at)
    at.sidebar.radio(key="page").set_value("Overview").run()
    assert_inert(at)


@pytest.mark.parametrize("text", ["/etc", "/no/such/folder", "../../../../etc/passwd", "~", "\x00", "a" * 5000])
def test_baseline_box_opens_only_run_folders(monkeypatch, tiny_runs, text):
    at = app(monkeypatch, tiny_runs[0], page="Baseline")
    at.text_input(key="base_path").set_value(text).run()
    no_exception(at)
    # one message, the same for every case: never the path, never whether it exists
    assert [e.value for e in at.error] == [NOT_A_RUN]
    assert not at.dataframe


@pytest.mark.parametrize("damage", ["captions", "mentions", "summary"])
def test_damaged_run_file_one_friendly_error(monkeypatch, tmp_path, damage):
    run = build_tiny_run(tmp_path / "run")
    target = run / ("summary.json" if damage == "summary" else f"{damage}.parquet")
    target.write_bytes(b"PAR1 this is not a parquet file PAR1" if damage != "summary" else b"{\"schema")
    for page in ("Overview", "Image browser", "Explorer", "Baseline"):
        at = app(monkeypatch, run, page=page)
        no_exception(at)
        assert len(at.error) == 1, [e.value for e in at.error]
        assert target.name in plain(at.error[0].value)
        assert "Traceback" not in at.error[0].value

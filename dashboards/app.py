"""caption-audit dashboard (Streamlit): Overview, Image browser, Explorer, Baseline.

Start it with ``caption-audit dashboard RUN [--baseline OLD_RUN] [--images DIR]``, or
directly: ``streamlit run dashboards/app.py -- --run RUN``. Without arguments it reads
``CAPTION_AUDIT_RUN``, ``CAPTION_AUDIT_BASELINE`` and ``CAPTION_AUDIT_IMAGES`` (used by
tests). All data access goes through :mod:`dashboards.queries` (DuckDB, server-side pages
and aggregates); all caption HTML comes from :mod:`dashboards.render` (escaped).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import astuple
from pathlib import Path

try:
    from dashboards import queries as q
    from dashboards import render as rd
except ModuleNotFoundError:  # `streamlit run dashboards/app.py` from a source checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from dashboards import queries as q
    from dashboards import render as rd

import streamlit as st

from caption_audit.errors import CaptionAuditError
from caption_audit.store.layout import TABLES, summary_file, table_file

PAGES = ("Overview", "Image browser", "Explorer", "Baseline")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Arguments after ``--`` of ``streamlit run``; environment variables fill the gaps."""
    p = argparse.ArgumentParser(prog="dashboards/app.py", allow_abbrev=False, add_help=False)
    p.add_argument("--run", default=os.environ.get("CAPTION_AUDIT_RUN"))
    p.add_argument("--baseline", default=os.environ.get("CAPTION_AUDIT_BASELINE"))
    p.add_argument("--images", default=os.environ.get("CAPTION_AUDIT_IMAGES"))
    args, _ = p.parse_known_args(argv)
    return args


# ------------------------------------------------------------------ cached data access


@st.cache_resource(show_spinner=False)
def get_run(path: str) -> q.Run:
    return q.open_run(path)


@st.cache_data(show_spinner=False)
def c_sources(path: str) -> list[str]:
    return q.sources(get_run(path))


@st.cache_data(show_spinner=False)
def c_metrics(path: str) -> list[dict]:
    return q.metric_records(get_run(path))


@st.cache_data(show_spinner=False)
def c_info(path: str) -> dict:
    return q.metric_info(get_run(path))


@st.cache_data(show_spinner=False)
def c_counts(path: str) -> dict:
    return q.count_records(get_run(path))


@st.cache_data(show_spinner=False)
def c_hist(path: str):
    return q.length_histogram(get_run(path), arrow=True)


@st.cache_data(show_spinner=False)
def c_classes(path: str, top_k: int, by: str):
    return q.class_rates(get_run(path), top_k=top_k, by=by, arrow=True)


@st.cache_data(show_spinner=False)
def c_metric_bars(path: str):
    """The card metrics of every source as an Arrow table (for the bar chart)."""
    labels = dict(q.CARD_METRICS)
    shown = [{**r, "label": labels[r["metric"]]} for r in c_metrics(path) if r["metric"] in labels]
    return q.records_table(shown, {"source": "VARCHAR", "label": "VARCHAR", "value": "DOUBLE",
                                   "ci_low": "DOUBLE", "ci_high": "DOUBLE"}) if shown else None


@st.cache_data(show_spinner=False)
def c_position(path: str, kind: str, axis: str):
    """One position curve (all sources) as an Arrow table, None when the run has none."""
    sel = [r for r in c_quality(path)["position"] if r["kind"] == kind and r["axis"] == axis]
    return q.records_table(sel, q.POSITION_COLUMNS) if sel else None


@st.cache_data(show_spinner=False)
def c_quality(path: str) -> dict:
    run = get_run(path)
    return {"shares": q.quality_records(run), "clean": q.clean_records(run),
            "lists": q.quality_lists(run), "position": q.position_records(run)}


@st.cache_data(show_spinner=False)
def c_has_quality(path: str) -> bool:
    return q.has_quality(get_run(path))


@st.cache_data(show_spinner=False)
def c_class_names(path: str) -> list[str]:
    return q.class_names(get_run(path))


@st.cache_data(show_spinner=False, max_entries=16)
def c_image_count(path: str, only_h: bool) -> int:
    return q.image_count(get_run(path), only_h)


@st.cache_data(show_spinner=False, max_entries=256)
def c_count(path: str, table: str, fkey: tuple) -> int:
    return q.count_rows(get_run(path), table, q.Filters(*fkey))


@st.cache_data(show_spinner=False, max_entries=64)
def c_page(path: str, table: str, fkey: tuple, sort_by, desc: bool, page_no: int, size: int):
    return q.page(get_run(path), table, q.Filters(*fkey), sort_by=sort_by, descending=desc, page_number=page_no, page_size=size)


@st.cache_data(show_spinner=False, max_entries=8)
def c_deltas(path: str, base_path: str):
    return q.metric_deltas(get_run(path), get_run(base_path))


@st.cache_data(show_spinner=False, max_entries=8)
def c_matching(path: str, base_path: str) -> dict:
    return q.caption_matching(get_run(path), get_run(base_path))


# ------------------------------------------------------------------ pages


def metric_cards(path: str) -> None:
    metrics = c_metrics(path)
    info = c_info(path)
    counts = c_counts(path)
    names = {r["metric"] for r in metrics}
    claim_cards = [c for c in q.CLAIM_CARD_METRICS if c[0] in names]
    for src in c_sources(path):
        n = counts.get(src)
        st.subheader(rd.md(src))
        if n is not None:
            st.caption(f"{n['captions']:,} captions · {n['scored']:,} scored · "
                       f"{n['skipped']:,} skipped · {n['images']:,} images")
        m = {r["metric"]: r for r in metrics if r["source"] == src}
        _card_row(m, info, q.CARD_METRICS)
        if claim_cards:
            _card_row(m, info, claim_cards)


def _card_row(m: dict, info: dict, cards) -> None:
    """One row of metric cards for one source (``m``: its metric records by name)."""
    cols = st.columns(len(cards))
    for col, (name, label) in zip(cols, cards, strict=True):
        unit = info.get(name, {}).get("unit")
        with col:
            if name not in m:
                st.metric(label, "n/a")
                continue
            row = m[name]
            direction = info.get(name, {}).get("higher_is_better")
            arrow = {True: " ↑ better", False: " ↓ better"}.get(direction, "")
            st.metric(label, rd.format_metric(row["value"], unit),
                      help=rd.md(f"{info.get(name, {}).get('description', '')}{arrow}"))
            if row["ci_low"] is not None and row["ci_high"] is not None:
                st.caption(f"95% CI {rd.format_metric(row['ci_low'], unit)} – "
                           f"{rd.format_metric(row['ci_high'], unit)}")
            elif isinstance(row["status"], str) and row["status"]:
                st.caption(rd.md(row["status"]))
            else:
                st.caption("no CI (computed here)")


def _ci(lo, hi) -> str:
    return "" if lo is None or hi is None else f" ({rd.format_metric(lo, 'fraction')} – {rd.format_metric(hi, 'fraction')})"


def quality_section(path: str) -> None:
    """Caption quality (issue #12, docs/quality.md): per-source shares with CIs, the key
    metrics with and without degenerate captions, the top reused captions and openers
    (untrusted texts, escaped) and the position curve. Hidden for runs without the data."""
    data = c_quality(path)
    if not (data["shares"] or data["clean"] or data["lists"] or data["position"]):
        return
    st.subheader("Caption quality")
    st.caption("Flags describe captions, they never drop them (docs/quality.md). Degenerate = "
               "repetition, truncated, garbage, non-English or empty.")
    srcs = c_sources(path)
    if data["shares"]:
        labels = [lab for _, lab in q.QUALITY_METRICS if any(r["label"] == lab for r in data["shares"])]
        table = []
        for src in srcs:
            row = {"source": src}
            for r in data["shares"]:
                if r["source"] == src:
                    row[r["label"]] = rd.format_metric(r["value"], "fraction") + _ci(r["ci_low"], r["ci_high"])
            if len(row) > 1:
                table.append(row)
        cols = {"source": "VARCHAR", **{lab: "VARCHAR" for lab in labels}}
        st.dataframe(q.records_table(table, cols), hide_index=True, width="stretch", key="quality_shares")
    if data["clean"]:
        info = c_info(path)
        rows = []
        for r in data["clean"]:
            unit = info.get(r["metric"], {}).get("unit")
            n_all, n_clean = r["n_scored"], r["n_clean"]
            excluded = (n_all - n_clean) if isinstance(n_all, int) and isinstance(n_clean, int) else None
            rows.append({"source": r["source"], "metric": r["metric"],
                         "all captions": rd.format_metric(r["value"], unit),
                         "without degenerate": rd.format_metric(r["clean_value"], unit)
                         + ("" if r["clean_ci_low"] is None or r["clean_ci_high"] is None else
                            f" ({rd.format_metric(r['clean_ci_low'], unit)} – {rd.format_metric(r['clean_ci_high'], unit)})"),
                         "degenerate excluded": excluded})
        st.markdown("**With / without degenerate captions**")
        st.dataframe(q.records_table(rows, {"source": "VARCHAR", "metric": "VARCHAR", "all captions": "VARCHAR",
                                            "without degenerate": "VARCHAR", "degenerate excluded": "BIGINT"}),
                     hide_index=True, width="stretch", key="quality_clean")
    lists = data["lists"]
    if lists:
        cols = st.columns(max(1, len([s for s in srcs if s in lists])))
        for col, src in zip(cols, [s for s in srcs if s in lists], strict=False):
            block = lists[src]
            with col:
                st.markdown(f"**{rd.md(src)}**")
                fc = block.get("flag_counts") or {}
                flagged = [f"{k} {int(v):,}" for k, v in fc.items()
                           if k != "scored" and isinstance(v, int | float) and v]
                st.caption(rd.md(("flagged: " + ", ".join(flagged)) if flagged else "no caption flagged")
                           + (f" (of {int(fc['scored']):,} scored)" if isinstance(fc.get("scored"), int) else ""))
                reused = rd.top_texts_html(block.get("reused") or [], count_key="n_captions", images_key="n_images")
                openers = (block.get("openers") or {}).get("prefix") or []
                sent = (block.get("openers") or {}).get("sentence") or []
                html_parts = []
                if reused:
                    html_parts.append("<div><b>Top reused captions</b></div>" + reused)
                if sent:
                    html_parts.append("<div><b>Top opening sentences</b></div>" + rd.top_texts_html(sent))
                if openers:
                    html_parts.append("<div><b>Top openers (first 3 words)</b></div>" + rd.top_texts_html(openers))
                st.html("".join(html_parts) or "<div><em>no reused caption or opener</em></div>")
    if data["position"]:
        position_chart(path, data["position"])


def position_chart(path: str, rows: list[dict]) -> None:
    """Hallucination (mentions) / error (claims) rate by caption decile and by sentence index,
    one line per source; an undefined rate (nothing judged in that bin) is a gap, never 0."""
    from dashboards import charts

    st.markdown("**Where in the caption errors happen**")
    kinds = sorted({r["kind"] for r in rows}, key=["mentions", "claims"].index)
    kind = st.radio("errors of", kinds, horizontal=True, key="pos_kind",
                    format_func={"mentions": "object mentions (hallucinated)",
                                 "claims": "claims (contradicted)"}.get)
    cols = st.columns(2)
    for col, axis, title in ((cols[0], "decile", "caption decile (0 = start)"),
                             (cols[1], "sentence", "sentence index (0 = first)")):
        t = c_position(path, kind, axis)
        if t is None:
            continue
        with col:
            st.vega_lite_chart(t, charts.position_curve(title), width="stretch")
    st.caption("A missing point means nothing was judged in that bin (undefined, not 0).")


def page_overview(path: str) -> None:
    from dashboards import charts

    run = get_run(path)
    st.header("Overview")
    metric_cards(path)

    st.subheader("Metrics by source")
    info = c_info(path)
    data = c_metric_bars(path)
    if data is not None:
        st.vega_lite_chart(data, charts.metrics_bars())

    c1, c2 = st.columns(2)
    with c1:
        st.subheader("Caption length (words)")
        h = c_hist(path)
        if h.num_rows:
            st.vega_lite_chart(h, charts.length_histogram(), width="stretch")
    with c2:
        st.subheader("Hallucination rate by class")
        hk1, hk2 = st.columns([3, 2])
        top_k = hk1.slider("classes", 5, 80, 25, key="heat_k")
        by = hk2.radio("top classes by", ["hallucinated", "mentions"], key="heat_by", horizontal=True,
                       help="most hallucinated mentions (default) or most mentions over all sources")
        cr = c_classes(path, top_k, by)
        if cr is not None and cr.num_rows:
            st.vega_lite_chart(cr, charts.class_heatmap(), width="stretch")
        else:
            st.info("classes.parquet is missing or empty.")
    quality_section(path)
    with st.expander("Provenance", expanded=False):
        st.json(q.provenance(run))
    with st.expander("Metric definitions"):
        for name, mi in info.items():
            st.markdown(f"- **{rd.md(name)}** ({rd.md(mi.get('unit', ''))}): {rd.md(mi.get('description', ''))}")


def _aslist(v) -> list:
    """A list column value (numpy array, list or None) as a Python list."""
    return [] if v is None else list(v)


def _set_pos(key: str, value: int) -> None:
    st.session_state[key] = max(0, value)


def _jump(path: str, only_h: bool) -> None:
    wanted = str(st.session_state.get("jump_id", "")).strip()
    if not wanted:
        return
    from caption_audit.ingest.ids import normalize_image_id

    try:
        iid = normalize_image_id(wanted)
    except ValueError:
        iid = wanted
    pos = q.image_position(get_run(path), iid, only_h)
    if pos is None:
        st.session_state["jump_msg"] = f"Image id {rd.md(repr(wanted[:200]))} has no captions" + (
            " with hallucinations" if only_h else "") + " in this run."
    else:
        st.session_state["img_pos"] = pos
        st.session_state["jump_msg"] = ""


def page_images(path: str, images_dir: str | None) -> None:
    run = get_run(path)
    st.header("Image browser")
    only_h = st.checkbox("only images with hallucinations", key="only_h")
    total = c_image_count(path, only_h)
    if total == 0:
        st.info("No images match.")
        return
    if st.session_state.pop("_pending_jump", False):  # "open in image browser" from the Explorer
        _jump(path, only_h)
    qimg = st.query_params.get("image")
    if qimg and not st.session_state.get("_qimg_done"):  # deep link: ?page=Image+browser&image=ID
        st.session_state["_qimg_done"] = True
        st.session_state["jump_id"] = qimg
        _jump(path, only_h)
    pos = min(int(st.session_state.get("img_pos", 0)), total - 1)
    st.session_state["img_pos"] = pos
    c1, c2, c3, c4 = st.columns([1, 1, 2, 3])
    c1.button("◀ previous", key="prev", disabled=pos <= 0, on_click=_set_pos, args=("img_pos", pos - 1))
    c2.button("next ▶", key="next", disabled=pos >= total - 1, on_click=_set_pos, args=("img_pos", pos + 1))
    c3.markdown(f"image **{pos + 1:,}** of **{total:,}**")
    c4.text_input("jump to image id", key="jump_id", on_change=_jump, args=(path, only_h),
                  placeholder="e.g. 391895 or COCO_val2014_000000391895.jpg")
    if st.session_state.get("jump_msg"):
        st.warning(st.session_state["jump_msg"])
    image_id = q.image_at(run, pos, only_h)
    if image_id is None:
        st.info("No image at this position.")
        return
    info = q.image_info(run, image_id)
    objs = q.image_objects(run, image_id)
    dirs = q.image_dirs(run, images_dir)
    file = q.find_image(image_id, info.get("file_name"), dirs)
    left, right = st.columns([2, 3])
    with left:
        st.markdown(f"**image {rd.md(image_id)}**" + (f" · {rd.md(info['file_name'])}" if info.get("file_name") else ""))
        img, stats = rd.compose_image(file, objs.to_dict("records"), width=info.get("width"),
                                      height=info.get("height"), image_id=image_id)
        st.image(img, width="stretch")
        st.caption(f"ground-truth boxes (blue): {stats['gt']} · detector boxes (amber): {stats['detector']}"
                   + (f" · objects without a box: {stats['no_box']}" if stats["no_box"] else ""))
        if stats["legend"]:
            with st.expander(f"numbered boxes ({len(stats['legend'])})", expanded=False):
                st.dataframe(stats["legend"], hide_index=True, width="stretch")
        if stats["placeholder"]:
            looked = ", ".join(str(d) for d in dirs) or "no image folder given"
            why = stats["message"].split("\n")[0] if stats["message"] else "image file not found"
            why = why[:1].upper() + why[1:]
            st.warning(rd.md(f"{why} for image id {image_id} (looked in: {looked}).")
                       + " Showing a placeholder; pass \\-\\-images DIR to the dashboard.")
        if len(objs):
            with st.expander(f"objects ({len(objs)})"):
                st.dataframe(objs, hide_index=True, width="stretch")
    with right:
        caps = q.image_captions(run, image_id)
        ids = caps["caption_id"].tolist()
        ments = q.caption_mentions(run, ids)
        claims = q.caption_claims(run, ids)
        by_cap = {cid: g.to_dict("records") for cid, g in ments.groupby("caption_id")} if len(ments) else {}
        claims_by_cap = {cid: g.to_dict("records") for cid, g in claims.groupby("caption_id")} if len(claims) else {}
        show_claims = st.toggle("underline claims", value=True, key="show_claims",
                                help="claims (counts, colours, people, objects) underlined by verdict; "
                                "hover for the evidence", disabled=not run.has("claims"))
        st.html(rd.CAPTION_CSS + rd.legend_html())
        present = set(caps["source"].tolist())
        srcs = [s for s in c_sources(path) if s in present]  # the overview's order
        cols = st.columns(max(1, len(srcs)))
        for col, src in zip(cols, srcs, strict=False):
            with col:
                st.markdown(f"**{rd.md(src)}**")
                blocks = []
                for r in caps[caps["source"] == src].to_dict("records"):
                    chair = r.get("chair_i")
                    halluc = ", ".join(_aslist(r.get("hallucinated")))
                    meta = (f"{r.get('status')}" + (f" · CHAIR-i {chair:.2f}" if chair == chair and chair is not None else "")
                            + (f" · hallucinated: {halluc}" if halluc else ""))
                    cl = claims_by_cap.get(r["caption_id"], [])
                    blocks.append(rd.caption_html(r.get("caption"), by_cap.get(r["caption_id"], []),
                                                  cl if show_claims else None)
                                  + rd.claims_list_html(cl)
                                  + f'<div style="color:#607d8b;font-size:0.8rem;margin-bottom:0.8em">'
                                  f"{rd.html.escape(meta)}</div>")
                st.html(rd.CAPTION_CSS + "".join(blocks))
        flag_form(path, caps, ments, claims)


def _flag_options(caps, ments, claims) -> list[dict]:
    """Everything on this image a user can flag: each claim, and each mention that no object
    claim covers (negated or depicted mentions make no claim, but their verdict can be wrong)."""
    from dashboards.labels import mention_as_claim

    order = {cid: n for n, cid in enumerate(caps["caption_id"])}
    src = dict(zip(caps["caption_id"], caps["source"], strict=True))
    text = dict(zip(caps["caption_id"], caps["caption"], strict=True))
    opts = [dict(c) for c in claims.to_dict("records")] if len(claims) else []
    spans = {(o["caption_id"], int(o["start"]), int(o["end"])) for o in opts}
    for m in ments.to_dict("records") if len(ments) else []:
        if (m["caption_id"], int(m["start"]), int(m["end"])) not in spans and int(m["end"]) > int(m["start"]):
            opts.append(mention_as_claim(m))
    for o in opts:
        o["source"] = src.get(o["caption_id"], "")
        t = str(text.get(o["caption_id"]) or "")
        o["words"] = t[int(o["start"]):int(o["end"])]
    opts.sort(key=lambda o: (order.get(o["caption_id"], 0), int(o["start"]), str(o["kind"])))
    return opts


def _save_flag(path: str, option: dict, flag: str) -> None:
    from dashboards.labels import append_label, label_record

    try:
        written = append_label(get_run(path).path, label_record(option, flag))
    except CaptionAuditError as exc:
        st.session_state["flag_msg"] = ("error", str(exc))
        return
    st.session_state["flag_msg"] = ("ok", f"Saved to {written}: {option['kind']} “{option['words']}” "
                                    f"({option['source']}) is {'true' if label_record(option, flag)['label'] else 'false'} "
                                    "of the image.")


FLAG_TEXT = {"verdict_wrong": "the verdict is wrong", "verdict_right": "the verdict is right",
             "claim_true": "the claim is true of the image", "claim_false": "the claim is false"}


def flag_form(path: str, caps, ments, claims) -> None:
    """Mark a verdict as wrong or right; appended to ``<run>/labels.jsonl`` (dashboards/labels.py)."""
    opts = _flag_options(caps, ments, claims)
    with st.expander("Mark a verdict as wrong (adds to RUN/labels.jsonl)", expanded=False):
        if not opts:
            st.caption("No claim or mention on this image.")
            return
        i = st.selectbox("claim or mention", range(len(opts)), key="flag_pick", format_func=lambda k: (
            f"{opts[k]['source']} · {opts[k]['kind']} “{opts[k]['words']}”"
            + (f" = {opts[k]['value']}" if opts[k].get("value") else "") + f" · {opts[k]['verdict']}")[:200])
        o = opts[int(i)]
        sided = o["verdict"] in ("supported", "contradicted")
        choices = ["verdict_wrong", "verdict_right"] if sided else ["claim_true", "claim_false"]
        flag = st.radio("your judgement", choices, key="flag_kind", horizontal=True, format_func=FLAG_TEXT.get)
        st.button("save label", key="flag_save", on_click=_save_flag, args=(path, o, flag))
        msg = st.session_state.pop("flag_msg", None)
        if msg:
            (st.success if msg[0] == "ok" else st.error)(rd.md(msg[1]))
        st.caption("Evaluate the run against your labels: caption\\-audit evaluate RUN \\-\\-labels RUN/labels.jsonl")


def filters_ui(path: str, table: str) -> q.Filters:
    c1, c2, c3 = st.columns(3)
    srcs = c1.multiselect("source", c_sources(path), key="f_src")
    kinds: list[str] = []
    if table == "claims":
        kinds = c2.multiselect("kind", list(q.CLAIM_KINDS), key="f_kind")
        verdicts = c3.multiselect("verdict", list(q.CLAIM_VERDICTS), key="f_cver")
        classes: list[str] = []
    else:
        classes = c2.multiselect("class", c_class_names(path), key="f_cls")
        verdicts = c3.multiselect("verdict", list(q.VERDICTS), key="f_ver")
    c4, c5, c6 = st.columns(3)
    min_ci = c4.slider("min CHAIR-i (0 = off)", 0.0, 1.0, 0.0, 0.05, key="f_minci")
    text = c5.text_input("text contains" + (" (claim words, subject, value, evidence)" if table == "claims" else ""),
                         key="f_text")
    only_h = c6.checkbox("only captions with hallucinations", key="f_onlyh")
    issues: list[str] = []
    only_deg = False
    if c_has_quality(path):
        q1, q2 = st.columns([2, 1])
        issues = q1.multiselect("caption quality issue (any of)", list(q.QUALITY_FLAGS), key="f_issues",
                                help="captions flagged with any of these (docs/quality.md)")
        only_deg = q2.checkbox("only degenerate captions", key="f_degen",
                               help="repetition, truncated, garbage, non-English or empty")
    return q.Filters(sources=tuple(srcs), classes=tuple(classes), verdicts=tuple(verdicts),
                     min_chair_i=min_ci if min_ci > 0 else None, text=text, only_hallucinated=only_h,
                     kinds=tuple(kinds), issues=tuple(issues), only_degenerate=only_deg)


def _open_image(image_id: str) -> None:
    """Switch to the image browser on ``image_id`` (a button callback: runs before the page)."""
    st.session_state["page"] = "Image browser"
    st.session_state["only_h"] = False
    st.session_state["jump_id"] = str(image_id)
    st.session_state["_pending_jump"] = True


def page_explorer(path: str) -> None:
    run = get_run(path)
    st.header("Explorer")
    tables = [t for t in ("captions", "mentions", "claims") if run.has(t)]
    table = st.radio("table", tables, horizontal=True, key="ex_table")
    f = filters_ui(path, table)
    c1, c2, c3, c4 = st.columns(4)
    have = set(run.columns(table))
    sort_by = c1.selectbox("sort by", ["(default)", *(c for c in q.SORTABLE[table] if c in have)],
                           key=f"sort_{table}")
    desc = c2.checkbox("descending", key="desc")
    size = c3.selectbox("rows per page", [25, 50, 100, 200], index=1, key="size")
    try:
        total = c_count(path, table, astuple(f))
    except CaptionAuditError as exc:
        st.error(rd.md(str(exc)))
        return
    pages = max(1, -(-total // size))
    page_no = c4.number_input("page", min_value=1, max_value=pages, value=1, step=1, key=f"page_{table}")
    df = c_page(path, table, astuple(f), None if sort_by == "(default)" else sort_by, desc, int(page_no) - 1, size)
    st.caption(f"{total:,} {table} match · page {int(page_no):,} of {pages:,} · select a row to open its image")
    event = st.dataframe(df, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                         key=f"grid_{table}")
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    ids = list(dict.fromkeys(str(x) for x in df["image_id"])) if "image_id" in df.columns else []
    if ids:
        chosen = str(df["image_id"].iloc[rows[0]]) if rows and rows[0] < len(df) else ids[0]
        o1, o2 = st.columns([2, 1])
        pick = o1.selectbox("image", ids, index=ids.index(chosen), key=f"open_pick_{table}_{chosen}",
                            label_visibility="collapsed")
        o2.button("open in image browser", key=f"open_{table}", on_click=_open_image, args=(pick,))
    cap = q.EXPORT_CAP
    st.download_button(
        f"Download filtered {table} as CSV" + (f" (first {cap:,} rows)" if total > cap else ""),
        data=lambda: q.export_csv(get_run(path), table, f, cap=cap),
        file_name=f"{run.name}-{table}.csv", mime="text/csv", key="export")


NOT_A_RUN = ("That is not a caption-audit run folder (a folder holding the summary.json and "
             "captions.parquet that `caption-audit run` writes).")


def run_folder_or_none(text: str) -> str | None:
    """``text`` as a resolved caption-audit run folder, or None.

    The Baseline box takes any text from whoever can reach the dashboard, so it opens only
    folders that hold a caption-audit ``summary.json`` (tool and schema checked) and a
    ``captions.parquet``; callers show one message for every other case, so the answer never
    tells whether some other path exists.
    """
    import json

    from caption_audit.summary_schema import validate_summary

    try:
        root = Path(text.strip()).expanduser().resolve()
        sp = summary_file(root)
        if not (root.is_dir() and sp.is_file() and table_file(root, "captions").is_file()):
            return None
        if sp.stat().st_size > 50_000_000:
            return None
        validate_summary(json.loads(sp.read_text(encoding="utf-8")), sp)
    except Exception:
        return None
    return str(root)


def page_baseline(path: str, baseline: str | None) -> None:
    st.header("Baseline")
    base_text = st.text_input("baseline run folder", value=baseline or "", key="base_path")
    if not base_text.strip():
        st.info("Pick a baseline run (or start with `caption-audit dashboard RUN --baseline OLD_RUN`) "
                "to see what changed.")
        return
    base_path = run_folder_or_none(base_text)
    if base_path is None:
        st.error(NOT_A_RUN)
        return
    try:
        run, base = get_run(path), get_run(base_path)
    except Exception:
        st.error(NOT_A_RUN)
        return
    st.caption(rd.md(f"current: {run.path} · baseline: {base.path}"))
    match = c_matching(path, base_path)
    if not match["sources"]:
        st.warning(rd.md(f"The runs share no caption source (current: {', '.join(c_sources(path))}; "
                         f"baseline: {', '.join(c_sources(base_path))}), so nothing can be compared."))
        return
    d = c_deltas(path, base_path)
    info = c_info(path)
    st.subheader("Metrics, current − baseline (paired image bootstrap, 95% CI)")
    st.caption("Each difference is computed on the images both runs describe, resampling images "
               "(the same paired bootstrap as `caption-audit compare`). better/worse only when the "
               "interval excludes 0.")
    if len(d):
        show = d.copy()
        for c in ("value", "base_value", "delta", "ci_low", "ci_high"):
            show[c] = [rd.format_metric(v, info.get(m, {}).get("unit")) for v, m in zip(show[c], show["metric"], strict=True)]
        st.dataframe(show[["source", "metric", "base_value", "value", "delta", "ci_low", "ci_high", "n_images", "change"]],
                     hide_index=True, width="stretch")
        worse = d[d["change"] == "worse"]
        if len(worse):
            st.warning(rd.md(f"{len(worse)} metric(s) got worse beyond the 95% interval: " + ", ".join(
                f"{a}/{b}" for a, b in zip(worse["source"], worse["metric"], strict=True))))
    st.caption(rd.md(
        f"Captions matched on (source, image, order of the caption among that image's captions in the "
        f"input), sources paired by {match['how']}: {match['pairs']:,} pairs"
        + (f" ({match['same_id']:,} with the same caption id)" if match["same_id"] else " (caption ids differ)")
        + f"; unmatched: {match['run_only']:,} current, {match['base_only']:,} baseline."))
    n = q.changed_captions_count(run, base)
    st.subheader(f"Captions whose hallucinated objects changed: {n:,} of {match['pairs']:,}")
    if n:
        size = 50
        pages = max(1, -(-n // size))
        p = st.number_input("page", 1, pages, 1, key="base_page")
        st.dataframe(q.changed_captions(run, base, page_number=int(p) - 1, page_size=size), hide_index=True, width="stretch")


def broken_file(run_dir: str | Path) -> Path | None:
    """The first file of a run folder that cannot be read (a corrupt Parquet file or a
    summary.json that is not JSON), or None when every file opens."""
    import json

    import pyarrow.parquet as pq

    root = Path(run_dir)
    for t in TABLES:
        p = table_file(root, t)
        if p.is_file():
            try:
                pq.ParquetFile(p).schema_arrow  # noqa: B018 - reads and checks the footer
            except Exception:
                return p
    sp = summary_file(root)
    if sp.is_file():
        try:
            json.loads(sp.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            return sp
    return None


def show_failure(run_dir: str, exc: BaseException) -> None:
    """One friendly error for a run folder that broke while reading: no traceback."""
    if isinstance(exc, CaptionAuditError):
        st.error(rd.md(str(exc)))
        return
    bad = broken_file(run_dir)
    if bad is not None:
        st.error(rd.md(f"Cannot read {bad}: the file is damaged or not what a caption-audit run writes. "
                       "Re-run `caption-audit run` into a new folder (or restore the file), then reload."))
    else:
        st.error(rd.md(f"Cannot read the run folder {run_dir} ({type(exc).__name__}). "
                       "Check that `caption-audit run` finished writing it, then reload."))


def main() -> None:
    st.set_page_config(page_title="caption-audit", layout="wide")
    args = parse_args(sys.argv[1:])
    st.sidebar.title("caption-audit")
    if not args.run:
        st.error("No run folder given. Start with `caption-audit dashboard RUN`.")
        return
    try:
        run = get_run(str(args.run))
    except Exception as exc:  # a damaged run folder: one message, never a traceback
        show_failure(str(args.run), exc)
        return
    path = str(args.run)
    st.sidebar.caption(rd.md(f"run: {run.path}"))
    qp = st.query_params.get("page")
    if "page" not in st.session_state and qp in PAGES:
        st.session_state["page"] = qp
    page = st.sidebar.radio("page", PAGES, key="page")
    try:
        if page == "Overview":
            page_overview(path)
        elif page == "Image browser":
            page_images(path, args.images)
        elif page == "Explorer":
            page_explorer(path)
        else:
            page_baseline(path, args.baseline)
    except Exception as exc:  # a damaged file found mid-page: one message, never a traceback
        show_failure(path, exc)


main()

"""Vega-Lite specs of the dashboard's charts, as plain dicts.

Streamlit draws a dict spec with an Arrow table as data (``st.vega_lite_chart(table, spec)``)
without importing Altair (~1 s) or pandas (~2 s), which is most of the Overview's cold start
(issue #13). Field names are fixed here; data values (source names, class names) reach the
chart only as data, which Vega renders as text.
"""

from __future__ import annotations

from typing import Any


def _f(field: str, typ: str, **kw: Any) -> dict[str, Any]:
    return {"field": field, "type": typ, **kw}


def _tips(*fields: tuple[str, str]) -> list[dict[str, Any]]:
    return [_f(f, t) for f, t in fields]


def metrics_bars() -> dict[str, Any]:
    """Card metrics per source: one facet column per metric, bars with 95% CI error bars
    (columns ``source, label, value, ci_low, ci_high``)."""
    x = _f("source", "nominal", title=None)
    color = _f("source", "nominal", legend=None)
    return {
        "facet": {"column": _f("label", "nominal", title=None)},
        "spec": {"width": 150, "height": 180, "layer": [
            {"mark": "bar", "encoding": {"x": x, "color": color, "y": _f("value", "quantitative", title=None),
                                         "tooltip": _tips(("source", "nominal"), ("label", "nominal"),
                                                          ("value", "quantitative"), ("ci_low", "quantitative"),
                                                          ("ci_high", "quantitative"))}},
            {"mark": {"type": "errorbar", "color": "black"},
             "encoding": {"x": x, "y": _f("ci_low", "quantitative"), "y2": {"field": "ci_high"}}},
        ]},
        "resolve": {"scale": {"y": "independent"}},
    }


def length_histogram() -> dict[str, Any]:
    """Caption-length histogram, sources overlaid (``source, bin_start, bin_end, captions``)."""
    return {"mark": {"type": "bar", "opacity": 0.6}, "encoding": {
        "x": _f("bin_start", "quantitative", title="words", bin="binned"), "x2": {"field": "bin_end"},
        "y": _f("captions", "quantitative", stack=None), "color": _f("source", "nominal"),
        "tooltip": _tips(("source", "nominal"), ("bin_start", "quantitative"), ("bin_end", "quantitative"),
                         ("captions", "quantitative"))}}


def class_heatmap() -> dict[str, Any]:
    """Source x class hallucination rates (classes.parquet rows)."""
    return {"mark": "rect", "encoding": {
        "x": _f("source", "nominal", title=None), "y": _f("canonical", "nominal", title=None, sort="-color"),
        "color": _f("hallucination_rate", "quantitative", title="halluc. rate",
                    scale={"scheme": "reds", "domain": [0, 1]}),
        "tooltip": _tips(("source", "nominal"), ("canonical", "nominal"), ("n_mentions", "quantitative"),
                         ("n_hallucinated", "quantitative"), ("hallucination_rate", "quantitative"),
                         ("coverage", "quantitative"))}}


def position_curve(x_title: str) -> dict[str, Any]:
    """Error rate by position bin, one line per source (rows of
    ``dashboards.queries.position_records``). Undefined rates are filtered out and lines are
    drawn per ``segment`` (a run of defined bins), so a bin where nothing was judged is a gap,
    never a 0 and never bridged; every defined bin also gets a point."""
    enc = {"x": _f("bin", "ordinal", title=x_title),
           "y": _f("rate", "quantitative", title="error rate", axis={"format": "%"}),
           "color": _f("source", "nominal"),
           "tooltip": [*_tips(("source", "nominal"), ("bin", "ordinal"), ("n_judged", "quantitative"),
                              ("n_bad", "quantitative")), _f("rate", "quantitative", format=".1%")]}
    return {"height": 220, "transform": [{"filter": "isValid(datum.rate)"}], "layer": [
        {"mark": "line", "encoding": {**enc, "detail": _f("segment", "nominal")}},
        {"mark": {"type": "point", "filled": True}, "encoding": enc},
    ]}

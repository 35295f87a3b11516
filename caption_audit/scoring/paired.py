"""Paired image-cluster bootstrap for differences of ratio-of-sums caption metrics.

Every per-source metric of a run is a ratio of sums over captions, e.g. CHAIR-i
(Rohrbach et al., 2018) is ``sum(n_hallucinated) / sum(n_mentions)`` over judged captions;
the numerator/denominator statistics come from :mod:`caption_audit.scoring.metrics`, so the
values recomputed here equal those in summary.json.
Comparing two caption sets A and B (two sources of one run, or one source in two runs) on
the images both describe, the statistic is

    delta = R_B - R_A,   R_X = sum_i num_X(i) / sum_i den_X(i),

where ``num_X(i)`` and ``den_X(i)`` are the sums of the per-caption numerator and
denominator over the captions of image ``i`` on side X.

Method (Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13-14, percentile
interval; the paired / cluster bootstrap of Davison & Hinkley 1997, sec. 3.8): the image is the
resampling unit, because captions of one image are correlated (five COCO captions of one
picture) and because both sides describe the same images. One resample draws ``n`` of the
``n`` shared images with replacement and, for *each drawn image, keeps both sides together*;
both ratios are recomputed from the resampled sums, and their difference is recorded. The
``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of the recorded differences
form the interval. Pairing removes the between-image variance that both sides share, so the
interval of the difference is much narrower than one built from two independent intervals.
Resamples whose denominator is zero on either side are dropped (counted in ``n_valid``).

The resampling is the project's one bootstrap (:func:`caption_audit.scoring.bootstrap.resampled_sums`,
also behind the summary's CIs): each chunk of resamples is a matrix of draw counts ``C``
(resamples x images) and all sums for all metrics are ``C @ X`` at once. Results depend only
on the data and ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from caption_audit.scoring.bootstrap import resampled_sums

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95


# --------------------------------------------------------------------------- metric specs


def caption_stats(captions: pd.DataFrame) -> pd.DataFrame:
    """Per-caption sufficient statistics (``caption_audit.scoring.metrics.STAT_COLUMNS``),
    rebuilt from ``captions.parquet`` by the same function the pipeline's summary uses
    (:func:`caption_audit.scoring.aggregate.stat_table`)."""
    from caption_audit.scoring.aggregate import stat_table

    return pd.DataFrame(stat_table(captions), index=captions.index)


def _ratio_specs() -> dict[str, tuple[str, str, float]]:
    from caption_audit.scoring.metrics import COMPARE_EXTRA_LIST, METRIC_LIST

    return {m.name: (m.numerator, m.denominator, m.scale) for m in (*METRIC_LIST, *COMPARE_EXTRA_LIST)}


RATIO_METRICS: dict[str, tuple[str, str, float]] = _ratio_specs()
"""Metric name -> (numerator stat, denominator stat, scale), from the metric table."""


def _extra_directions() -> dict[str, bool]:
    from caption_audit.scoring.metrics import COMPARE_EXTRA_LIST

    return {m.name: m.higher_is_better for m in COMPARE_EXTRA_LIST}


EXTRA_DIRECTIONS: dict[str, bool] = _extra_directions()
"""``higher_is_better`` of the compare-only metrics that summary.json does not describe."""


def per_caption_terms(captions: pd.DataFrame, metrics: Iterable[str]) -> pd.DataFrame:
    """Per-caption numerator/denominator columns ``<metric>__num``, ``<metric>__den``.

    Args:
        captions: rows of ``captions.parquet`` (columns per docs/run-folder.md).
        metrics: names from :data:`RATIO_METRICS`.

    Returns:
        A frame with ``image_id`` plus two float columns per metric, aligned with ``captions``.
    """
    stats = caption_stats(captions)
    out = {"image_id": captions["image_id"].astype(str).to_numpy()}
    for m in metrics:
        num, den, scale = RATIO_METRICS[m]
        out[f"{m}__num"] = scale * stats[num].to_numpy()
        out[f"{m}__den"] = stats[den].to_numpy()
    return pd.DataFrame(out)


def image_sums(captions: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Sums of the per-caption terms per image (index ``image_id``, sorted)."""
    terms = per_caption_terms(captions, metrics)
    return terms.groupby("image_id", sort=True).sum()


def ratio_value(captions: pd.DataFrame, metric: str) -> float | None:
    """The metric as a ratio of sums over ``captions``; ``None`` when the denominator is 0."""
    t = per_caption_terms(captions, [metric])
    d = float(t[f"{metric}__den"].sum())
    return float(t[f"{metric}__num"].sum()) / d if d > 0 else None


# --------------------------------------------------------------------------- bootstrap


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


@dataclass(frozen=True)
class PairedDiff:
    """Difference ``b - a`` of one metric on shared images, with its bootstrap interval.

    Attributes:
        metric: metric name.
        value_a, value_b: the metric on each side over the shared images (``None`` if undefined).
        diff: ``value_b - value_a`` (``None`` if either side is undefined).
        ci_low, ci_high: percentile interval of ``diff`` (``None`` if undefined).
        n_images: shared images resampled.
        n_a, n_b: captions on each side on those images.
        n_resamples: resamples drawn; ``n_valid``: resamples where both ratios were defined.
        confidence: interval level, e.g. 0.95.
        status: ``None`` or why the difference is undefined (``no_shared_images``,
            ``no_denominator_a``, ``no_denominator_b``).
    """

    metric: str
    value_a: float | None
    value_b: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    n_images: int
    n_a: int
    n_b: int
    n_resamples: int
    n_valid: int
    confidence: float
    status: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def paired_bootstrap(
    num_a: np.ndarray,
    den_a: np.ndarray,
    num_b: np.ndarray,
    den_b: np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int | None = 0,
) -> dict[str, np.ndarray]:
    """Paired image bootstrap of ``sum(num_b)/sum(den_b) - sum(num_a)/sum(den_a)``.

    Args:
        num_a, den_a, num_b, den_b: per-image sums, shape ``(n_images,)`` or
            ``(n_images, k)`` for ``k`` metrics at once; row ``i`` of all four is image ``i``.
        n_resamples: bootstrap resamples (Efron & Tibshirani recommend >= 1000 for intervals).
        confidence: interval level in (0, 1).
        seed: seed of ``numpy.random.default_rng``; same data + seed -> same interval.

    Returns:
        Dict of arrays of shape ``(k,)``: ``value_a``, ``value_b``, ``diff``, ``ci_low``,
        ``ci_high``, ``n_valid``; NaN where undefined.

    Example:
        >>> import numpy as np
        >>> r = paired_bootstrap(np.array([1., 0, 1]), np.ones(3), np.array([1., 1, 1]), np.ones(3))
        >>> round(float(r["diff"][0]), 3)
        0.333
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    arrs = [np.asarray(a, dtype=float) for a in (num_a, den_a, num_b, den_b)]
    arrs = [a[:, None] if a.ndim == 1 else a for a in arrs]
    n, k = arrs[0].shape
    if any(a.shape != (n, k) for a in arrs):
        raise ValueError("num_a, den_a, num_b, den_b must have the same shape")
    tot = [a.sum(axis=0) for a in arrs]
    value_a, value_b = _ratio(tot[0], tot[1]), _ratio(tot[2], tot[3])
    diff = value_b - value_a
    nan = np.full(k, np.nan)
    if n == 0:
        return dict(value_a=nan, value_b=nan, diff=nan, ci_low=nan, ci_high=nan, n_valid=np.zeros(k))
    sums = resampled_sums(np.concatenate(arrs, axis=1), n_resamples, seed)
    s = [sums[:, i * k : (i + 1) * k] for i in range(4)]
    d = _ratio(s[2], s[3]) - _ratio(s[0], s[1])  # (n_resamples, k)
    n_valid = np.isfinite(d).sum(axis=0)
    alpha = (1 - confidence) / 2
    lo, hi = nan.copy(), nan.copy()
    ok = n_valid > 0
    if ok.any():
        with np.errstate(all="ignore"):
            q = np.nanquantile(d[:, ok], [alpha, 1 - alpha], axis=0)
        lo[ok], hi[ok] = q[0], q[1]
    return dict(value_a=value_a, value_b=value_b, diff=diff, ci_low=lo, ci_high=hi, n_valid=n_valid)


def bootstrap_ratio(
    num: np.ndarray,
    den: np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int | None = 0,
) -> tuple[float | None, float | None, float | None]:
    """One-sample image-cluster bootstrap of ``sum(num)/sum(den)``: (value, ci_low, ci_high)."""
    zero = np.zeros_like(np.asarray(num, dtype=float))
    r = paired_bootstrap(
        zero, np.ones_like(zero), num, den, n_resamples=n_resamples, confidence=confidence, seed=seed
    )
    return tuple(_none(float(r[key][0])) for key in ("value_b", "ci_low", "ci_high"))  # type: ignore[return-value]


def _none(x: float) -> float | None:
    return None if not np.isfinite(x) else x


def compare_captions(
    captions_a: pd.DataFrame,
    captions_b: pd.DataFrame,
    metrics: Sequence[str],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int | None = 0,
    images: Iterable[str] | None = None,
) -> dict[str, PairedDiff]:
    """Paired comparison of two caption tables on the images both contain.

    Args:
        captions_a: reference side (e.g. the baseline run, or the first source).
        captions_b: candidate side; differences are ``b - a``.
        metrics: names from :data:`RATIO_METRICS`.
        n_resamples, confidence, seed: see :func:`paired_bootstrap`.
        images: restrict further to these image ids (e.g. images shared by 3 sources).

    Returns:
        Metric name -> :class:`PairedDiff`.
    """
    for m in metrics:
        if m not in RATIO_METRICS:
            from caption_audit.errors import unknown_name

            raise unknown_name("metric", m, list(RATIO_METRICS))
    sa, sb = image_sums(captions_a, metrics), image_sums(captions_b, metrics)
    shared = sa.index.intersection(sb.index)
    if images is not None:
        shared = shared.intersection(pd.Index(list(images), dtype=object))
    sa, sb = sa.loc[shared], sb.loc[shared]
    ids_a = captions_a["image_id"].astype(str)
    ids_b = captions_b["image_id"].astype(str)
    n_a = int(ids_a.isin(shared).sum())
    n_b = int(ids_b.isin(shared).sum())
    cols = list(metrics)
    r = paired_bootstrap(
        sa[[f"{m}__num" for m in cols]].to_numpy(),
        sa[[f"{m}__den" for m in cols]].to_numpy(),
        sb[[f"{m}__num" for m in cols]].to_numpy(),
        sb[[f"{m}__den" for m in cols]].to_numpy(),
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    out: dict[str, PairedDiff] = {}
    for j, m in enumerate(cols):
        va, vb = _none(float(r["value_a"][j])), _none(float(r["value_b"][j]))
        status = None
        if len(shared) == 0:
            status = "no_shared_images"
        elif va is None:
            status = "no_denominator_a"
        elif vb is None:
            status = "no_denominator_b"
        out[m] = PairedDiff(
            metric=m,
            value_a=va,
            value_b=vb,
            diff=_none(float(r["diff"][j])),
            ci_low=_none(float(r["ci_low"][j])) if status is None else None,
            ci_high=_none(float(r["ci_high"][j])) if status is None else None,
            n_images=len(shared),
            n_a=n_a,
            n_b=n_b,
            n_resamples=n_resamples,
            n_valid=int(r["n_valid"][j]),
            confidence=confidence,
            status=status,
        )
    return out

"""Colour naming in CIELAB: sRGB pixels -> one of 11 basic colour categories (no model).

The categories are the 11 basic colour terms of Berlin & Kay (1969), the same names as
``text/vocab/claims.yaml``: black, white, grey, red, orange, yellow, green, blue, purple, pink,
brown (the text side maps beige/tan/khaki to brown, silver to grey, gold to yellow).

Each pixel is converted sRGB -> CIELAB (D65; plain numpy, formulas of IEC 61966-2-1 and CIE
15) and named by lightness ``L``, chroma ``C = sqrt(a^2 + b^2)`` and hue angle
``h = atan2(b, a)``:

- achromatic when ``C < 12``, or ``L < 18`` with ``C < 20`` (near-black; a backlit stop sign,
  median ``(57, 8, 2)``, stays red), or pale ``L >= 85`` with ``C < 20`` (off-white under warm
  light), or light muted cool ``L >= 55``, ``C < 25``, hue ``[200, 310)`` (white in shade, bluish
  in daylight): black ``L < 25``, white ``L > 78``, else grey;
- warm hues with low chroma (``C < 25``, ``20 <= h < 100``): brown (wood, tan, beige) when
  ``L < 65`` and ``C >= 18``, else achromatic (warm-lit white and grey: half of a zebra's
  stripe pixels in savanna light have ``C < 19``; tan ``(210, 180, 140)`` reads grey, which is
  why brown's neighbours in ``pixels.py`` include grey and white);
  camera white balance makes yellow objects golden (a banana's median pixel is
  ``(187, 138, 44)``, hue 78), so yellow starts at hue 68 for saturated pixels;
- else by hue: red/pink ``[345, 20)`` (pink when ``L >= 62``), red/brown/pink ``[20, 42)``,
  orange/brown ``[42, 68)`` (orange when ``L >= 40`` and ``C >= 45``: carrots and an orange cup
  sit at hue 46-49, red shirts and cars at 24-31), yellow/brown
  ``[68, 115)`` (yellow when ``L >= 50`` and ``C >= 45``, or pale ``L >= 70`` from hue 85), green ``[115, 200)``, blue ``[200, 310)`` (pure sRGB
  blue is at 306), purple/pink ``[310, 345)`` (pink when ``L >= 62``).

:data:`NEIGHBOURS` lists the colours a pixel of each colour may be named as under real lighting
(the pixels resolver's "clearly absent" rule); :func:`near` narrows it to the colours *people*
confuse with it (the references resolver's colour rules).

Naming uses a 64-level-per-channel lookup table built once (262,144 entries), so a pixel costs
one table read.
"""

from __future__ import annotations

from functools import cache

import numpy as np

COLOURS: tuple[str, ...] = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue",
                            "purple", "pink", "brown")
ACHROMATIC = frozenset({"black", "white", "grey"})
_IDX = {c: i for i, c in enumerate(COLOURS)}
# Lightness outside [SHADOW_L, HIGHLIGHT_L]: shadows and specular highlights, left out of the
# shares used for chromatic claims (a red car's shadow is not evidence against "red").
SHADOW_L, HIGHLIGHT_L = 18.0, 96.0

# colours a pixel of the stated colour may be named as under real lighting: a stated colour is
# "clearly absent" only when it and all its neighbours are (white in shade reads grey, ...)
NEIGHBOURS: dict[str, frozenset[str]] = {
    "white": frozenset({"white", "grey", "yellow"}),
    "grey": frozenset({"grey", "white", "black"}),
    "black": frozenset({"black", "grey"}),
    "red": frozenset({"red", "pink", "orange", "purple", "brown"}),
    "orange": frozenset({"orange", "red", "yellow", "brown"}),
    "yellow": frozenset({"yellow", "orange", "brown", "white", "green"}),
    "green": frozenset({"green", "yellow", "blue"}),
    "blue": frozenset({"blue", "purple", "green", "grey", "white"}),  # light blue reads white/grey
    "purple": frozenset({"purple", "pink", "blue", "red"}),
    "pink": frozenset({"pink", "red", "purple", "white"}),
    "brown": frozenset({"brown", "orange", "red", "yellow", "black", "grey", "white"}),  # tan reads grey
}


def near(colour: str) -> frozenset[str]:
    """Colours a person may name ``colour`` as (besides ``colour``): its :data:`NEIGHBOURS`,
    less the achromatic ones for a chromatic colour (those are there because lighting turns a
    colour's *pixels* grey or white, which does not make people call a red car grey)."""
    return NEIGHBOURS[colour] - {colour} - (frozenset() if colour in ACHROMATIC else ACHROMATIC)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` uint8 or [0, 255] sRGB -> ``(..., 3)`` float CIELAB (D65 white)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    lab = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def name_lab(lab: np.ndarray) -> np.ndarray:
    """CIELAB ``(..., 3)`` -> colour index into :data:`COLOURS` (rules in the module doc)."""
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    C = np.hypot(a, b)
    h = np.degrees(np.arctan2(b, a)) % 360
    out = np.full(L.shape, _IDX["grey"], dtype=np.uint8)

    def put(mask: np.ndarray, name: str) -> None:
        out[mask] = _IDX[name]

    chrom = (C >= 12) & ((L >= 18) | (C >= 20)) & ~((L >= 85) & (C < 20))
    # shaded white in daylight is bluish (white cows in a barn: median (141, 148, 188), C 23)
    chrom &= ~((C < 25) & (L >= 55) & (h >= 200) & (h < 310))
    light = L >= 62
    put(chrom & ((h >= 345) | (h < 20)) & ~light, "red")
    put(chrom & ((h >= 345) | (h < 20)) & light, "pink")
    band = chrom & (h >= 20) & (h < 42)
    put(band & ~light & (C >= 25), "red")
    put(band & light, "pink")
    band = chrom & (h >= 42) & (h < 68)
    put(band, "brown")
    put(band & (L >= 40) & (C >= 45), "orange")
    band = chrom & (h >= 68) & (h < 115)
    put(band, "brown")
    put(band & (L >= 50) & (C >= 45), "yellow")
    put(band & (L >= 70) & (h >= 85), "yellow")  # pale yellow (lemon, cream-yellow)
    put(chrom & (h >= 115) & (h < 200), "green")
    put(chrom & (h >= 200) & (h < 310), "blue")
    band = chrom & (h >= 310) & (h < 345)
    put(band & ~light, "purple")
    put(band & light, "pink")
    muted = chrom & (C < 25) & (h >= 20) & (h < 100)
    put(muted, "brown")  # muted warm: wood, tan, dark beige
    achro = ~chrom | (muted & ((L >= 65) | (C < 18)))  # warm-lit whites and greys (zebra stripes)
    put(achro, "grey")
    put(achro & (L < 25), "black")
    put(achro & (L > 78), "white")
    return out


@cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(colour index, lightness) per 64-level RGB cell, indexed ``[r >> 2, g >> 2, b >> 2]``."""
    v = np.arange(64, dtype=np.float64) * 4 + 1.5
    grid = np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1)
    lab = srgb_to_lab(grid)
    return name_lab(lab), lab[..., 0].astype(np.float32)


def name_pixels(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 3)`` uint8 sRGB pixels -> (colour index per pixel, lightness per pixel)."""
    names, light = _tables()
    q = (np.asarray(rgb, dtype=np.uint8) >> 2).astype(np.intp)
    return names[q[:, 0], q[:, 1], q[:, 2]], light[q[:, 0], q[:, 1], q[:, 2]]


def colour_shares(rgb: np.ndarray) -> tuple[dict[str, float], dict[str, float], int, int]:
    """Shares of each colour among ``(N, 3)`` pixels.

    Returns:
        ``(all_shares, lit_shares, n, n_lit)``: fractions over all pixels, fractions over the
        pixels that are neither shadow nor highlight (``SHADOW_L <= L <= HIGHLIGHT_L``; used
        for chromatic colours), and the two pixel counts.
    """
    n = int(len(rgb))
    if n == 0:
        return {}, {}, 0, 0
    idx, L = name_pixels(rgb)
    counts = np.bincount(idx, minlength=len(COLOURS))
    lit = (L >= SHADOW_L) & (L <= HIGHLIGHT_L)
    lit_counts = np.bincount(idx[lit], minlength=len(COLOURS))
    n_lit = int(lit.sum())
    all_s = {c: counts[i] / n for i, c in enumerate(COLOURS) if counts[i]}
    lit_s = {c: lit_counts[i] / n_lit for i, c in enumerate(COLOURS) if lit_counts[i]} if n_lit else {}
    return all_s, lit_s, n, n_lit

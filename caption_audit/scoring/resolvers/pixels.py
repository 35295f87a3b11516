"""The colour of an object from its pixels (resolver ``pixels``; no model).

For a colour claim ("a red bus") the resolver reads the pixels of every instance of the subject
class: under its COCO polygons (rasterised with Pillow ``ImageDraw``), else inside its box
(lower confidence: a box holds background too), else inside the detector's best box. Each pixel
is named in CIELAB (:mod:`caption_audit.scoring.resolvers.colours`) and the shares are the
evidence ("mask: white 71%, grey 18%"). A chromatic colour's share is the larger of its share
over all pixels and over the lit ones (shadows ``L < 18`` and highlights ``L > 96`` left out).

Rule (precision first; "the red bus" may be any bus of the image):

- *supported* when some instance shows the colour on >= 15% of its pixels (a mask: 0.85; a box:
  >= 30% and 0.5, since the background may supply it). Several colours ("black+white"): each
  >= 10% of the same instance.
- *contradicted* when every instance of the class was judged (a mask or box of >= 400 pixels,
  no crowd region) and none shows the stated colour or a neighbour it is easily confused with
  (:data:`~caption_audit.scoring.resolvers.colours.NEIGHBOURS`, e.g. white ~ grey under shade) on >= 3% of its pixels: 0.8 from masks,
  0.6 from boxes.
- also *contradicted* (0.75; 0.6 when some other instance is a box) for a stated **hue** (red,
  orange, yellow, green, blue, purple, pink) when every instance was judged, and a **mask** (not a
  box: its dominant hue may be the background's) shows that hue itself on < 3% of its pixels and
  is dominated (>= :data:`DOMINANT_SHARE`, 40%) by another hue that is not
  adjacent to it on the hue circle (:data:`ADJACENT`; "a yellow stop sign" over a mask that is
  62% red, "a blue bus" over a red one; brown dominates only green, blue and purple; with
  several instances, each is either dominated so or lacks the hue and its neighbours as
  above). A dominant other hue is positive evidence, unlike the
  absence of a colour whose pixels lighting may have renamed (white in shade reads grey), so
  the wide neighbour sets above do not apply; achromatic and brown claims keep the stricter
  rule (lighting turns them into each other).
- else, for one stated colour, a *weak* contradiction
  (:data:`~caption_audit.scoring.resolvers.base.WEAK_CONFIDENCE`, 0.3: it never decides alone)
  when every instance was judged from a **mask** (no crowd region, no box) and none shows the
  colour on >= :data:`WEAK_SHARE` (10%) of its pixels, an achromatic colour counted together with
  its achromatic neighbours (a white sink in shade is 79% grey); evidence ``"mask: little red
  (4%); ..."``. With a weak contradiction of the reference captions it decides (rule 3 of
  ``scoring/claims.py``): "a red car" over a dark blue car (red 4%) that a reference calls blue.
  A share under 10% is common on true claims too (an orange bus in strong sun: orange 5%, red
  40%), which is why it needs a second, independent resolver;
- else *unverifiable* with the shares; ``None`` without an image file or without any instance
  or detector box of the class.

Decoded images and per-(image, class) shares are cached (LRU), so an image is decoded once
per batch when its captions are judged together.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

import numpy as np

from caption_audit.scoring.resolvers.base import WEAK_CONFIDENCE, ImageEvidence
from caption_audit.scoring.resolvers.colours import (
    ACHROMATIC,
    COLOURS,
    NEIGHBOURS,
    colour_shares,
    near,
)
from caption_audit.types import Claim, ClaimKind, ClaimVerdict, Resolution

SUPPORT_SHARE, SUPPORT_SHARE_MULTI, SUPPORT_SHARE_BOX = 0.15, 0.10, 0.30
ABSENT_SHARE = 0.03
# a weak contradiction (module doc): one stated colour under this share of every instance's mask
WEAK_SHARE = 0.10
MIN_PIXELS = 400

# the rule of a dominant other hue (module doc): stated hue -> the hues next to it on the hue
# circle, which lighting and camera white balance may turn it into (excluded as evidence)
HUES = frozenset({"red", "orange", "yellow", "green", "blue", "purple", "pink"})
DOMINANT_SHARE = 0.40
# brown is a dark, muted orange/yellow/red: it may dominate only hues far from those
DOMINATORS = HUES | {"brown"}
ADJACENT: dict[str, frozenset[str]] = {
    "red": frozenset({"orange", "pink", "purple", "brown"}),
    "orange": frozenset({"red", "yellow", "brown"}),
    "yellow": frozenset({"orange", "green", "brown"}),
    "green": frozenset({"yellow", "blue"}),
    "blue": frozenset({"green", "purple"}),
    "purple": frozenset({"blue", "pink", "red"}),
    "pink": frozenset({"red", "purple", "brown"}),
}


class _Shares:
    """Colour shares of one instance's pixels."""

    __slots__ = ("all", "lit", "n", "n_lit", "source")

    def __init__(self, rgb: np.ndarray, source: str):
        self.all, self.lit, self.n, self.n_lit = colour_shares(rgb)
        self.source = source

    def share(self, colour: str) -> float:
        """Share of ``colour``: over all pixels, and for a chromatic colour also over the lit
        ones (whichever is larger; a shadowed red car is still red)."""
        s = self.all.get(colour, 0.0)
        return s if colour in ACHROMATIC else max(s, self.lit.get(colour, 0.0))

    def text(self, top: int = 3) -> str:
        parts = sorted(self.all.items(), key=lambda kv: -kv[1])[:top]
        return ", ".join(f"{c} {round(100 * s)}%" for c, s in parts if s >= 0.05) or "no dominant colour"


def _rasterise(box: tuple[int, int, int, int], polygons: Any) -> np.ndarray:
    """Boolean mask of ``polygons`` (pixel coordinates) inside the crop ``box``."""
    from PIL import Image, ImageDraw

    x0, y0, x1, y1 = box
    img = Image.new("L", (x1 - x0, y1 - y0), 0)
    draw = ImageDraw.Draw(img)
    for poly in polygons:
        pts = [(poly[k] - x0, poly[k + 1] - y0) for k in range(0, len(poly) - 1, 2)]
        if len(pts) >= 3:
            draw.polygon(pts, fill=1)
    return np.asarray(img, dtype=bool)


class PixelsResolver:
    """Judges colour claims from the pixels under instance masks or boxes.

    Args:
        image_cache: decoded images kept (LRU).
        shares_cache: per-(image, class) shares kept (LRU).
    """

    name: ClassVar[str] = "pixels"
    kinds: ClassVar[frozenset[str]] = frozenset({ClaimKind.COLOUR.value})

    def __init__(self, image_cache: int = 8, shares_cache: int = 1024):
        import importlib.util

        if importlib.util.find_spec("PIL") is None:
            from caption_audit.errors import ConfigError

            raise ConfigError("the 'pixels' resolver needs Pillow: pip install 'caption-audit[detect]'")
        self._images: OrderedDict[str, np.ndarray | str] = OrderedDict()
        self._shares: OrderedDict[tuple[str, str], list[_Shares] | str] = OrderedDict()
        self._image_cache, self._shares_cache = image_cache, shares_cache

    # ----------------------------------------------------------------- pixels
    def _image(self, path: str) -> np.ndarray | str:
        """The decoded RGB array, or the reason it could not be read."""
        hit = self._images.get(path)
        if hit is not None:
            self._images.move_to_end(path)
            return hit
        from PIL import Image

        try:
            with Image.open(path) as im:
                arr: np.ndarray | str = np.asarray(im.convert("RGB"))
        except Exception as exc:  # unreadable, truncated or oversized image: recorded, not raised
            arr = f"image could not be read ({type(exc).__name__})"
        self._images[path] = arr
        if len(self._images) > self._image_cache:
            self._images.popitem(last=False)
        return arr

    def instance_shares(self, ev: ImageEvidence, subject: str) -> list[_Shares] | str | None:
        """Shares per instance of ``subject`` (cached), a reason string when the image cannot
        be read, or ``None`` when nothing of the class can be located."""
        if not ev.image_path:
            return None
        key = (ev.image_path, subject)
        if key in self._shares:
            self._shares.move_to_end(key)
            return self._shares[key]
        insts = [i for i in ev.instances.get(subject, []) if not i.get("iscrowd")]
        regions: list[tuple[Any, Any, str]] = [(i.get("bbox"), i.get("segmentation"), i.get("normalized", False))
                                               for i in insts if i.get("bbox") is not None]
        detector = False
        if not regions and not ev.instances.get(subject) and ev.detector is not None:
            hit = ev.detector.lookup(subject)
            if hit is not None and hit[0] and hit[2] is not None:
                regions, detector = [(hit[2], None, False)], True
        if not regions:
            return None
        img = self._image(ev.image_path)
        if isinstance(img, str):
            out: list[_Shares] | str = img
        else:
            out = [self._region(img, bbox, seg, norm, detector) for bbox, seg, norm in regions]
        self._shares[key] = out
        if len(self._shares) > self._shares_cache:
            self._shares.popitem(last=False)
        return out

    @staticmethod
    def _region(img: np.ndarray, bbox: Any, seg: Any, normalized: bool, detector: bool) -> _Shares:
        h, w = img.shape[:2]
        sx, sy = (w, h) if normalized else (1.0, 1.0)
        x0 = max(0, min(w, int(np.floor(bbox[0] * sx))))
        y0 = max(0, min(h, int(np.floor(bbox[1] * sy))))
        x1 = max(0, min(w, int(np.ceil(bbox[2] * sx))))
        y1 = max(0, min(h, int(np.ceil(bbox[3] * sy))))
        crop = img[y0:y1, x0:x1]
        if crop.size and seg:
            polys = [tuple(v * (sx if k % 2 == 0 else sy) for k, v in enumerate(p)) for p in seg] if normalized else seg
            mask = _rasterise((x0, y0, x1, y1), polys)
            if mask.any():
                return _Shares(crop[mask], "mask")
        return _Shares(crop.reshape(-1, 3), "detector box" if detector else "box")

    # ---------------------------------------------------------------- verdict
    def resolve(self, claim: Claim, caption_id: str, ev: ImageEvidence) -> Resolution | None:
        """Judge a colour claim (value ``"red"`` or ``"black+white"``) on the subject's pixels."""
        del caption_id
        if claim.kind != ClaimKind.COLOUR:
            return None
        colours = [c for c in claim.value.split("+") if c]
        if not colours or any(c not in COLOURS for c in colours):
            return None
        crowd = claim.subject in ev.crowd
        got = self.instance_shares(ev, claim.subject)
        if got is None:
            return None
        if isinstance(got, str):
            return Resolution(ClaimVerdict.UNVERIFIABLE.value, self.name, got, 0.0)
        subj = claim.subject
        need = SUPPORT_SHARE if len(colours) == 1 else SUPPORT_SHARE_MULTI

        def score(s: _Shares) -> float:
            return min(s.share(c) for c in colours)

        best = max(got, key=score)
        src = best.source
        if src == "mask" and score(best) >= need or src != "mask" and score(best) >= max(need, SUPPORT_SHARE_BOX):
            conf = 0.85 if src == "mask" else 0.5
            return Resolution(ClaimVerdict.SUPPORTED.value, self.name, f"{src}: {best.text()}", conf)

        def absent(s: _Shares, c: str) -> bool:
            return sum(s.share(x) for x in NEIGHBOURS[c]) < ABSENT_SHARE

        def judged(s: _Shares, c: str) -> bool:
            return s.n >= MIN_PIXELS and (c in ACHROMATIC or s.n_lit >= MIN_PIXELS)

        def dominated(s: _Shares, c: str) -> str | None:
            """Another hue, not adjacent to ``c``, on >= DOMINANT_SHARE of ``s`` while ``c`` is absent."""
            if c not in HUES or s.source != "mask" or s.share(c) >= ABSENT_SHARE:
                return None  # a box's dominant hue may be the background's
            others = [(s.share(d), d) for d in DOMINATORS - ADJACENT[c] - {c}]
            top = max(others)
            return top[1] if top[0] >= DOMINANT_SHARE else None

        missing = [c for c in colours if all(judged(s, c) and absent(s, c) for s in got)]
        n = len(got)
        where = f"{src}" if n == 1 else f"{n} {subj} ({', '.join(sorted({s.source for s in got}))})"
        if missing and not crowd:
            conf = 0.8 if all(s.source == "mask" for s in got) else 0.6
            return Resolution(ClaimVerdict.CONTRADICTED.value, self.name,
                              f"{where}: no {'/'.join(missing)}; {best.text()}", conf)
        # each instance is evidence against the hue: it lacks it (and its neighbours) or another hue dominates
        over = {c: [dominated(s, c) for s in got] for c in colours if c in HUES}
        over = {c: ds for c, ds in over.items()
                if any(ds) and all(judged(s, c) and (d or absent(s, c)) for s, d in zip(got, ds, strict=True))}
        if over and not crowd:
            c, ds = next(iter(over.items()))
            conf = 0.75 if all(s.source == "mask" for s in got) else 0.6  # a box: lacks the hue and neighbours
            return Resolution(ClaimVerdict.CONTRADICTED.value, self.name,
                              f"{where}: no {c}, mostly {'/'.join(sorted({d for d in ds if d}))}; {best.text()}",
                              conf)
        if len(colours) == 1 and not crowd:
            c = colours[0]
            if all(s.source == "mask" and judged(s, c) for s in got):
                # achromatic colours are renamed into each other by lighting (white in shade is grey)
                same = {c} | (near(c) if c in ACHROMATIC else set())
                top = max(sum(s.share(x) for x in same) for s in got)
                if top < WEAK_SHARE:
                    return Resolution(ClaimVerdict.CONTRADICTED.value, self.name,
                                      f"{where}: little {c} ({round(100 * top)}%); {best.text()}", WEAK_CONFIDENCE)
        reason = "" if not crowd else " (a crowd region is not checked)"
        return Resolution(ClaimVerdict.UNVERIFIABLE.value, self.name, f"{where}: {best.text()}{reason}", 0.0)

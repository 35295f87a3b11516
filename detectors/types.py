"""The one detection type every backend returns: parallel numpy arrays, no backend objects.

Modelled on supervision's ``Detections`` (parallel arrays, boolean-mask indexing, ``empty`` /
``merge``), kept small: backend adapters live in ``detectors.backends``, not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _obj_array(values: Sequence[str] | np.ndarray) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = [str(v) for v in values]
    return arr


@dataclass(eq=False)
class Detections:
    """Detections of one image.

    Attributes:
        xyxy: ``(N, 4)`` float32 boxes ``x1, y1, x2, y2`` in pixels of the original image.
        scores: ``(N,)`` float32 confidences in ``[0, 1]`` (1.0 for ground truth).
        phrases: ``(N,)`` object array of str: the text the detector matched (e.g. ``"hot dog"``).
        canonical: ``(N,)`` object array of str: the canonical class the phrase maps to.
        image_size: ``(width, height)`` of the original image in pixels.
        metadata: collection-level info (detector name, model id, thresholds, ...); plain
            JSON-able values only.

    Indexing with an int, a slice, an index list or a boolean mask returns a new
    ``Detections`` (``det[det.scores > 0.5]``), like numpy.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    phrases: np.ndarray
    canonical: np.ndarray
    image_size: tuple[int, int]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        self.xyxy = xyxy.reshape(0, 4) if xyxy.size == 0 else xyxy
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.phrases = _obj_array(list(self.phrases))
        self.canonical = _obj_array(list(self.canonical))
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {self.xyxy.shape}")
        n = len(self.xyxy)
        for name in ("scores", "phrases", "canonical"):
            got = len(getattr(self, name))
            if got != n:
                raise ValueError(f"{name} has {got} entries but xyxy has {n} boxes")
        if len(self.image_size) != 2:
            raise ValueError(f"image_size must be (width, height), got {self.image_size!r}")
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))

    # -- construction -------------------------------------------------------------------
    @classmethod
    def empty(cls, image_size: tuple[int, int] = (0, 0), **metadata: Any) -> Detections:
        """No detections for an image of ``image_size``."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), [], [], image_size, metadata)

    @classmethod
    def merge(cls, items: Sequence[Detections]) -> Detections:
        """Concatenate detections of the same image (e.g. from several prompt chunks).

        Raises:
            ValueError: when ``items`` is empty or the image sizes differ.
        """
        if not items:
            raise ValueError("merge() needs at least one Detections")
        sizes = {d.image_size for d in items}
        if len(sizes) > 1:
            raise ValueError(f"cannot merge detections of different image sizes: {sorted(sizes)}")
        metadata: dict[str, Any] = {}
        for d in items:
            metadata.update(d.metadata)
        return cls(
            np.concatenate([d.xyxy for d in items]),
            np.concatenate([d.scores for d in items]),
            [p for d in items for p in d.phrases],
            [c for d in items for c in d.canonical],
            items[0].image_size,
            metadata,
        )

    # -- access -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.xyxy)

    def is_empty(self) -> bool:
        return len(self) == 0

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Detections:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        idx = np.asarray(np.arange(len(self))[index]).reshape(-1)
        return Detections(
            self.xyxy[idx], self.scores[idx], self.phrases[idx], self.canonical[idx],
            self.image_size, dict(self.metadata),
        )  # fmt: skip

    @property
    def area(self) -> np.ndarray:
        """``(N,)`` box areas in square pixels."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def classes(self) -> list[str]:
        """Distinct canonical classes, in order of first appearance."""
        return list(dict.fromkeys(self.canonical.tolist()))

    def best_for(self, canonical: str) -> tuple[float, tuple[float, float, float, float]] | None:
        """The highest-scoring detection of ``canonical`` as ``(score, xyxy)``, or ``None``."""
        mask = self.canonical == canonical
        if not mask.any():
            return None
        i = int(np.flatnonzero(mask)[np.argmax(self.scores[mask])])
        x1, y1, x2, y2 = (float(v) for v in self.xyxy[i])
        return float(self.scores[i]), (x1, y1, x2, y2)

    def equals(self, other: Detections, *, atol: float = 1e-5) -> bool:
        """Same boxes/scores within ``atol``, same phrases, classes and image size."""
        return (
            len(self) == len(other)
            and self.image_size == other.image_size
            and self.phrases.tolist() == other.phrases.tolist()
            and self.canonical.tolist() == other.canonical.tolist()
            and np.allclose(self.xyxy, other.xyxy, atol=atol * max(1.0, *self.image_size))
            and np.allclose(self.scores, other.scores, atol=atol)
        )

    # -- (de)serialisation for the cache --------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (floats as Python floats; float32 values round-trip exactly)."""
        return {
            "xyxy": self.xyxy.tolist(),
            "scores": self.scores.tolist(),
            "phrases": self.phrases.tolist(),
            "canonical": self.canonical.tolist(),
            "image_size": list(self.image_size),
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Detections:
        """Inverse of :meth:`to_dict`."""
        return cls(
            np.asarray(data["xyxy"], dtype=np.float32).reshape(-1, 4),
            np.asarray(data["scores"], dtype=np.float32),
            data["phrases"],
            data["canonical"],
            tuple(data["image_size"]),  # type: ignore[arg-type]
            dict(data.get("metadata") or {}),
        )

    def __repr__(self) -> str:
        return (
            f"Detections(n={len(self)}, image_size={self.image_size}, "
            f"classes={self.classes()[:5]}{'...' if len(self.classes()) > 5 else ''})"
        )

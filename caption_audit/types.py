"""Plain records that flow through the audit: ingest -> parse -> detect -> score -> report.

Every stage takes and returns these types only; no spaCy, torch or pandas objects cross a
stage boundary. Image ids are always strings produced by
:func:`caption_audit.ingest.ids.normalize_image_id`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Verdict(StrEnum):
    """What the audit concludes about one object mention."""

    SUPPORTED = "supported"
    """The object is in the image's evidence (ground truth and/or a detector)."""
    HALLUCINATED = "hallucinated"
    """The caption asserts the object, evidence was available for it, and it is absent."""
    UNVERIFIABLE = "unverifiable"
    """No evidence can judge it (open-vocabulary word, negated, non-visual, no ground truth)."""


class Vocab(StrEnum):
    COCO80 = "coco80"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class Caption:
    """One input caption.

    Attributes:
        caption_id: unique within a run (loaders build one when the file has none).
        image_id: normalised image id (see ``normalize_image_id``).
        source: caption source name, e.g. ``coco``, ``llava``, ``sharegpt4v``.
        text: the caption text; ``None`` when the record had no usable text.
        origin: where it came from, ``"path:line"`` or ``"path:record N"``.
        error: ``None`` for a good record, else the reason it cannot be scored; such a
            caption is kept and written with status ``skipped: <error>``.
        image_file: the image path as written in the input, when there is one.
    """

    caption_id: str
    image_id: str
    source: str
    text: str | None
    origin: str = ""
    error: str | None = None
    image_file: str | None = None


@dataclass(frozen=True, slots=True)
class GTObject:
    """One ground-truth object of an image.

    Attributes:
        image_id: normalised image id.
        category: object name as given by the annotation (e.g. a COCO category name).
        bbox: ``(x1, y1, x2, y2)``; pixels unless ``normalized`` is true, then fractions of
            the image width/height. ``None`` for name-only annotations.
        normalized: whether ``bbox`` is in [0, 1] image fractions.
        origin: ``instances``, ``caps_boxes``, ``objects`` or ``chair_captions``.
        segmentation: COCO polygons in the same units as ``bbox``, each a flat
            ``(x1, y1, x2, y2, ...)`` tuple; ``None`` when the annotation has none (or has an RLE
            mask, as COCO crowd regions do).
        iscrowd: a COCO ``iscrowd`` region (a group labelled as one; counts are then a lower
            bound).
        area: the annotation's mask area in pixels, when given.
    """

    image_id: str
    category: str
    bbox: tuple[float, float, float, float] | None = None
    normalized: bool = False
    origin: str = "instances"
    segmentation: tuple[tuple[float, ...], ...] | None = None
    iscrowd: bool = False
    area: float | None = None


class NamedObjects(Sequence[GTObject]):
    """Name-only ground-truth objects (no boxes, no crowd flag) held as two columns.

    A name-only table such as CHAIR's ``imid_to_objects`` lists ~400k objects; holding them as
    ``image_ids`` / ``labels`` lists instead of one :class:`GTObject` each saves most of its
    load time. It reads as a sequence of ``GTObject(image_id, label, None, False, origin)``
    (built on access), and compares equal to a list of the same objects.
    """

    __slots__ = ("image_ids", "labels", "origin")

    def __init__(self, origin: str = "objects") -> None:
        self.image_ids: list[str] = []
        self.labels: list[str] = []
        self.origin = origin

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return list(self)[i]
        return GTObject(self.image_ids[i], self.labels[i], None, False, self.origin)

    def __iter__(self) -> Iterator[GTObject]:
        origin = self.origin
        for image_id, label in zip(self.image_ids, self.labels, strict=True):
            yield GTObject(image_id, label, None, False, origin)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple, NamedObjects)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"NamedObjects({len(self)} objects, origin={self.origin!r})"


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """An image known to a ground-truth file (it may have zero objects)."""

    image_id: str
    file_name: str | None = None
    width: int | None = None
    height: int | None = None


class ImageIds(Sequence[ImageInfo]):
    """Images known by id only (no file name, no size), held as one column of ids.

    A ``{image_id: [names]}`` table such as CHAIR's lists 123k images; one frozen
    :class:`ImageInfo` each costs most of the time spent reading it. It reads as a sequence of
    ``ImageInfo(image_id)`` (built on access) and compares equal to a list of the same.
    """

    __slots__ = ("image_ids",)

    def __init__(self, image_ids: Iterable[str] = ()) -> None:
        self.image_ids: list[str] = list(image_ids)

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [ImageInfo(x) for x in self.image_ids[i]]
        return ImageInfo(self.image_ids[i])

    def __iter__(self) -> Iterator[ImageInfo]:
        return map(ImageInfo, self.image_ids)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ImageIds):
            return self.image_ids == other.image_ids
        if isinstance(other, (list, tuple)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ImageIds({len(self)} images)"


@dataclass(slots=True)
class Mention:
    """One object mention found in a caption's text.

    Attributes:
        start, end: character offsets into the caption text (``text[start:end]``).
        text: surface text of the mention, e.g. ``"two hot dogs"`` minus the count -> ``"hot dogs"``.
        lemma: singular lower-case form, e.g. ``"hot dog"``.
        canonical: vocabulary concept, e.g. the COCO class ``"hot dog"``, or the open word.
        vocab: ``coco80`` or ``open``.
        count: number stated for it (``"two dogs"`` -> 2), ``None`` if none.
        negated: asserted absent (``"no people"``, ``"without a car"``).
        hedged: asserted with doubt (``"possibly a cat"``, ``"appears to be a dog"``).
        nonvisual: a word that names no visible object in this use.

    Text fields only: what the audit concludes about a mention is a
    :class:`caption_audit.scoring.verdicts.MentionVerdict`, aligned by index.
    """

    start: int
    end: int
    text: str
    lemma: str
    canonical: str
    vocab: str
    count: int | None = None
    negated: bool = False
    hedged: bool = False
    nonvisual: bool = False


@dataclass(slots=True)
class ParsedCaption:
    """The text stage's output for one caption."""

    mentions: list[Mention] = field(default_factory=list)
    n_words: int = 0
    n_chars: int = 0
    claims: list[Claim] = field(default_factory=list)


# ---------------------------------------------------------------------------- claims
class ClaimKind(StrEnum):
    """What a claim asserts about its subject (see docs/claims.md)."""

    OBJECT = "object"
    """A COCO-80 object exists ("a dog")."""
    OPEN_OBJECT = "open_object"
    """An open-vocabulary thing exists ("a wooden fence")."""
    COUNT = "count"
    """How many of the subject there are ("three giraffes", "several cows")."""
    COLOUR = "colour"
    """The colour of the subject ("a red bus", "a dog that is brown")."""
    IDENTITY = "identity"
    """A finer kind inside a class: person gender/age ("a woman", "a toddler")."""
    RELATION = "relation"
    """A spatial relation between two subjects ("a cat on a couch")."""


class ClaimVerdict(StrEnum):
    """What the evidence says about one claim. Precision first: *contradicted* only on clear
    evidence; otherwise *unverifiable* with the reason in the evidence."""

    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    UNVERIFIABLE = "unverifiable"
    UNSUPPORTED_BY_REFS = "unsupported_by_refs"
    """An open-vocabulary thing that no reference caption mentions and no detector found:
    a verdict of its own, never counted as hallucinated."""


@dataclass(frozen=True, slots=True)
class Claim:
    """One checkable statement in a caption, found by the text stage (no scoring fields).

    Attributes:
        kind: a :class:`ClaimKind` value.
        start, end: character span of the claim's words in the caption (``"three giraffes"``,
            ``"red"``, ``"woman"``).
        subject: canonical name of the subject (``"giraffe"``, ``"bus"``, ``"person"``, or an
            open-vocabulary word such as ``"fence"``).
        value: the stated value, normalised: count ``"3"`` or a vague range ``"3-7"`` /
            ``"3+"``; colour category (``"red"``; several joined by ``"+"`` for "black and
            white"); identity ``"gender:female"`` / ``"age:child"`` (several joined by ``"|"``);
            ``""`` for object claims. Relations: ``"<predicate>:<object canonical>"``.
        mention: index into ``ParsedCaption.mentions`` of the subject mention, ``-1`` if none.
        text: surface text of the claim words.
        hedged: stated with doubt ("possibly", "A or B").
    """

    kind: str
    start: int
    end: int
    subject: str
    value: str
    mention: int = -1
    text: str = ""
    hedged: bool = False


@dataclass(frozen=True, slots=True)
class Resolution:
    """One resolver's answer about one claim.

    Attributes:
        verdict: a :class:`ClaimVerdict` value.
        resolver: the resolver's registered name (``instances``, ``pixels``, ``references``,
            ``detector``).
        evidence: short human-readable evidence, e.g. ``"instances: 1 giraffe"``,
            ``"mask: white 71%, grey 18%"``, ``"refs: woman 4, person 1"``.
        confidence: 0..1, how sure the resolver is of ``verdict``.
    """

    verdict: str
    resolver: str
    evidence: str
    confidence: float

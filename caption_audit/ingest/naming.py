"""Source names for the caption files of one run: two files never merge silently into one source.

A captions file without an explicit source gets its format's default name (``coco``, ``llava``,
``sharegpt4v``; the file stem for ``generic_captions``; the dataset folder for ``hf_dataset``).
When two files of a run would get the same default name — three OPERA ``greedy.jsonl`` files in
``llava-1.5/``, ``minigpt4/``, ``shikra/`` — each gets the shortest distinguishing tail of its path:

* a stem default becomes ``<parent>/<stem>`` (``llava-1.5/greedy``; more folders when needed);
* a fixed default becomes ``<default>/<stem>`` (``llava/detail_23k``, ``llava/complex_reasoning_77k``).

A name the user gives twice (``--source blip2=part1.jsonl --source blip2=part2.jsonl``) pools those
files into one source on purpose; that is allowed, and always reported as a warning.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

#: The source name a format gives its captions when none is given; ``None``: the file's own name.
DEFAULT_SOURCES: dict[str, str | None] = {
    "coco_captions": "coco",
    "llava_conversations": "llava",
    "llava_bench": "llava",
    "llava_qa30x3": "llava",
    "llava_caps_boxes": "coco",
    "sharegpt4v": "sharegpt4v",
    "generic_captions": None,
    "hf_dataset": None,
}

#: Formats whose stem default can be renamed without overriding a record-level ``source`` field.
_NAME_OPTION = ("generic_captions", "hf_dataset")


def _parts(path: str | Path) -> list[str]:
    """Folders and stem of a path (``/a/llava-1.5/greedy.jsonl.gz`` -> ``[..., 'llava-1.5', 'greedy']``)."""
    p = Path(path).expanduser().resolve()
    name = p.name[:-3] if p.name.endswith(".gz") else p.name
    stem = Path(name).stem if not p.is_dir() else name
    return [*p.parent.parts[1:], stem]


def _tails(paths: list[str | Path], start: int = 1) -> list[str]:
    """The shortest path tails (at least ``start`` parts: ``stem``, ``parent/stem``, …) that tell
    the paths apart; ``~k`` for the same path twice."""
    parts = [_parts(p) for p in paths]
    longest = max(len(p) for p in parts)
    for k in range(min(start, longest), longest + 1):
        tails = ["/".join(p[-k:]) for p in parts]
        if len(set(tails)) == len(tails):
            return tails
    tails = ["/".join(p) for p in parts]
    seen: Counter[str] = Counter()
    out = []
    for t in tails:
        seen[t] += 1
        out.append(t if seen[t] == 1 else f"{t}~{seen[t]}")
    return out


def default_source(fmt: str | None, path: str | Path) -> str:
    """The source name a captions file gets when none is given."""
    base = DEFAULT_SOURCES.get(fmt or "")
    return base if base else _parts(path)[-1]


def fixed_source(fmt: str | None, source: str | None) -> str | None:
    """The one source name every caption of a file gets (its given ``source``, else its
    format's fixed default), or ``None`` when its records may name their own or the name
    depends on the file (``generic_captions``, ``hf_dataset``, an unknown format)."""
    return source or DEFAULT_SOURCES.get(fmt or "")


def assign_source_names(specs: list[Any]) -> tuple[list[Any], list[str]]:
    """Give every captions spec (a frozen dataclass with ``.path``, ``.format``, ``.source``,
    ``.options``) a distinct name; returns new specs (``dataclasses.replace``), in order.

    Specs with an explicit ``source`` keep it. Specs whose default name collides with another
    spec's name get a distinguishing name (see the module docstring): ``source`` for fixed
    defaults, the ``name`` option for stem defaults (so a record's own ``source`` field still
    wins). ``options`` dicts are replaced, never mutated.

    Returns:
        ``(specs, warnings)``: warnings are one per name given to several files (pooled on
        purpose), one per renaming.
    """
    import dataclasses

    warnings: list[str] = []
    explicit: dict[str, list[str]] = defaultdict(list)
    for s in specs:
        if s.source:
            explicit[s.source].append(str(s.path))
    for name, paths in explicit.items():
        if len(paths) > 1:
            warnings.append(f"source '{name}' was given to {len(paths)} files; their captions are pooled "
                            f"into one source: {', '.join(paths)}")
    defaults = {id(s): default_source(s.format, s.path) for s in specs if not s.source}
    count = Counter(defaults.values())
    groups: dict[str, list[Any]] = defaultdict(list)
    renamed: dict[int, Any] = {}
    for s in specs:
        d = defaults.get(id(s))
        if d is not None and (count[d] > 1 or d in explicit):
            groups[d].append(s)
    for base, group in groups.items():
        stem = [DEFAULT_SOURCES.get(s.format or "") is None for s in group]
        tails = _tails([s.path for s in group], start=2 if any(stem) else 1)
        names = []
        for s, tail, stem_default in zip(group, tails, stem, strict=True):
            new = tail if stem_default else f"{base}/{tail}"
            if new == base or new in explicit:
                new = f"{new}~{len(names) + 2}"
            if stem_default and (s.format in _NAME_OPTION):
                renamed[id(s)] = dataclasses.replace(s, options={**s.options, "name": new})
            else:
                renamed[id(s)] = dataclasses.replace(s, source=new)
            names.append(new)
        warnings.append(f"{len(group)} captions files would all be source '{base}'; named them "
                        f"{', '.join(repr(n) for n in names)} (choose names with --source NAME=PATH)")
    return [renamed.get(id(s), s) for s in specs], warnings

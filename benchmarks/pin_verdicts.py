"""Pin the text stage's mentions on real captions, so parser changes show every caption they move.

Runs ``CaptionParser(use_parser=True)`` on the 6,000 OPERA LVLM captions
(``opera/chair_eval_results/*/*.jsonl``) and the 25,014 COCO val2017 captions
(``coco_val2017_captions/captions_val2017.json``) and records, per caption, a short hash of its
mentions as ``(canonical, vocab, negated, hedged, nonvisual)`` tuples in text order.

    python benchmarks/pin_verdicts.py write          # (re)write tests/data/golden/mentions.json.gz
    python benchmarks/pin_verdicts.py diff [--show N] # captions whose mentions differ from the golden

The golden is written from the base commit once; after that, every intended change is listed in
``tests/data/golden/allowed_changes.tsv`` (``key<TAB>fix<TAB>note``) with the fix that caused it,
and ``tests/test_pin_verdicts.py`` demands equality for every other caption.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))
GOLDEN = REPO / "tests" / "data" / "golden" / "mentions.json.gz"
ALLOWED = REPO / "tests" / "data" / "golden" / "allowed_changes.tsv"


def load_captions(shared: Path = SHARED) -> list[tuple[str, str]]:
    """``(key, text)`` for every pinned caption; keys are stable across runs."""
    out: list[tuple[str, str]] = []
    base = shared / "opera" / "chair_eval_results"
    for f in sorted(glob.glob(str(base / "*" / "*.jsonl"))):
        rel = Path(f).relative_to(base).as_posix()
        with open(f, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    out.append((f"opera/{rel}:{n}", json.loads(line)["caption"]))
    with open(shared / "coco_val2017_captions" / "captions_val2017.json", encoding="utf-8") as fh:
        for a in json.load(fh)["annotations"]:
            out.append((f"coco:{a['id']}", a["caption"]))
    return out


def mention_tuples(parsed) -> list[tuple]:
    """The pinned reading of one caption."""
    return [(m.canonical, m.vocab, m.negated, m.hedged, m.nonvisual) for m in parsed.mentions]


def digest(tuples: list[tuple]) -> str:
    """10-hex-digit hash of a caption's mention tuples."""
    return hashlib.blake2b(repr(tuples).encode(), digest_size=5).hexdigest()


def parse_all(captions: list[tuple[str, str]], batch_size: int = 512) -> list[list[tuple]]:
    """Mention tuples per caption (statistical pass on, as in a real run)."""
    from caption_audit.text.parse import CaptionParser

    parser = CaptionParser(use_parser=True, batch_size=batch_size)
    out: list[list[tuple]] = []
    texts = [t for _, t in captions]
    for i in range(0, len(texts), batch_size):
        out.extend(mention_tuples(p) for p in parser.parse(texts[i : i + batch_size]))
    return out


def read_golden(path: Path = GOLDEN) -> dict[str, str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)["hashes"]


def read_allowed(path: Path = ALLOWED) -> dict[str, str]:
    """``key -> fix`` of the captions a listed parser fix is allowed to change."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, fix, *_ = line.split("\t")
            out[key] = fix
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["write", "diff"])
    ap.add_argument("--show", type=int, default=0, help="print this many changed captions with their mentions")
    ap.add_argument("--tsv", help="diff: write the changed keys as allowed_changes rows (fix column '?') here")
    a = ap.parse_args(argv)
    captions = load_captions()
    tuples = parse_all(captions)
    if a.mode == "write":
        hashes = {k: digest(t) for (k, _), t in zip(captions, tuples, strict=True)}
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(GOLDEN, "wt", encoding="utf-8") as fh:
            json.dump({"fields": ["canonical", "vocab", "negated", "hedged", "nonvisual"], "hashes": hashes}, fh,
                      separators=(",", ":"))
        print(f"wrote {len(hashes)} captions to {GOLDEN} ({GOLDEN.stat().st_size} bytes)")
        return 0
    golden, allowed = read_golden(), read_allowed()
    changed = [(k, text, t) for (k, text), t in zip(captions, tuples, strict=True) if golden.get(k) != digest(t)]
    unlisted = [c for c in changed if c[0] not in allowed]
    print(f"{len(changed)} captions changed, {len(unlisted)} not in {ALLOWED.name}")
    for k, text, t in unlisted[: a.show]:
        print(f"--- {k}\n{text}\n{[x for x in t if x[1] == 'coco80']}")
    if a.tsv:
        with open(a.tsv, "w", encoding="utf-8") as fh:
            for k, text, _ in changed:
                fh.write(f"{k}\t{allowed.get(k, '?')}\t{' '.join(text.split())[:120]}\n")
    return 0 if not unlisted else 1


if __name__ == "__main__":
    sys.exit(main())

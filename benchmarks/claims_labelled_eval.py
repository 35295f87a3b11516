"""Claim-level P/R of a run on the hand-labelled set, split into a dev and a held-out half.

The split is by image (tests/data/claims_labelled/README.md, "Dev and held-out halves"): an
image is held out when ``int(sha256(image_id))`` is odd (:func:`split_of`; 21 of the 42
images each); rules are tuned on dev only and the held-out half checks them.

    python benchmarks/claims_labelled_eval.py RUN [--labels tests/data/claims_labelled/labels.jsonl]
        [--split dev|heldout|all ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "tests" / "data" / "claims_labelled" / "labels.jsonl"


def split_of(image_id: str) -> str:
    """``"dev"`` or ``"heldout"``: the parity of ``int(sha256(image_id))`` (stable, by image)."""
    return "heldout" if int(hashlib.sha256(str(image_id).encode()).hexdigest(), 16) % 2 else "dev"


def image_of(caption_id: str) -> str:
    """``cl-000139-1`` -> ``"139"`` (the labelled set's caption id scheme)."""
    return str(int(caption_id.split("-")[1]))


def split_labels(labels: Path, split: str, dest: Path) -> Path:
    """Write the rows of ``labels`` in ``split`` (``all`` keeps every row) to ``dest``."""
    rows = [line for line in labels.read_text().splitlines() if line.strip()]
    keep = [r for r in rows if split == "all" or split_of(image_of(json.loads(r)["caption_id"])) == split]
    dest.write_text("\n".join(keep) + "\n")
    return dest


def main() -> None:
    from caption_audit.semantic.evaluate_claims import evaluate_claims, format_claims_result

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--split", nargs="+", default=["dev", "heldout", "all"], choices=["dev", "heldout", "all"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for split in args.split:
            path = split_labels(args.labels, split, Path(tmp) / f"{split}.jsonl")
            print(f"== {split}")
            print(format_claims_result(evaluate_claims(args.run, path)))


if __name__ == "__main__":
    main()

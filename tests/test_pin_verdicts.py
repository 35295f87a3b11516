"""Every parser change is deliberate: mentions on 31,014 real captions equal the pinned golden,
except captions listed in tests/data/golden/allowed_changes.tsv with the fix that changed them."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO, shared

_spec = importlib.util.spec_from_file_location("pin_verdicts", REPO / "benchmarks" / "pin_verdicts.py")
pin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pin)

# the fixes a caption may be listed under (docs/vocabulary.md names each)
FIXES = {"toilet-seat", "non-referential", "noun-modifier", "wrong-sense", "animal-kin", "hyphen-prefix",
         "man-made", "or-list", "synonym", "open-words"}


def test_allowed_changes_name_a_fix():
    allowed = pin.read_allowed()
    named = {f for v in allowed.values() for f in v.split("+")}
    assert named <= FIXES, named - FIXES


def test_mentions_match_golden():
    shared("opera", "chair_eval_results")
    shared("coco_val2017_captions", "captions_val2017.json")
    captions = pin.load_captions(pin.SHARED)
    golden, allowed = pin.read_golden(), pin.read_allowed()
    assert len(golden) == len(captions) == 31014
    tuples = pin.parse_all(captions)
    changed = [k for (k, _), t in zip(captions, tuples, strict=True) if golden[k] != pin.digest(t)]
    unlisted = [k for k in changed if k not in allowed]
    assert not unlisted, f"{len(unlisted)} captions changed by no listed fix, e.g. {unlisted[:5]}"
    stale = set(allowed) - set(changed)
    assert not stale, f"allowed_changes lists captions that no longer change: {sorted(stale)[:5]}"

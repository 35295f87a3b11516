"""Every (word -> COCO class, score, count) that candidate nouns map to, for docs/semantic.md.

Texts: the 6,000 LVLM captions of ``opera/chair_eval_results/*/*.jsonl`` and the LLaVA-Bench
COCO captions + GPT-4 detail descriptions (see semantic_report.py). Candidates come from
:func:`caption_audit.semantic.candidates.noun_candidates`, mapping from the default
:class:`~caption_audit.semantic.mapping.SemanticMapper`, exactly as ``run --semantic`` does.

    python benchmarks/semantic_candidates.py [--data ../shared/data] [--examples]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data")))
    ap.add_argument("--examples", action="store_true", help="print one context per mapping")
    args = ap.parse_args(argv)

    from semantic_report import load

    from caption_audit.semantic.candidates import noun_candidates
    from caption_audit.semantic.embedder import Embedder
    from caption_audit.semantic.mapping import SemanticMapper
    from caption_audit.text.parse import CaptionParser

    sets: dict[str, list[str]] = {"opera": [], "llava-bench": []}
    for f in sorted(glob.glob(str(args.data / "opera" / "chair_eval_results" / "*" / "*.jsonl"))):
        sets["opera"] += [json.loads(line)["caption"] for line in Path(f).read_text().splitlines()]
    boxes, gpt4 = load(args.data)
    sets["llava-bench"] = [c for b in boxes for c in b["captions"]] + list(gpt4.values())
    parser = CaptionParser(use_parser=False)
    mapper = SemanticMapper(Embedder(cache_dir=False))
    for name, texts in sets.items():
        parsed = parser.parse(texts)
        n_cand = 0
        for t, p in zip(texts, parsed, strict=True):
            extra = noun_candidates(t, p)
            n_cand += len(extra)
            p.mentions = extra  # map the candidates only
        found: Counter = Counter()
        neg: Counter = Counter()
        example: dict = {}
        score: dict = {}
        for m in mapper.map_mentions(parsed):
            key = (m.phrase, m.cls)
            found[key] += 1
            score[key] = m.score
            mention = parsed[m.caption].mentions[m.mention]
            neg[key] += mention.negated or mention.hedged
            t = texts[m.caption]
            example.setdefault(key, t[max(0, mention.start - 40):mention.end + 20].replace("\n", " "))
        distinct = len({mm.lemma for p in parsed for mm in p.mentions})
        print(f"## {name}: {len(texts)} texts, {n_cand} candidates ({distinct} distinct), "
              f"{sum(found.values())} mapped ({len(found)} distinct)")
        by_cls = defaultdict(list)
        for (w, c), n in found.most_common():
            by_cls[c].append((w, n))
            print(f"  {w} -> {c}  {score[(w, c)]:.3f}  x{n}" + (f" (negated/hedged {neg[(w, c)]})" if neg[(w, c)] else "")
                  + (f"   | ...{example[(w, c)]}..." if args.examples else ""))


if __name__ == "__main__":
    main()

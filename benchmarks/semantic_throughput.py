"""Text-stage throughput with and without semantic mapping (docs/semantic.md).

    python benchmarks/semantic_throughput.py [--data ../shared/data]

Parses every OPERA caption file (12 x 500 long LVLM descriptions) in batches of 1000 with
CaptionParser, then again with SemanticMapper.map_mentions (+ find_broad_mentions) after each
batch. The MiniLM model is loaded before timing (a one-off 1-20 s cost reported separately); the
embedding cache starts empty.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data")))
    args = ap.parse_args()
    from caption_audit.semantic.embedder import Embedder
    from caption_audit.semantic.hypernyms import find_broad_mentions
    from caption_audit.semantic.mapping import SemanticMapper
    from caption_audit.text.parse import CaptionParser

    texts = []
    for f in sorted((args.data / "opera" / "chair_eval_results").glob("*/*.jsonl")):
        texts += [json.loads(line)["caption"] for line in f.open() if line.strip()]
    batches = [texts[i : i + 1000] for i in range(0, len(texts), 1000)]
    parser = CaptionParser()
    parser.parse(["warm up the spaCy model."])
    t0 = time.perf_counter()
    emb = Embedder(cache_dir=False)
    emb.encode(["warm up"])
    load_s = time.perf_counter() - t0
    mapper = SemanticMapper(emb)
    t0 = time.perf_counter()
    mapper.map_phrases(["x"])  # class prototypes + anchors
    proto_s = time.perf_counter() - t0

    def run(semantic: bool) -> float:
        t = time.perf_counter()
        for b in batches:
            parsed = parser.parse(b)
            if semantic:
                mapper.map_mentions(parsed)
                for text, p in zip(b, parsed, strict=True):
                    p.mentions.extend(find_broad_mentions(text, p))
        return time.perf_counter() - t

    plain = run(False)
    sem = run(True)
    plain2 = run(False)
    base = min(plain, plain2)
    print(f"{len(texts)} captions, {sum(len(t.split()) for t in texts) / len(texts):.0f} words on average")
    print(f"model load {load_s:.1f} s, prototypes {proto_s:.2f} s (one-off)")
    print(f"parse only:        {base:.1f} s ({len(texts) / base:.0f} captions/s)")
    print(f"parse + semantic:  {sem:.1f} s ({len(texts) / sem:.0f} captions/s), slowdown {100 * (sem / base - 1):.1f}%")
    print(f"phrases looked up {mapper.stats['phrases']}, distinct encoded {emb.stats['encoded']}, mapped {mapper.stats['mapped']}")


if __name__ == "__main__":
    main()

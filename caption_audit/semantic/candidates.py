"""Candidate open-vocabulary nouns for semantic mapping, found without the spaCy parser.

The lexical pass reports only words its vocabulary knows, and the open-vocabulary ones are
reject anchors of :class:`~caption_audit.semantic.mapping.SemanticMapper`, so without extra
candidates nothing is ever mapped. :func:`noun_candidates` proposes the head noun of short
determiner phrases ("a *telly*", "two small *puppies*", "her *rucksack*"): the last word of a
run of at most three words after a determiner, number or possessive, ended by punctuation, a
preposition, a conjunction, a verb-like word or the end of the text.

The pipeline (``--semantic``) adds these candidates before mapping and drops every candidate the
mapper did not map, so they never add open-vocabulary noise to ``mentions.parquet``.
"""

from __future__ import annotations

import functools
import re

from caption_audit.text.vocab import Vocabulary, default_vocabulary
from caption_audit.types import Mention, ParsedCaption


def _w(words: str) -> frozenset[str]:
    return frozenset(words.split())


_NUMBERS = _w("two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
              "sixteen seventeen eighteen nineteen twenty thirty forty fifty hundred dozen")
DETERMINERS = _NUMBERS | _w("a an the this that these those some several many few his her their its my your our "
                            "another each every both multiple various numerous no any one")
NEGATIONS = _w("no without not nor neither never")
HEDGES = _w("possibly perhaps maybe probably likely presumably apparently appears appear seems seem "
            "might could may resembles resemble")
# words that end a determiner run (besides punctuation and the end of the text)
BOUNDARIES = _w(
    # prepositions and conjunctions
    "of in on at by for with without from to into onto over under above below near next beside behind "
    "between among around along across through toward towards against inside outside atop upon up down "
    "off out underneath beneath beyond via like as than and or but nor while whereas so yet "
    # relative words and pronouns
    "which who whom whose where when that what there here it they he she we you i "
    # verb-like words
    "is are was were be been being am has have had do does did can could will would shall should may "
    "might must sits sit stands stand lies lie holds hold looks look appears appear seems seem rests rest "
    "hangs hang walks walk rides ride plays play eats eat waits wait flies fly runs run stays stay "
    "features feature shows show contains contain includes include wears wear carries carry "
    "covers cover surrounds surround leans lean grazes graze swims swim adds add"
)
_TOKEN = re.compile(r"[A-Za-z]+(?:[-'][A-Za-z]+)*|\d+(?:[.,]\d+)?|[^\sA-Za-z\d]")


def _verb_or_adverb(w: str) -> bool:
    """-ing / -ed / -ly forms ("skiing", "parked", "nearly"), but not short nouns (ring, sled, telly)."""
    return (w.endswith("ing") and len(w) > 5) or (w.endswith("ed") and (len(w) > 4 or w.endswith("ied"))) or (w.endswith("ly") and len(w) > 5)


@functools.lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS  # a plain set: no model is loaded

    return frozenset(STOP_WORDS)


def singular(word: str) -> str:
    """A plausible singular of a lower-case plural ("puppies" -> "puppy", "benches" -> "bench").

    Words that do not look plural ("glass", "bus", "tennis") are returned unchanged.
    """
    if len(word) <= 3 or word.endswith(("ss", "us", "is", "ous")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def _is_word(tok: str) -> bool:
    return tok[0].isalpha()


def _known(vocab: Vocabulary, w: str) -> bool:
    """A one-word entry of the vocabulary (COCO word, open word or rule): the lexical pass decided."""
    return any(len(key) == 1 for key, _ in vocab.table.get(w, ()))


def noun_candidates(text: str, parsed: ParsedCaption, vocab: Vocabulary | None = None) -> list[Mention]:
    """Head nouns of short determiner phrases that overlap no existing mention.

    Words the vocabulary knows (in the singular or as written) are not candidates: where the
    lexical pass reported no mention for them ("the *baby* elephant", "an *orange* parking
    meter"), that was its decision.

    Args:
        text: the caption.
        parsed: its lexical parse (only ``mentions`` is read, for the overlap test).
        vocab: the compiled vocabulary (default: the packaged one).

    Returns:
        New mentions, in text order, with ``vocab="open"``, ``canonical = lemma`` = the
        lower-case singular word, exact character offsets, ``negated`` when "no", "without",
        "not", "nor", "neither" or "never" is the determiner or among the three words before it,
        and ``hedged`` when "possibly", "perhaps", "appears (to be)", ... is among them.

    Example:
        >>> from caption_audit.types import ParsedCaption
        >>> [(m.text, m.lemma) for m in noun_candidates("There is no telly near two settees.", ParsedCaption())]
        [('telly', 'telly'), ('settees', 'settee')]
    """
    stop = _stop_words()
    vocab = vocab or default_vocabulary()
    toks = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text or "")]
    lows = [t[0].lower() for t in toks]
    taken = [(m.start, m.end) for m in parsed.mentions]
    out: list[Mention] = []
    n = len(toks)
    i = 0
    while i < n:
        det = lows[i]
        if det not in DETERMINERS and not det.isdigit() and not det.endswith("'s"):
            i += 1
            continue
        # collect the run after the determiner
        run: list[int] = []
        j = i + 1
        while j < n and len(run) <= 3:
            w = lows[j]
            if not _is_word(toks[j][0]) or w in BOUNDARIES or w in DETERMINERS or w.endswith("'s"):
                break
            if run and _verb_or_adverb(w):  # "a man sitting", "the car parked": a verb
                break
            run.append(j)
            j += 1
        if not run or len(run) > 3:
            i = max(j, i + 1)
            continue
        head = run[-1]
        word, s, e = toks[head]
        w = lows[head]
        if (word.isalpha() and len(w) >= 3 and w not in stop and not _verb_or_adverb(w)
                and not any(s < te and ts < e for ts, te in taken)):
            before: list[str] = [det]
            k = i - 1
            while k >= 0 and len(before) < 4 and _is_word(toks[k][0]):
                before.append(lows[k])
                k -= 1
            lemma = singular(w)
            if _known(vocab, w) or _known(vocab, lemma):
                i = j
                continue
            out.append(Mention(start=s, end=e, text=word, lemma=lemma, canonical=lemma, vocab="open",
                               negated=any(b in NEGATIONS for b in before),
                               hedged=any(b in HEDGES for b in before[1:])))
        i = j
    return out

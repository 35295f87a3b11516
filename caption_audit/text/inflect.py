"""English plural forms for vocabulary entries.

We never singularise caption words (CHAIR's ``pattern.en.singularize`` turns "bus" into "bu"
and "glass" into "glas"). Instead every vocabulary entry is *pluralised* once, and both forms
are looked up. Only the last word of a phrase inflects ("hot dogs", "wine glasses").
"""

from __future__ import annotations

IRREGULAR: dict[str, str] = {
    "person": "people",
    "child": "children",
    "man": "men",
    "woman": "women",
    "mouse": "mice",
    "foot": "feet",
    "tooth": "teeth",
    "goose": "geese",
    "ox": "oxen",
    "louse": "lice",
    "die": "dice",
    "cactus": "cacti",
    "fungus": "fungi",
    "grandchild": "grandchildren",
    "leaf": "leaves",
    "loaf": "loaves",
    "knife": "knives",
    "pocketknife": "pocketknives",
    "wife": "wives",
    "life": "lives",
    "shelf": "shelves",
    "wolf": "wolves",
    "calf": "calves",
    "half": "halves",
    "scarf": "scarves",
    "elf": "elves",
    "potato": "potatoes",
    "tomato": "tomatoes",
    "hero": "heroes",
    "echo": "echoes",
    "volcano": "volcanoes",
}
# Same form in singular and plural, or already plural (listed so no "-s" form is invented).
INVARIANT: frozenset[str] = frozenset(
    {"sheep", "deer", "fish", "bison", "cattle", "skis", "scissors", "people", "children", "sushi",
     "broccoli", "luggage", "glasses", "sunglasses", "eyeglasses", "pants", "jeans", "shorts",
     "headphones", "fries", "series", "species", "aircraft", "watercraft", "moose", "salmon",
     "trout", "police", "clothes", "stairs", "goggles", "binoculars", "tongs", "news", "equipment",
     "furniture", "rice", "corn", "grass", "sand", "snow", "water", "milk", "juice", "bread", "meat",
     "cheese", "coffee", "tea", "crowd", "cutlery", "silverware", "produce", "wine", "beer", "soda"}
)
_MAN_EXCEPTIONS = frozenset({"human", "german", "shaman", "caiman", "talisman", "ottoman"})


def pluralize(word: str) -> str:
    """Plural of a single lower-case word (English regular rules plus an irregular table)."""
    if word in INVARIANT:
        return word
    if word in IRREGULAR:
        return IRREGULAR[word]
    if word.endswith("man") and word not in _MAN_EXCEPTIONS:
        return word[:-3] + "men"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def phrase_forms(phrase: str) -> list[str]:
    """Singular and plural surface forms of a (possibly multi-word) phrase."""
    words = phrase.split()
    plural = " ".join([*words[:-1], pluralize(words[-1])])
    return [phrase] if plural == phrase else [phrase, plural]

"""Claim extraction (text/claims.py): one row per rule and per trap."""

from __future__ import annotations

import resource
import time

import pytest


def claims(parser, text, kind=None):
    (res,) = parser.parse([text])
    for c in res.claims:
        assert text[c.start : c.end] == c.text
    return [(c.subject, c.value) for c in res.claims if kind is None or c.kind == kind]


OBJECTS = [
    ("A dog on a couch.", [("object", "dog"), ("object", "couch")]),
    ("A lamp next to a dog.", [("open_object", "lamp"), ("object", "dog")]),
    ("There are no people, but a dog.", [("object", "dog")]),  # negated: no claim
    ("A painting of a horse.", [("open_object", "painting")]),  # depicted horse: no claim
    ("A stuffed dog.", []),
]


@pytest.mark.parametrize(("text", "want"), OBJECTS, ids=[t for t, _ in OBJECTS])
def test_object_claims(parser, text, want):
    (res,) = parser.parse([text])
    got = [(c.kind, c.subject) for c in res.claims if c.kind in ("object", "open_object")]
    assert got == want


COUNTS = [
    ("Three giraffes stand in a field.", [("giraffe", "3")]),
    ("12 donuts in a box.", [("donut", "12")]),
    ("Three large brown cows graze.", [("cow", "3")]),
    ("A pair of shoes and a pair of skis.", [("skis", "1")]),  # one COCO instance of skis; shoe is open: "2"
    ("Several cows graze.", [("cow", "3-7")]),
    ("A few cups on a table.", [("cup", "2-4")]),
    ("A group of people.", [("person", "3+")]),
    ("A herd of elephants.", [("elephant", "3+")]),
    ("Dozens of birds.", [("bird", "20+")]),
    ("A couple of dogs.", [("dog", "2")]),
    ("There is one dog on the bed.", [("dog", "1")]),  # "one" as a total
    ("A single cat sleeps.", [("cat", "1")]),
    ("Two men and a dog.", [("person", "2")]),  # the count belongs to "men"
    # traps
    ("A dog and another dog.", []),  # "a" is never a total
    ("A four-door truck.", []),  # compound modifier
    ("A four door truck.", []),
    ("A two-story building with a one-way sign.", []),
    ("A man in a three-piece suit.", []),
    ("A three piece suit.", []),
    ("One bowl holds rice, another holds soup.", []),  # enumeration
    ("One of the dogs is asleep.", []),  # partitive
    ("Three men; two of the men wear hats.", [("person", "3")]),  # partitive "two of the men"
    ("A single bed in a room.", []),  # bed size, not a count
    ("A motorcycle and several other motorcycles.", []),  # a part, not the total
    ("Two more dogs arrive.", [("dog", "3+")]),  # "more": at least one more than two, in all
    ("A dog sleeps while two other dogs play.", [("dog", "3+")]),
    ("A bike and three additional bikes.", [("bicycle", "4+")]),
    ("Two black and white cows graze.", [("cow", "2")]),  # a joiner between colours goes on
    ("Two black or white dogs.", [("dog", "2")]),
    ("A black and white dog and two cats.", [("cat", "2")]),  # "and" after "dog" still breaks
    ("A table with place settings for 7 people.", []),  # a capacity, not a count
    ("A table for two.", []),
    ("Two slices of pizza.", []),  # the count is of slices
    ("There are no two dogs alike.", []),  # negated mention
    # collectives: "a family of five" counts people; a noun after the number is counted instead
    ("A family of five gathers around a dining table.", [("person", "5")]),
    ("A family of four sitting on a couch with a dog.", [("person", "4")]),
    ("A crowd of 20 watches a kite.", [("person", "20")]),
    ("A family of five elephants walk by a lake.", [("elephant", "5")]),
    ("A team of four young players on a field.", [("person", "4")]),  # "four young players"
    ("A family of one at a table.", []),
    ("Four persons sitting on dining table for cake.", [("person", "4")]),  # "persons" is a person word
]


@pytest.mark.parametrize(("text", "want"), COUNTS, ids=[t for t, _ in COUNTS])
def test_count_claims(parser, text, want):
    got = [c for c in claims(parser, text, "count") if c[0] != "shoe"]
    assert got == want


COLOURS = [
    ("A red bus on the street.", [("bus", "red")]),
    ("A black and white dog.", [("dog", "black+white")]),
    ("A red-and-blue umbrella.", [("umbrella", "blue+red")]),
    ("A dog that is brown.", [("dog", "brown")]),
    ("The bus is blue.", [("bus", "blue")]),
    ("A dark red car.", [("car", "red")]),  # modifier dropped
    ("A grey cat and a gray dog.", [("cat", "grey"), ("dog", "grey")]),  # variants
    ("A navy boat with a silver car.", [("boat", "blue"), ("car", "grey")]),
    ("A red double decker bus.", [("bus", "red")]),  # words between colour and noun
    ("An orange cat sleeps on a sofa.", [("cat", "orange")]),  # colour, not the fruit
    ("A man in a red shirt.", [("shirt", "red")]),  # open-vocabulary subject
    ("Possibly a red car.", [("car", "red")]),
    # traps
    ("A bowl of oranges and an orange.", []),  # the fruit
    ("A glass of orange juice.", []),
    ("A car stops at a red light.", []),  # traffic light
    ("A glass of white wine.", []),
    ("A man in a black tie.", []),
    ("A hot dog with mustard.", []),
    ("A black man and a white woman.", []),  # never a colour claim about a person
    ("A black bear in the woods.", []),  # species name (black bears are often brown)
    ("Two brown bears swim in a pool below a waterfall.", [("bear", "brown")]),  # a brown bear is brown
    ("A child in a yellow raincoat rides a skateboard.", [("raincoat", "yellow")]),  # open words (issue #10)
    ("A woman in a pink blouse lights the candles.", [("blouse", "pink")]),
    ("An old man holds a red card and a knife.", [("card", "red")]),
    ("The car is not red.", []),  # only a verbal negation: the car is a plain mention, but "not" breaks the copula
    ("There is no red car.", []),  # negated subject
    ("A red painting of a horse.", [("painting", "red")]),
]


@pytest.mark.parametrize(("text", "want"), COLOURS, ids=[t for t, _ in COLOURS])
def test_colour_claims(parser, text, want):
    assert claims(parser, text, "colour") == want


def test_hedged_colour(parser):
    (res,) = parser.parse(["Possibly a red car."])
    (c,) = [c for c in res.claims if c.kind == "colour"]
    assert c.hedged and c.text == "red" and res.mentions[c.mention].canonical == "car"


IDENTITY = [
    ("A man and a woman.", [("person", "gender:male"), ("person", "gender:female")]),
    ("Two men.", [("person", "gender:male")]),
    ("People walk on the street.", []),
    ("A crowd watches.", []),
    ("A baby elephant follows its mother.", []),  # animal, no identity claim
    ("An old man.", [("person", "age:elderly|gender:male")]),
    ("A little girl and a boy.", [("person", "age:child|gender:female"), ("person", "age:child|gender:male")]),
    ("A toddler and a baby.", [("person", "age:child"), ("person", "age:baby")]),
    ("An elderly woman.", [("person", "age:elderly|gender:female")]),
    ("A skier on a slope.", []),  # no gender or age
    ("There is no man here.", []),
    ("A middle aged man takes a selfie.", [("person", "gender:male")]),  # "aged" is no age modifier
]


@pytest.mark.parametrize(("text", "want"), IDENTITY, ids=[t for t, _ in IDENTITY])
def test_identity_claims(parser, text, want):
    assert claims(parser, text, "identity") == want


def test_claims_in_text_order_and_linked(parser):
    text = "Two red buses and an old man, possibly a cat."
    (res,) = parser.parse([text])
    assert [c.start for c in res.claims] == sorted(c.start for c in res.claims)
    kinds = [(c.kind, c.subject, c.value) for c in res.claims]
    assert kinds == [("count", "bus", "2"), ("colour", "bus", "red"), ("object", "bus", ""),
                     ("identity", "person", "age:elderly|gender:male"), ("object", "person", ""), ("object", "cat", "")]
    assert res.claims[-1].hedged
    for c in res.claims:
        assert res.mentions[c.mention].canonical == c.subject


def test_claims_can_be_turned_off():
    from caption_audit.text.parse import CaptionParser

    (res,) = CaptionParser(claims=False).parse(["Two red buses."])
    assert res.claims == [] and res.mentions


SENTENCE = "Three brown dogs and a red bus near two men, possibly a cat or a dog. "


@pytest.mark.slow
@pytest.mark.parametrize(("text", "n_claims"), [
    (SENTENCE * (1_000_000 // len(SENTENCE)), 10 * (1_000_000 // len(SENTENCE))),  # ~1 MB, many sentences
    (("a dog and three cats near a red bus " * 12_500).strip(), None),  # 100k words, one sentence
], ids=["1MB", "100k-words-one-sentence"])
def test_long_captions_are_linear(parser, text, n_claims):
    """A 977 KB caption once took > 13 min (quantity_of re-tokenised the text per mention)."""
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    (res,) = parser.parse([text])
    elapsed = time.perf_counter() - t0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    assert res.claims and (n_claims is None or len(res.claims) == n_claims)
    assert elapsed < 20, elapsed  # ~5 s here on a shared 2-core machine
    assert grown_mb < 800, grown_mb

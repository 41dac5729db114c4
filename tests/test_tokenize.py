import random
import re
import sys

import pytest
from nltk.tokenize import TreebankWordTokenizer

from weaksup.text.clean import clean_text
from weaksup.text.tokenize import tokenize

NLTK = TreebankWordTokenizer()
CONTRACTIONS = ["cannot", "gimme", "gonna", "gotta", "lemme", "wanna"]
NEAR_MISSES = ["can", "canno", "cannotx", "xcannot", "wannabe", "gonnaa", "agotta", "gim", "lem", "na", "not", "me"]
APOSTROPHE_FORMS = ["can't", "d'ye", "more'n", "'tis", "'twas", "don't", "they'll", "it's", "wanna'", "'gonna'"]
WORDS = [
    "sunset", "beach", "Paris", "night", "Café", "crème", "brûlée", "İstanbul", "ıslak", "straße", "Łódź", "øre",
    "Москва", "улица", "Ελλάδα", "θάλασσα", "東京", "タワー", "ガラス", "北京", "한국어", "서울", "مرحبا", "שלום",
    "नमस्ते", "ภาษาไทย", "ქართული", "Ⅻ", "ﬁne", "ＡＢＣ", "x²", "IMG_1234", "2015", "❤️", "🗽", "#travel",
]
SEPARATORS = [" ", " ", " ", "", "  ", "\t", "\n", "\u00a0", "\u3000", ",", ".", "'", "\"", "-", "--", "#", "(", ")",
              "...", "?", "!", ":", ";", "&", "$"]


def _spelling(rng: random.Random, word: str) -> str:
    """Return `word` with random letter case, and sometimes "İ" or "ı" for "i"."""
    letters = []
    for letter in word:
        choice = rng.random()
        if letter == "i" and choice < 0.2:
            letters.append(rng.choice("İı"))
        else:
            letters.append(letter.upper() if choice < 0.4 else letter)
    return "".join(letters)


def _caption(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(0, 12)):
        pool = rng.random()
        if pool < 0.35:
            pieces.append(_spelling(rng, rng.choice(CONTRACTIONS)))
        elif pool < 0.45:
            pieces.append(rng.choice(NEAR_MISSES))
        elif pool < 0.55:
            pieces.append(rng.choice(APOSTROPHE_FORMS))
        else:
            pieces.append(rng.choice(WORDS))
        pieces.append(rng.choice(SEPARATORS))
    return "".join(pieces)


def _fixed_captions() -> list[str]:
    """Return every contraction at the start, middle and end, alone, repeated, and next to non-ASCII letters."""
    captions = ["", " ", "\t\n"]
    for word in CONTRACTIONS:
        for spelling in (word, word.upper(), word.capitalize(), word.replace("i", "ı"), word.replace("i", "İ")):
            captions += [
                spelling, f"{spelling} x", f"x {spelling}", f"x {spelling} y", f"é{spelling}", f"{spelling}é",
                f"ı{spelling}", f"{spelling}ß", f"{spelling} {spelling}", f"{spelling}{spelling}", f"東京{spelling}",
                f"{spelling}.", f"{spelling},", f"{spelling}'", f"'{spelling}", f"({spelling})", f"{spelling}!",
            ]
    return captions


@pytest.fixture(scope="module")
def captions() -> list[str]:
    rng = random.Random(2016)
    return _fixed_captions() + [_caption(rng) for _ in range(20_000)]


def test_corpus_covers_contractions(captions):
    cleaned = [clean_text(caption) for caption in captions]
    split_captions = sum(1 for caption in cleaned if len(tokenize(caption)) != len(caption.split()))
    assert len(captions) >= 20_000
    assert split_captions > 5_000


def test_tokenize_matches_nltk_on_cleaned(captions):
    mismatches = []
    for caption in captions:
        cleaned = clean_text(caption)
        if tokenize(cleaned) != NLTK.tokenize(cleaned):
            mismatches.append(cleaned)
    assert mismatches[:5] == []


def test_tokenize_matches_nltk_on_raw(captions):
    mismatches = [caption for caption in captions if tokenize(caption) != NLTK.tokenize(caption)]
    assert mismatches[:5] == []


def test_tokenize_every_whitespace_character():
    spaces = [chr(code_point) for code_point in range(sys.maxunicode + 1) if chr(code_point).isspace()]
    for space in spaces:
        for text in (f"wanna{space}x", f"x{space}cannot", f"{space}gotta{space}"):
            assert tokenize(text) == NLTK.tokenize(text), repr(text)


def test_tokenize_every_case_insensitive_lookalike():
    # Every character that `re` with IGNORECASE matches to a letter of a contraction, put in that letter's place.
    letters = sorted(set("".join(CONTRACTIONS)))
    any_letter = re.compile("(?i)[" + "".join(letters) + "]")
    lookalikes = [chr(cp) for cp in range(sys.maxunicode + 1) if any_letter.fullmatch(chr(cp))]
    assert "ı" in lookalikes
    for word in CONTRACTIONS:
        for position, letter in enumerate(word):
            for char in lookalikes:
                if re.fullmatch(f"(?i){letter}", char):
                    text = f"a {word[:position]}{char}{word[position + 1:]} b"
                    assert tokenize(text) == NLTK.tokenize(text), repr(text)


def test_tokenize_examples():
    assert tokenize("i cannot wait") == ["i", "can", "not", "wait"]
    assert tokenize("wanna gonna gotta") == ["wan", "na", "gon", "na", "got", "ta"]
    assert tokenize("gimme lemme") == ["gim", "me", "lem", "me"]
    assert tokenize("wannabe écannot") == ["wannabe", "écannot"]
    assert tokenize("") == []


def test_nltk_contraction_rules_unchanged():
    # The fast path implements exactly these rules; a new nltk release that changes them must be reviewed.
    assert [pattern.pattern for pattern in TreebankWordTokenizer.CONTRACTIONS2] == [
        r"(?i)\b(can)(?#X)(not)\b",
        r"(?i)\b(d)(?#X)('ye)\b",
        r"(?i)\b(gim)(?#X)(me)\b",
        r"(?i)\b(gon)(?#X)(na)\b",
        r"(?i)\b(got)(?#X)(ta)\b",
        r"(?i)\b(lem)(?#X)(me)\b",
        r"(?i)\b(more)(?#X)('n)\b",
        r"(?i)\b(wan)(?#X)(na)(?=\s)",
    ]
    assert [pattern.pattern for pattern in TreebankWordTokenizer.CONTRACTIONS3] == [
        r"(?i) ('t)(?#X)(is)\b",
        r"(?i) ('t)(?#X)(was)\b",
    ]

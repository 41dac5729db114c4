import random
import sys

import pytest

from weaksup.text.clean import clean_text

EXAMPLES = [
    # accents
    ("Café crème brûlée", "cafe creme brulee"),
    ("Ελληνικά κείμενο", "ελληνικα κειμενο"),
    ("İstanbul", "istanbul"),
    # letters without a Unicode decomposition keep their shape
    ("Straße Øre Łódź", "straße øre łodz"),
    # hashtags, digits, punctuation
    ("#sunset #Beach2015", "sunset beach"),
    ("IMG_1234.JPG", "img jpg"),
    ("Hello, world! (really?) -- don't", "hello world really don t"),
    ("a_b-c/d+e=f", "a b c d e f"),
    # emoji and other symbols
    ("I ❤️ NYC 🗽✨", "i nyc"),
    ("price: 5€ © ° → ★", "price"),
    # compatibility characters: ligature, full-width letters, superscript digit, Roman numeral, trade mark
    ("ﬁne ＡＢＣ x²", "fine abc x"),
    ("Chapter Ⅻ", "chapter xii"),
    ("Brand™", "brandtm"),
    # other scripts
    ("Москва — столица", "москва столица"),
    ("東京タワー 2019年", "東京タワー 年"),
    ("한국어 텍스트", "한국어 텍스트"),
    ("مرحبا بالعالم", "مرحبا بالعالم"),
    ("ภาษาไทย", "ภาษาไทย"),
    # whitespace
    ("  \t\n ", ""),
    ("", ""),
    ("one\ttwo\nthree\u00a0four\u2003five", "one two three four five"),
]


@pytest.mark.parametrize("raw, expected", EXAMPLES)
def test_clean_text_examples(raw, expected):
    assert clean_text(raw) == expected


def test_clean_text_drops_indic_vowel_signs():
    # Vowel signs and the virama are combining marks: deleting them keeps each word whole.
    assert clean_text("नमस्ते दुनिया") == "नमसत दनय"


def test_clean_text_kana_voicing_dropped():
    assert clean_text("ガラス") == "カラス"


def _is_clean(text: str) -> bool:
    return all(char.isalpha() or char == " " for char in text) and "  " not in text and text == text.strip()


def test_clean_text_every_code_point():
    # Each code point alone and between two letters: the output is letters and single spaces, lower case, and a
    # fixed point of clean_text.
    failures = []
    for code_point in range(sys.maxunicode + 1):
        char = chr(code_point)
        for text in (char, f"A{char}b"):
            cleaned = clean_text(text)
            if not _is_clean(cleaned) or cleaned != cleaned.lower() or clean_text(cleaned) != cleaned:
                failures.append((hex(code_point), cleaned))
    assert failures == []


def test_clean_text_random_strings_idempotent():
    rng = random.Random(3)
    alphabet = "aZé\u0301\u0307İıß1#, \t가\u1100\u1161ि\u093fñ😀"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        cleaned = clean_text(text)
        assert _is_clean(cleaned), repr(text)
        assert clean_text(cleaned) == cleaned, repr(text)

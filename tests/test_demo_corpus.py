"""Tests of the offline demo corpus: determinism, labels, text noise, images and the glyph catalogue."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageFont

from weaksup.corpus import demo
from weaksup.corpus.shards import ImageStore, read_shard_text
from weaksup.images import decode_rgb

NUM_PHOTOS = 300
LANGUAGES = ["en", "fr", "de", "es", "it"]
CONFIG = dict(seed=7, image_size=64, languages=LANGUAGES, max_glyphs=200)
SHARD_SUFFIXES = (".tar", ".tsv", ".index.npy", ".labels.tsv")


def _build(directory: Path, num_shards: int, shards: range | None = None, **overrides) -> list[dict]:
    config = demo.DemoConfig(**{**CONFIG, **overrides})
    return [
        demo.build_demo_shard(directory / f"shard-{i:05d}.tar", i, num_shards, NUM_PHOTOS, config)
        for i in (shards if shards is not None else range(num_shards))
    ]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    """Build the same corpus as one shard (twice) and as two shards."""
    dirs = {name: tmp_path_factory.mktemp(name) for name in ("one", "one_again", "two")}
    _build(dirs["one"], 1)
    _build(dirs["one_again"], 1)
    _build(dirs["two"], 2)
    return dirs


@pytest.fixture(scope="module")
def photos(corpora) -> list[tuple]:
    """(PhotoText, language, hexcodes) of every photo of the one-shard corpus."""
    texts = list(read_shard_text(corpora["one"] / "shard-00000.tsv"))
    labels = list(demo.read_demo_labels(corpora["one"] / "shard-00000.labels.tsv"))
    return [(text, language, hexcodes) for text, (_, language, hexcodes) in zip(texts, labels)]


@pytest.fixture(scope="module")
def catalogue_by_hexcode() -> dict[str, demo.Glyph]:
    return {g.hexcode: g for g in demo.load_glyph_catalog(LANGUAGES, CONFIG["max_glyphs"])}


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+", text.casefold())


def test_rebuilt_shard_is_byte_identical(corpora):
    for suffix in SHARD_SUFFIXES:
        first = (corpora["one"] / f"shard-00000{suffix}").read_bytes()
        second = (corpora["one_again"] / f"shard-00000{suffix}").read_bytes()
        assert first == second, f"shard-00000{suffix} differs between two builds"


def test_two_shards_hold_same_photos(corpora):
    one_text = (corpora["one"] / "shard-00000.tsv").read_text("utf-8").splitlines()
    two_text = [line for i in range(2)
                for line in (corpora["two"] / f"shard-{i:05d}.tsv").read_text("utf-8").splitlines()[1:]]
    assert one_text[1:] == two_text

    one_labels = (corpora["one"] / "shard-00000.labels.tsv").read_text("utf-8").splitlines()
    two_labels = [line for i in range(2)
                  for line in (corpora["two"] / f"shard-{i:05d}.labels.tsv").read_text("utf-8").splitlines()[1:]]
    assert one_labels[1:] == two_labels

    one_store = ImageStore([corpora["one"] / "shard-00000.tar"])
    two_store = ImageStore([corpora["two"] / f"shard-{i:05d}.tar" for i in range(2)])
    assert len(one_store) == len(two_store) == NUM_PHOTOS
    for photo in range(NUM_PHOTOS):
        assert one_store.read(photo) == two_store.read(photo), f"photo {photo} differs"


def test_shard_ranges_are_contiguous(corpora):
    first = [t.photo_id for t in read_shard_text(corpora["two"] / "shard-00000.tsv")]
    second = [t.photo_id for t in read_shard_text(corpora["two"] / "shard-00001.tsv")]
    assert first == [f"demo{j:08d}" for j in range(0, 150)]
    assert second == [f"demo{j:08d}" for j in range(150, 300)]


def test_photo_range_splits_evenly():
    ranges = [demo.photo_range(i, 3, 10) for i in range(3)]
    assert [list(r) for r in ranges] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    with pytest.raises(ValueError, match="shard_index 3"):
        demo.photo_range(3, 3, 10)


def test_stats_count_photos_and_languages(tmp_path):
    (stats,) = _build(tmp_path, 3, shards=range(1, 2))
    assert stats["photos"] == 100
    assert stats["first_photo"] == 100
    assert sum(stats["languages"].values()) == 100
    assert sum(stats["glyphs_per_photo"].values()) == 100
    assert stats["photos_per_second"] > 0


def test_several_languages_appear(photos):
    counts = Counter(language for _, language, _ in photos)
    assert set(counts) <= set(LANGUAGES)
    assert len(counts) == len(LANGUAGES)
    assert min(counts.values()) >= 20


def test_labels_have_one_to_three_glyphs(photos, catalogue_by_hexcode):
    sizes = Counter()
    for text, _, hexcodes in photos:
        assert 1 <= len(hexcodes) <= 3, text.photo_id
        assert len(set(hexcodes)) == len(hexcodes), text.photo_id
        assert all(code in catalogue_by_hexcode for code in hexcodes), text.photo_id
        sizes[len(hexcodes)] += 1
    assert set(sizes) == {1, 2, 3}


def test_text_names_a_glyph_in_its_language(photos, catalogue_by_hexcode):
    for text, language, hexcodes in photos:
        caption = text.caption().casefold()
        names = [catalogue_by_hexcode[code].names[language].casefold() for code in hexcodes]
        found = [name for name in names if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", caption)]
        assert found, f"{text.photo_id} ({language}) names none of {names}: {caption!r}"


def test_text_has_flickr_like_noise(photos):
    texts = [text for text, _, _ in photos]
    assert any(text.description == "" for text in texts)
    assert any(text.description != "" for text in texts)
    assert any(tag.startswith("#") for text in texts for tag in text.tags)
    assert any(re.search(r"\d", text.title) for text in texts)
    assert any(re.search(r"[!?.,]", text.caption()) for text in texts)
    assert any(text.caption() != text.caption().lower() for text in texts)


def test_images_decode_and_are_not_blank(corpora):
    store = ImageStore([corpora["one"] / "shard-00000.tar"])
    for photo in range(len(store)):
        pixels = np.asarray(decode_rgb(store.read(photo)), dtype=np.float32)
        assert pixels.shape == (CONFIG["image_size"], CONFIG["image_size"], 3), photo
        assert pixels.std() > 10.0, f"photo {photo} is nearly uniform"


def test_glyph_changes_the_image():
    glyph = demo.load_glyph_catalog(LANGUAGES, CONFIG["max_glyphs"])[0]
    with_glyph = demo.render_demo_image(np.random.default_rng(0), [glyph], 64)
    without = demo._draw_background(np.random.default_rng(0), 64)
    changed = np.any(np.asarray(with_glyph) != np.asarray(without), axis=-1).mean()
    assert changed > 0.05


def test_word_frequency_is_long_tailed(photos):
    counts = Counter(word for text, _, _ in photos for word in _words(text.caption()))
    frequencies = sorted(counts.values(), reverse=True)
    assert len(frequencies) > 200
    assert frequencies[0] >= 10 * statistics.median(frequencies)


def test_glyph_frequency_is_long_tailed(photos):
    counts = Counter(code for _, _, hexcodes in photos for code in hexcodes)
    frequencies = sorted(counts.values(), reverse=True)
    assert frequencies[0] >= 10 * statistics.median(frequencies)


def test_glyph_popularity_follows_zipf():
    weights = demo.glyph_popularity(50, seed=3, zipf_exponent=1.2)
    expected = 1.0 / np.arange(1, 51) ** 1.2
    assert np.allclose(np.sort(weights)[::-1], expected / expected.sum())
    assert not np.array_equal(np.argsort(-weights), np.arange(50))
    assert np.array_equal(weights, demo.glyph_popularity(50, seed=3, zipf_exponent=1.2))


def test_catalogue_excludes_flags_and_skin_tones():
    catalogue = demo.load_glyph_catalog(LANGUAGES, None)
    emojis = {g.emoji for g in catalogue}
    code_points = [ord(c) for g in catalogue for c in g.emoji]
    assert len(catalogue) > 500
    assert not any(0x1F1E6 <= cp <= 0x1F1FF for cp in code_points)
    assert not any(0xE0020 <= cp <= 0xE007F for cp in code_points)
    assert not any(0x1F3FB <= cp <= 0x1F3FF for cp in code_points)
    assert "\u200d" not in "".join(emojis)
    assert "\U0001f1eb\U0001f1f7" not in emojis
    assert "\U0001f44d\U0001f3fd" not in emojis
    assert "\U0001f44d" in emojis
    assert "\U0001f34e" in emojis


def test_catalogue_names_are_plain_words():
    catalogue = demo.load_glyph_catalog(LANGUAGES, None)
    apple = next(g for g in catalogue if g.emoji == "\U0001f34e")
    assert apple.names["fr"] == "pomme rouge"
    assert apple.names["en"] == "red apple"
    assert apple.unicode_name == "RED APPLE"
    assert apple.hexcode == "1F34E"
    for glyph in catalogue:
        for language in LANGUAGES:
            assert glyph.names[language], (glyph.hexcode, language)
            assert not re.search(r"[:_()]", glyph.names[language]), (glyph.hexcode, language)


def test_max_glyphs_keeps_an_ordered_subset():
    full = demo.load_glyph_catalog(LANGUAGES, None)
    small = demo.load_glyph_catalog(LANGUAGES, 40)
    positions = [full.index(g) for g in small]
    assert len(small) == 40
    assert positions == sorted(positions)
    assert positions[-1] - positions[0] > len(full) // 2


def test_glyph_check_rejects_blank_and_missing_glyphs():
    colr0 = ImageFont.truetype(str(demo.font_path()), 64, layout_engine=ImageFont.Layout.BASIC)
    # Pillow draws nothing from the package's COLRv1 file, so its glyphs serve as blank renders.
    colr1 = ImageFont.truetype(str(demo.font_path().with_name("glyf_colr1.ttf")), 64,
                               layout_engine=ImageFont.Layout.BASIC)
    assert demo.check_glyph_render(colr0, "\U0001f34e") is None
    assert demo.check_glyph_render(colr1, "\U0001f34e") == "blank"
    assert demo.check_glyph_render(colr0, "\U0010fffd") == "missing glyph"
    assert demo.check_glyph_render(colr0, "\U0001f34e\U0001f34e\U0001f34e") == "several glyphs"


def test_config_rejects_invalid_settings():
    with pytest.raises(ValueError, match="unknown demo corpus setting"):
        demo.DemoConfig.from_mapping({"seed": 1, "image_sise": 64})
    with pytest.raises(ValueError, match="hashtag_rate"):
        demo.DemoConfig(hashtag_rate=1.5)
    with pytest.raises(ValueError, match="unsupported language"):
        demo.DemoConfig(languages=["en", "xx"])
    with pytest.raises(ValueError, match="glyph_count_probs"):
        demo.DemoConfig(glyph_count_probs=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="language_weights"):
        demo.DemoConfig(languages=["en", "fr"], language_weights=[1.0])


def test_language_weights_select_languages(tmp_path):
    (stats,) = _build(tmp_path, 1, languages=["en", "fr"], language_weights=[1.0, 0.0])
    assert stats["languages"] == {"en": NUM_PHOTOS}


def test_shard_file_name_must_match_index(tmp_path):
    config = demo.DemoConfig(**CONFIG)
    with pytest.raises(ValueError, match="shard-00001.tar"):
        demo.build_demo_shard(tmp_path / "shard-00000.tar", 1, 2, 10, config)
    assert not list(tmp_path.iterdir())


def test_labels_reader_rejects_bad_header(tmp_path):
    path = tmp_path / "shard-00000.labels.tsv"
    path.write_text("id\tlang\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header"):
        list(demo.read_demo_labels(path))

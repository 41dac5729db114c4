"""Tests of the word-prediction figures on a tiny corpus of coloured squares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from weaksup.corpus.shards import ImageStore, PhotoText, ShardWriter, shard_stem
from weaksup.features import extract_penultimate, save_features
from weaksup.figures import figure1_random_photos, figure2_word_prediction, figure3_top_photos, figure4_tsne
from weaksup.figures.common import MISSING_GLYPH, drawable, figure_paths, wrap_field
from weaksup.figures.photos import read_rgb
from weaksup.figures.tsne import snap_to_grid
from weaksup.images import encode_jpeg, load_standardized
from weaksup.models import build_model, load_model, save_model
from weaksup.targets import TEST, TRAIN, VALIDATION, Targets, word_photo_index

DICTIONARY = ["alpha", "beta", "gamma", "delta", "epsilon"]
PHOTOS_PER_SHARD = 12
# Photos 0-13 train, 14-17 validation, 18-23 test.
SPLIT = [TRAIN] * 14 + [VALIDATION] * 4 + [TEST] * 6
EMBEDDING_DIM = 16
# A character of the tags that the figure font (DejaVu Sans) has no glyph for.
CJK_CHARACTER = "\u732b"


@dataclass
class Fixture:
    corpus_dir: Path
    targets_path: Path
    dictionary_path: Path
    model_path: Path


def write_corpus(corpus_dir: Path, rng: np.random.Generator) -> None:
    """Two shards of 64-pixel photos, each a coloured square on a background of another colour."""
    for shard in range(2):
        with ShardWriter(corpus_dir / f"{shard_stem(shard)}.tar") as writer:
            for row in range(PHOTOS_PER_SHARD):
                photo = shard * PHOTOS_PER_SHARD + row
                pixels = np.empty((64, 64, 3), dtype=np.uint8)
                pixels[:] = rng.integers(0, 256, size=3)
                top, left = rng.integers(0, 40, size=2)
                pixels[top : top + 24, left : left + 24] = rng.integers(0, 256, size=3)
                text = PhotoText(f"p{photo}", title=f"square ${photo}$ costs $5",
                                 description="a long description " * 12, tags=[DICTIONARY[photo % 5], CJK_CHARACTER])
                writer.write(text, encode_jpeg(Image.fromarray(pixels), 64))


def write_targets(path: Path) -> None:
    rows = [[photo % 5] for photo in range(len(SPLIT))]
    indptr = np.arange(len(rows) + 1, dtype=np.int64)
    words = np.array([word for row in rows for word in row], dtype=np.int64)
    split = np.array(SPLIT, dtype=np.int8)
    word_photos_indptr, word_photos = word_photo_index(indptr, words, split, len(DICTIONARY))
    Targets(indptr, words, split, word_photos_indptr, word_photos, len(DICTIONARY)).save(path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Fixture:
    root = tmp_path_factory.mktemp("figures")
    write_corpus(root / "corpus", np.random.default_rng(0))
    write_targets(root / "targets.npz")
    dictionary_path = root / "dictionary.tsv"
    dictionary_path.write_text("word\tphotos\n" + "".join(f"{word}\t{9 - i}\n" for i, word in enumerate(DICTIONARY)))

    torch.manual_seed(0)
    model = build_model("alexnet", len(DICTIONARY), width=0.1, embedding_dim=EMBEDDING_DIM)
    model_path = root / "model.pt"
    save_model(model_path, model, {"crop_size": 64, "words": DICTIONARY})
    return Fixture(root / "corpus", root / "targets.npz", dictionary_path, model_path)


def assert_figure_files(out_stem: Path) -> None:
    png_path, pdf_path = figure_paths(out_stem)
    assert png_path.read_bytes().startswith(b"\x89PNG")
    assert pdf_path.read_bytes().startswith(b"%PDF")
    assert png_path.stat().st_size > 1000
    assert pdf_path.stat().st_size > 1000


def test_figure_paths_strip_suffix():
    assert figure_paths("results/figure1.png") == (Path("results/figure1.png"), Path("results/figure1.pdf"))
    assert figure_paths("results/figure.v2") == (Path("results/figure.v2.png"), Path("results/figure.v2.pdf"))


def test_drawable_replaces_missing_glyphs():
    text, replaced = drawable(f"caf\u00e9 {CJK_CHARACTER}\n$x$")
    assert text == f"caf\u00e9 {MISSING_GLYPH}\n$x$"
    assert replaced == 1


def test_wrap_field_truncates_with_ellipsis():
    lines = wrap_field("description", "word " * 40, width=20, max_lines=2)
    assert len(lines) == 2
    assert lines[0] == "description: word"
    assert lines[-1].endswith("\u2026")
    assert max(len(line) for line in lines) <= 20


def test_read_rgb_names_corrupt_photo(tmp_path):
    with ShardWriter(tmp_path / f"{shard_stem(0)}.tar") as writer:
        writer.write(PhotoText("good"), encode_jpeg(Image.new("RGB", (8, 8), "red"), 8))
        writer.write(PhotoText("bad"), b"not a jpeg")
    store = ImageStore([tmp_path / f"{shard_stem(0)}.tar"])
    assert read_rgb(store, 0).size == (8, 8)
    with pytest.raises(ValueError, match="photo 1 \\(row 1 of .*shard-00000.tar\\) could not be decoded"):
        read_rgb(store, 1)


def test_figure1_random_training_photos(tiny, tmp_path):
    drawn = figure1_random_photos(tiny.corpus_dir, tiny.targets_path, tmp_path / "figure1", n=6, seed=3)
    assert_figure_files(tmp_path / "figure1")
    assert len(drawn["photo_numbers"]) == 6
    assert len(set(drawn["photo_numbers"])) == 6
    assert all(SPLIT[photo] == TRAIN for photo in drawn["photo_numbers"])
    assert drawn["photos"] == [f"p{photo}" for photo in drawn["photo_numbers"]]
    assert drawn["training_photos"] == 14
    assert drawn["replaced_characters"] == 6


def test_figure1_deterministic(tiny, tmp_path):
    first = figure1_random_photos(tiny.corpus_dir, tiny.targets_path, tmp_path / "a", n=4, seed=5)
    second = figure1_random_photos(tiny.corpus_dir, tiny.targets_path, tmp_path / "b", n=4, seed=5)
    other = figure1_random_photos(tiny.corpus_dir, tiny.targets_path, tmp_path / "c", n=4, seed=6)
    assert first == second
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
    assert other["photo_numbers"] != first["photo_numbers"]


def test_figure1_rejects_too_many_photos(tiny, tmp_path):
    with pytest.raises(ValueError, match="cannot draw 15 photos from the 14 training photos"):
        figure1_random_photos(tiny.corpus_dir, tiny.targets_path, tmp_path / "figure1", n=15)


def one_hot_head_model(tiny: Fixture, tmp_path: Path, dims: list[int]) -> Path:
    """Copy the fixture model with a head whose logit for word k is penultimate feature dims[k]."""
    model, meta = load_model(tiny.model_path)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        for word, dim in enumerate(dims):
            model.head.weight[word, dim] = 1.0
    path = tmp_path / "one_hot.pt"
    save_model(path, model, meta)
    return path


def split_features(tiny: Fixture, photos: list[int]) -> np.ndarray:
    model, _ = load_model(tiny.model_path)
    store = ImageStore(sorted(tiny.corpus_dir.glob("shard-*.tar")))
    images = torch.stack([load_standardized(store.read(photo), 64) for photo in photos])
    with torch.no_grad():
        return model.eval().penultimate(images).numpy()


def test_figure3_picks_highest_scoring_test_photo(tiny, tmp_path):
    test_photos = [photo for photo, split in enumerate(SPLIT) if split == TEST]
    features = split_features(tiny, test_photos)
    # The five most varied feature dimensions, so that every word has a single best photo.
    dims = np.argsort(-features.std(axis=0))[: len(DICTIONARY)].tolist()
    model_path = one_hot_head_model(tiny, tmp_path, dims)
    words = ["gamma", "alpha", "epsilon"]

    drawn = figure3_top_photos(model_path, tiny.corpus_dir, tiny.targets_path, tiny.dictionary_path, words,
                               tmp_path / "figure3", batch_size=4, workers=0, device="cpu")
    assert_figure_files(tmp_path / "figure3")
    assert drawn["words"] == words
    assert drawn["skipped_words"] == []
    assert drawn["photos_scored"] == len(test_photos)
    assert drawn["dictionary_ranks"] == [3, 1, 5]
    for index, word in enumerate(words):
        dim = dims[DICTIONARY.index(word)]
        best = int(np.argmax(features[:, dim]))
        logits = features[best, dims]
        assert drawn["photo_numbers"][index] == test_photos[best], word
        assert drawn["photos"][index] == f"p{test_photos[best]}", word
        assert drawn["scores"][index] == pytest.approx(features[best, dim], rel=1e-5), word
        assert drawn["ranks_in_photo"][index] == 1 + int(np.sum(logits > features[best, dim])), word


def test_figure3_validation_split_and_probability(tiny, tmp_path):
    drawn = figure3_top_photos(tiny.model_path, tiny.corpus_dir, tiny.targets_path, tiny.dictionary_path,
                               ["beta", "delta"], tmp_path / "figure3", split="validation", score="probability",
                               workers=0, device="cpu")
    assert drawn["photos_scored"] == 4
    assert all(SPLIT[photo] == VALIDATION for photo in drawn["photo_numbers"])
    assert all(0 < score <= 1 for score in drawn["scores"])


def test_figure3_skips_unknown_word(tiny, tmp_path):
    drawn = figure3_top_photos(tiny.model_path, tiny.corpus_dir, tiny.targets_path, tiny.dictionary_path,
                               ["beta", "zebra", "beta"], tmp_path / "figure3", workers=0, device="cpu")
    assert drawn["words"] == ["beta"]
    assert drawn["skipped_words"] == ["zebra"]
    assert len(drawn["photos"]) == 1


def test_figure3_strict_rejects_unknown_word(tiny, tmp_path):
    with pytest.raises(ValueError, match="word 'zebra' is not in dictionary .*dictionary.tsv \\(5 words\\)"):
        figure3_top_photos(tiny.model_path, tiny.corpus_dir, tiny.targets_path, tiny.dictionary_path,
                           ["beta", "zebra"], tmp_path / "figure3", strict=True, workers=0, device="cpu")


def test_figure3_rejects_other_dictionary(tiny, tmp_path):
    other = tmp_path / "other.tsv"
    other.write_text("word\tphotos\n" + "".join(f"{word}\t1\n" for word in reversed(DICTIONARY)))
    with pytest.raises(ValueError, match="trained with another dictionary .* class 0 is 'alpha' in the model"):
        figure3_top_photos(tiny.model_path, tiny.corpus_dir, tiny.targets_path, other, ["beta"],
                           tmp_path / "figure3", workers=0, device="cpu")


TABLE1 = """corpus,model,loss,K,train_photos,precision@1,precision@10,test_photos
demo,alexnet,multiclass,100,1000,2.0,3.0,50
demo,alexnet,multiclass,100,100000,4.0,6.5,50
demo,alexnet,multiclass,100,10000,3.0,5.0,50
demo,alexnet,multiclass,100,30000,3.5,,50
demo,alexnet,multiclass,100,,4.5,7.0,50
demo,alexnet,one-vs-all,100,10000,2.5,4.0,50
demo,frequency baseline,,100,,5.0,6.0,50
demo,supervised alexnet,,100,,7.0,8.0,50
demo,alexnet,multiclass,1000,10000,1.0,2.0,50
demo,frequency baseline,,1000,,3.0,4.0,50
"""


def test_figure2_sweep_and_baselines(tmp_path):
    table = tmp_path / "table1.csv"
    table.write_text(TABLE1)
    drawn = figure2_word_prediction(table, tmp_path / "figure2", K=100, arch="alexnet", loss="multiclass")
    assert_figure_files(tmp_path / "figure2")
    assert drawn["points"] == 3
    assert drawn["baselines"] == ["frequency baseline", "supervised alexnet"]
    assert drawn["skipped_rows"] == 1


def test_figure2_other_loss_and_k(tmp_path):
    table = tmp_path / "table1.csv"
    table.write_text(TABLE1)
    one_vs_all = figure2_word_prediction(table, tmp_path / "a", K=100, arch="alexnet", loss="one-vs-all")
    large_k = figure2_word_prediction(table, tmp_path / "b", K=1000, arch="alexnet", loss="multiclass")
    assert one_vs_all["points"] == 1
    assert large_k["points"] == 1
    assert large_k["baselines"] == ["frequency baseline"]


def test_figure2_rejects_missing_sweep(tmp_path):
    table = tmp_path / "table1.csv"
    table.write_text(TABLE1)
    with pytest.raises(ValueError, match="no rows with train_photos .* model 'googlenet'"):
        figure2_word_prediction(table, tmp_path / "figure2", K=100, arch="googlenet", loss="multiclass")


def test_figure2_rejects_bad_number(tmp_path):
    table = tmp_path / "table1.csv"
    table.write_text(TABLE1.replace("100,10000,3.0,5.0", "100,10000,3.0,five"))
    with pytest.raises(ValueError, match="table1.csv:4: column precision@10 is 'five'"):
        figure2_word_prediction(table, tmp_path / "figure2", K=100, arch="alexnet", loss="multiclass")


def test_figure2_rejects_missing_column(tmp_path):
    table = tmp_path / "table1.csv"
    table.write_text("model,K,precision@10\nalexnet,100,3.0\n")
    with pytest.raises(ValueError, match=r"missing columns \['loss'\]"):
        figure2_word_prediction(table, tmp_path / "figure2", K=100, arch="alexnet", loss="multiclass")


def test_snap_to_grid_keeps_lattice():
    # A 4 x 4 lattice with fill 1 maps every point to its own lattice cell; row 0 is the largest y.
    xs, ys = np.meshgrid(np.arange(4.0), np.arange(4.0))
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    cells, rows, columns = snap_to_grid(points, fill=1.0, seed=0)
    assert (rows, columns) == (4, 4)
    np.testing.assert_array_equal(cells[:, 0], 3 - points[:, 1])
    np.testing.assert_array_equal(cells[:, 1], points[:, 0])


def test_snap_to_grid_unique_cells():
    points = np.random.default_rng(0).normal(size=(300, 2))
    points[:50] = 0.0  # a pile of identical points must still spread out
    cells, rows, columns = snap_to_grid(points, fill=0.8, seed=1)
    assert rows * columns >= 300 / 0.8
    assert len({tuple(cell) for cell in cells}) == 300
    assert cells[:, 0].min() >= 0
    assert cells[:, 1].min() >= 0
    assert cells[:, 0].max() < rows
    assert cells[:, 1].max() < columns


def test_figure4_tsne_map(tiny, tmp_path):
    photos = np.arange(len(SPLIT))
    features_path = tmp_path / "features.npz"
    features = extract_penultimate(tiny.model_path, tiny.corpus_dir, photos, workers=0, device="cpu")
    save_features(features_path, features, photos)

    drawn = figure4_tsne(features_path, tiny.corpus_dir, tmp_path / "a", max_photos=20, seed=0, thumbnail_px=16,
                         iterations=250)
    again = figure4_tsne(features_path, tiny.corpus_dir, tmp_path / "b", max_photos=20, seed=0, thumbnail_px=16,
                         iterations=250)
    assert_figure_files(tmp_path / "a")
    assert drawn["photos"] == 20
    assert drawn["photos_available"] == 24
    assert drawn["grid"][0] * drawn["grid"][1] >= 20
    assert drawn["perplexity"] == pytest.approx(19 / 3)
    assert again["kl_divergence"] == drawn["kl_divergence"]
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()

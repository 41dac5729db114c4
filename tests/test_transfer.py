"""Transfer learning: prepared datasets, the per-run protocol, probes over runs, tables and figures."""

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from weaksup.transfer import demo_tasks
from weaksup.transfer.prepared import (
    IGNORED,
    MULTICLASS,
    MULTILABEL,
    NEGATIVE,
    POSITIVE,
    TEST,
    TRAIN,
    UNUSED,
    VALIDATION,
    LabelledImage,
    PreparedDataset,
    load_prepared,
    write_prepared,
)
from weaksup.transfer.probe import evaluate_transfer, per_class_average_precision
from weaksup.transfer.protocol import Protocol, run_split
from weaksup.transfer.results import write_table2, write_table3


def png(colour, size=(20, 12)):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def one_hot(class_id, num_classes):
    row = np.full(num_classes, NEGATIVE, dtype=np.int8)
    row[class_id] = POSITIVE
    return row


def multiclass_dataset(per_class=20, num_classes=3, splits=None):
    labels = np.concatenate([[one_hot(c, num_classes)] * per_class for c in range(num_classes)])
    splits = np.zeros((0, len(labels))) if splits is None else splits
    return PreparedDataset("toy", MULTICLASS, [f"c{c}" for c in range(num_classes)], labels, splits)


def test_prepared_round_trip_counts_bad_images(tmp_path):
    images = [LabelledImage(f"img{i}", lambda i=i: png((10 * i, 0, 0)), one_hot(i % 2, 2), (0,))
              for i in range(6)]
    images.insert(2, LabelledImage("broken.jpg", lambda: b"not an image", one_hot(0, 2), (0,)))
    written = write_prepared(tmp_path / "toy", "toy", MULTICLASS, ["a", "b"], images, 16, 1,
                             max_skipped_fraction=0.5)
    loaded = load_prepared(tmp_path / "toy")

    assert len(loaded) == 6
    assert loaded.info["skipped_images"] == 1
    assert loaded.info["skipped_examples"][0].startswith("broken.jpg")
    assert np.array_equal(loaded.labels, written.labels)
    assert loaded.splits.shape == (1, 6)
    assert (tmp_path / "toy" / "shard-00000.tar").exists()


def test_prepared_stops_above_skip_threshold(tmp_path):
    images = [LabelledImage("good", lambda: png((0, 0, 0)), one_hot(0, 1), ()),
              LabelledImage("bad", lambda: b"", one_hot(0, 1), ())]
    with pytest.raises(ValueError, match="1 of 2 images could not be decoded"):
        write_prepared(tmp_path / "toy", "toy", MULTICLASS, ["a"], images, 16, 0, max_skipped_fraction=0.1)
    assert not (tmp_path / "toy" / "dataset.json").exists()


def test_prepared_rejects_two_classes_in_multiclass():
    labels = np.array([[POSITIVE, POSITIVE]], dtype=np.int8)
    with pytest.raises(ValueError, match="exactly one class"):
        PreparedDataset("toy", MULTICLASS, ["a", "b"], labels, np.zeros((0, 1)))


def test_drawn_split_is_stratified_and_disjoint():
    dataset = multiclass_dataset(per_class=20)
    split = run_split(dataset, 0, Protocol(test_fraction=0.25, validation_fraction=0.2))
    classes = dataset.class_ids()

    for c in range(3):
        assert np.sum((split == TEST) & (classes == c)) == 5
        assert np.sum((split == VALIDATION) & (classes == c)) == 3
        assert np.sum((split == TRAIN) & (classes == c)) == 12
    assert not np.any(split == UNUSED)


def test_drawn_split_changes_with_run():
    dataset = multiclass_dataset()
    first = run_split(dataset, 0, Protocol())
    second = run_split(dataset, 1, Protocol())
    assert not np.array_equal(first, second)
    assert np.array_equal(first, run_split(dataset, 0, Protocol()))


def test_per_class_protocol_counts():
    dataset = multiclass_dataset(per_class=20)
    split = run_split(dataset, 3, Protocol(train_per_class=10, test_per_class=6, validation_fraction=0.2))
    classes = dataset.class_ids()

    for c in range(3):
        assert np.sum((split == TEST) & (classes == c)) == 6
        assert np.sum(((split == TRAIN) | (split == VALIDATION)) & (classes == c)) == 10
        assert np.sum((split == VALIDATION) & (classes == c)) == 2
        assert np.sum((split == UNUSED) & (classes == c)) == 4


def test_released_split_kept_in_run_zero():
    released = np.array([[TRAIN] * 8 + [VALIDATION] * 2 + [TEST] * 5] * 3).reshape(-1)
    dataset = multiclass_dataset(per_class=15, splits=released[None, :])
    assert np.array_equal(run_split(dataset, 0, Protocol()), released)


def test_released_split_later_runs_keep_test():
    released = np.array([[TRAIN] * 8 + [VALIDATION] * 2 + [TEST] * 5] * 3).reshape(-1)
    dataset = multiclass_dataset(per_class=15, splits=released[None, :])
    later = run_split(dataset, 1, Protocol())

    assert np.array_equal(later == TEST, released == TEST)
    assert np.sum(later == VALIDATION) == np.sum(released == VALIDATION)
    assert not np.array_equal(later, released)


def test_released_split_sets_cycle():
    sets = np.array([[TRAIN, TEST] * 15, [TEST, TRAIN] * 15], dtype=np.int8)
    dataset = multiclass_dataset(per_class=10, splits=sets)
    assert np.array_equal(run_split(dataset, 1, Protocol()) == TEST, sets[1] == TEST)
    assert np.array_equal(run_split(dataset, 2, Protocol()) == TEST, sets[0] == TEST)


def test_per_class_average_precision_ignores_difficult():
    scores = np.array([[0.9], [0.8], [0.7], [0.1]])
    labels = np.array([[NEGATIVE], [IGNORED], [POSITIVE], [NEGATIVE]], dtype=np.int8)
    eleven_point, area = per_class_average_precision(scores, labels)

    # Without the ignored image, the positive is ranked second: precision 1/2 at every recall level.
    assert eleven_point[0] == pytest.approx(0.5)
    assert area[0] == pytest.approx(0.5)


def test_per_class_average_precision_without_positive():
    eleven_point, area = per_class_average_precision(np.zeros((2, 1)), np.zeros((2, 1), dtype=np.int8))
    assert eleven_point == [None]
    assert area == [None]


def separable_features(dataset, noise=0.5, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.normal(scale=noise, size=(len(dataset), 8))
    features[:, : dataset.num_classes] += (dataset.labels == POSITIVE)
    return features.astype(np.float32)


def test_evaluate_transfer_multiclass():
    dataset = multiclass_dataset(per_class=30)
    result = evaluate_transfer(separable_features(dataset), dataset, Protocol(runs=3), [0.01, 1.0])

    assert len(result["runs"]) == 3
    assert result["accuracy"]["mean"] > 0.8
    assert result["accuracy"]["std"] >= 0
    assert set(result["runs"][0]["validation"]) == {"0.01", "1"}


def test_evaluate_transfer_beats_noise():
    dataset = multiclass_dataset(per_class=30)
    noise = np.random.default_rng(1).normal(size=(len(dataset), 8)).astype(np.float32)
    learned = evaluate_transfer(separable_features(dataset), dataset, Protocol(runs=2), [1.0])
    random = evaluate_transfer(noise, dataset, Protocol(runs=2), [1.0])
    assert learned["accuracy"]["mean"] > random["accuracy"]["mean"] + 0.3


def test_evaluate_transfer_multilabel():
    rng = np.random.default_rng(0)
    labels = np.where(rng.random((120, 3)) < 0.4, POSITIVE, NEGATIVE).astype(np.int8)
    labels[0, 0] = IGNORED
    dataset = PreparedDataset("toy", MULTILABEL, ["a", "b", "c"], labels, np.zeros((0, 120)))
    result = evaluate_transfer(separable_features(dataset, noise=0.3), dataset, Protocol(runs=2), [0.1, 1.0])

    assert result["mAP-voc07"]["mean"] > 0.8
    assert len(result["ap_voc07_mean"]) == 3
    assert len(result["ap_mean"]) == 3


def test_evaluate_transfer_rejects_row_mismatch():
    dataset = multiclass_dataset()
    with pytest.raises(ValueError, match="feature rows"):
        evaluate_transfer(np.zeros((5, 4), dtype=np.float32), dataset, Protocol(runs=1), [1.0])


def result_file(tmp_path, name, source, task="multiclass"):
    runs = [{"run": 0, "test_images": 10, "accuracy": 0.5, "mAP-voc07": 0.4, "mAP": 0.45}]
    result = {"source": source, "dataset": "toy", "task": task, "classes": ["a", "b"], "feature_dim": 4,
              "runs": runs}
    if task == "multiclass":
        result["accuracy"] = {"mean": 0.5, "std": 0.01}
    else:
        result.update({"mAP-voc07": {"mean": 0.4, "std": 0.02}, "mAP": {"mean": 0.45, "std": 0.02},
                       "ap_voc07_mean": [0.3, 0.5], "ap_mean": [0.35, None]})
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(result))
    return path


FLICKR = {"name": "alexnet-K100-multiclass-nall", "kind": "flickr", "arch": "alexnet", "K": 100,
          "loss": "multiclass", "train_photos": 4000}
SUPERVISED = {"name": "supervised-alexnet", "kind": "supervised", "arch": "alexnet"}


def test_table3_rows(tmp_path):
    paths = [result_file(tmp_path, "f", FLICKR), result_file(tmp_path, "s", SUPERVISED)]
    rows = write_table3("demo", paths, tmp_path / "table3.csv")
    with open(tmp_path / "table3.csv", newline="") as handle:
        written = list(csv.DictReader(handle))

    assert [row["kind"] for row in rows] == ["supervised", "flickr"]
    assert written[1]["accuracy_mean"] == "50.0"
    assert written[1]["accuracy_std"] == "1.0"
    assert written[0]["corpus"] == "demo"


def test_table2_rows(tmp_path):
    rows = write_table2("demo", [result_file(tmp_path, "f", FLICKR, "multilabel")], tmp_path / "table2.csv")
    assert [row["ap_definition"] for row in rows] == ["voc07_11point", "area"]
    assert rows[0]["a"] == 30.0
    assert rows[1]["b"] is None
    assert rows[0]["mAP_mean"] == 40.0


def test_table3_rejects_multilabel(tmp_path):
    with pytest.raises(ValueError, match="multiclass datasets only"):
        write_table3("demo", [result_file(tmp_path, "f", FLICKR, "multilabel")], tmp_path / "t.csv")


def test_figure_transfer_vs_size(tmp_path):
    from weaksup.figures.transfer_curves import figure_transfer_vs_size

    paths = [result_file(tmp_path, f"f{n}", {**FLICKR, "name": f"alexnet-K100-multiclass-n{n}", "train_photos": n})
             for n in (100, 1000)]
    paths.append(result_file(tmp_path, "s", SUPERVISED))
    write_table3("demo", paths, tmp_path / "table3.csv")
    drawn = figure_transfer_vs_size(tmp_path / "table3.csv", tmp_path / "fig", ["toy"], "alexnet", 100,
                                    "multiclass", "accuracy_mean", "accuracy_std", "accuracy (%)", "title")
    assert drawn == {"toy": 2}
    assert (tmp_path / "fig.png").stat().st_size > 0
    assert (tmp_path / "fig.pdf").stat().st_size > 0


def test_figure_needs_sweep_rows(tmp_path):
    from weaksup.figures.transfer_curves import figure_transfer_vs_size

    write_table3("demo", [result_file(tmp_path, "s", SUPERVISED)], tmp_path / "table3.csv")
    with pytest.raises(ValueError, match="no Flickr alexnet"):
        figure_transfer_vs_size(tmp_path / "table3.csv", tmp_path / "fig", ["toy"], "alexnet", 100,
                                "multiclass", "accuracy_mean", "accuracy_std", "accuracy (%)", "title")


@pytest.mark.parametrize("task", ["new_glyphs", "glyph_icons"])
def test_held_out_glyphs_outside_catalogue(task):
    from weaksup.corpus.demo import DemoConfig, load_glyph_catalog

    config = DemoConfig(max_glyphs=20)
    classes, images = demo_tasks.held_out_glyph_images(config, task, num_glyphs=4, images_per_glyph=3,
                                                       image_size=32, seed=0)
    corpus_names = {glyph.names["en"] for glyph in load_glyph_catalog(config.languages, 20)}

    assert len(classes) == 4
    assert len(images) == 12
    assert not set(classes) & corpus_names
    assert images[0].read() == images[0].read()
    assert Image.open(io.BytesIO(images[5].read())).size == (32, 32)


def test_held_out_tasks_share_no_glyph():
    from weaksup.corpus.demo import DemoConfig

    config = DemoConfig(max_glyphs=20)
    scenes, _ = demo_tasks.held_out_glyph_images(config, "new_glyphs", 10, 1, 16, 0)
    icons, _ = demo_tasks.held_out_glyph_images(config, "glyph_icons", 10, 1, 16, 0)
    assert not set(scenes) & set(icons)


def test_random_init_model_is_deterministic(tmp_path):
    import torch

    from weaksup.baseline import save_random_init_model
    from weaksup.models import load_model

    options = {"width": 0.25, "embedding_dim": 64, "dropout": 0.0}
    for name in ("a.pt", "b.pt"):
        save_random_init_model(tmp_path / name, "alexnet", 10, options, seed=3, crop_size=32)
    first, meta = load_model(tmp_path / "a.pt")
    second, _ = load_model(tmp_path / "b.pt")

    assert meta["crop_size"] == 32
    assert meta["initialisation"] == "random"
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name

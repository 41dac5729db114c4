"""Tests of the logistic-regression probes: agreement with scikit-learn, selection on validation, word prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from weaksup.probes import (
    MAX_EVALUATIONS_PER_ITERATION,
    ChunkedObjective,
    LineSearchStalled,
    ProbeData,
    ProbeOptions,
    SoftmaxLoss,
    StandardisedFeatures,
    TargetRows,
    eleven_point_average_precision,
    feature_statistics,
    fit_probe,
    fit_selected_probe,
    load_probe,
    mean_average_precision,
    score_probe,
    select_regularisation,
    word_prediction_probe,
)
from weaksup.targets import TEST, TRAIN, VALIDATION, Targets, word_photo_index

CPU = ProbeOptions(device="cpu")


def standardise(features: np.ndarray) -> np.ndarray:
    """Standardise like the probe: training mean and standard deviation with ddof 0."""
    return (features - features.mean(axis=0)) / features.std(axis=0)


def make_single_label(rng: np.random.Generator, photos: int, dim: int = 10, classes: int = 4,
                      signal: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Return features with a large offset and scale (standardisation matters) and one label per photo."""
    centres = np.random.default_rng(123).normal(size=(classes, dim))
    labels = rng.integers(0, classes, size=photos)
    features = signal * centres[labels] + rng.normal(size=(photos, dim))
    return (3.0 * features + 7.0).astype(np.float32), labels


def make_word_data(rng: np.random.Generator, photos: int, words: int = 40, dim: int = 16
                   ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return features that are the sum of the prototypes of each photo's words, and the words of each photo.

    Word frequencies follow 1 / rank, and about one photo in ten has no word (and a noise-only feature).
    """
    prototypes = np.random.default_rng(321).normal(size=(words, dim))
    popularity = 1.0 / np.arange(1, words + 1)
    popularity /= popularity.sum()
    rows, features = [], np.zeros((photos, dim), dtype=np.float32)
    for photo in range(photos):
        count = 0 if rng.random() < 0.1 else int(rng.integers(1, 4))
        row = np.unique(rng.choice(words, size=count, replace=False, p=popularity))
        rows.append(row)
        features[photo] = prototypes[row].sum(axis=0) + 0.5 * rng.normal(size=dim)
    return features, rows


def test_softmax_probe_matches_sklearn():
    rng = np.random.default_rng(0)
    train_x, train_y = make_single_label(rng, 500)
    test_x, test_y = make_single_label(rng, 400)
    C = 0.05

    probe = fit_probe(ProbeData(train_x, TargetRows.from_labels(train_y, 4)), C, CPU)
    reference = LogisticRegression(C=C, solver="lbfgs", tol=1e-10, max_iter=10_000)
    reference.fit(standardise(train_x.astype(np.float64)), train_y)

    weight = probe.weight.double().numpy()
    scale = np.abs(reference.coef_).max()
    assert probe.fit.converged
    assert np.abs(weight - reference.coef_).max() < 1e-3 * scale
    bias = probe.bias.double().numpy()
    assert np.abs((bias - bias.mean()) - (reference.intercept_ - reference.intercept_.mean())).max() < 1e-3 * scale

    mean, std = train_x.mean(axis=0), train_x.std(axis=0)
    probe_accuracy = float((probe.predict_scores(test_x).argmax(dim=1).numpy() == test_y).mean())
    reference_accuracy = reference.score((test_x - mean) / std, test_y)
    assert abs(probe_accuracy - reference_accuracy) <= 0.01
    assert probe_accuracy > 0.5


def test_binary_probe_matches_sklearn_per_class():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(300, 6)).astype(np.float32)
    truth = np.random.default_rng(5).normal(size=(6, 3))
    labels = (features @ truth + 0.5 * rng.normal(size=(300, 3)) > 0.3).astype(np.float64)
    C = 0.2

    probe = fit_probe(ProbeData(features, labels), C, CPU)
    assert probe.loss == "binary"
    assert probe.weight.shape == (3, 6)
    standardised = standardise(features.astype(np.float64))
    for k in range(3):
        reference = LogisticRegression(C=C, solver="lbfgs", tol=1e-10, max_iter=10_000)
        reference.fit(standardised, labels[:, k])
        scale = np.abs(reference.coef_).max()
        assert np.abs(probe.weight[k].double().numpy() - reference.coef_[0]).max() < 1e-3 * scale, k
        assert abs(float(probe.bias[k]) - reference.intercept_[0]) < 1e-3 * scale, k


def test_binary_probe_multilabel_example():
    rng = np.random.default_rng(2)
    # Class 0 is present when feature 0 is positive, class 1 when feature 1 is; both can be present.
    features = rng.normal(size=(200, 4)).astype(np.float32)
    labels = np.stack([features[:, 0] > 0, features[:, 1] > 0], axis=1).astype(np.float64)
    ignored = labels.copy()
    ignored[:20, 1] = np.nan
    ignored[20, :] = np.nan

    probe = fit_probe(ProbeData(features, ignored), 1.0, CPU)
    scores = probe.predict_scores(features)
    assert probe.fit.photos == 199
    assert probe.fit.photos_without_targets == 1
    assert float(probe.weight[0, 0]) > 3 * float(probe.weight[0, 1:].abs().max())
    assert float(probe.weight[1, 1]) > 3 * float(probe.weight[1, [0, 2, 3]].abs().max())
    assert mean_average_precision(scores, labels) > 0.95
    assert score_probe(probe, ProbeData(features, labels), "mAP-voc07", CPU) > 0.9


def test_binary_probe_ignores_nan_targets():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(120, 3)).astype(np.float32)
    labels = (features[:, :2] + rng.normal(size=(120, 2)) > 0).astype(np.float64)
    partly_ignored = labels.copy()
    partly_ignored[:30, 1] = np.nan

    probe = fit_probe(ProbeData(features, partly_ignored), 0.5, CPU)
    # The standardisation still uses all 120 photos, because each has a known target for class 0.
    reference = LogisticRegression(C=0.5, solver="lbfgs", tol=1e-10, max_iter=10_000)
    reference.fit(standardise(features.astype(np.float64))[30:], labels[30:, 1])
    scale = np.abs(reference.coef_).max()
    assert probe.fit.photos == 120
    assert np.abs(probe.weight[1].double().numpy() - reference.coef_[0]).max() < 1e-3 * scale


def test_soft_target_loss_by_hand():
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0], [2.0, 1.0, 1.0]])
    targets = TargetRows.from_rows([[0, 2], [2], [1]], 3)
    log_probs = torch.log_softmax(logits.double(), dim=1)
    expected = -(0.5 * (log_probs[0, 0] + log_probs[0, 2]) + log_probs[1, 2] + log_probs[2, 1])
    loss = SoftmaxLoss(targets, torch.device("cpu"), torch.float32)
    assert float(loss(logits, 0, 3)) == pytest.approx(float(expected), rel=1e-6)
    assert float(loss(logits[1:], 1, 3)) == pytest.approx(float(-(log_probs[1, 2] + log_probs[2, 1])), rel=1e-6)


def test_chunked_fit_equals_one_chunk():
    rng = np.random.default_rng(4)
    features, rows = make_word_data(rng, 150)
    data = ProbeData(features, TargetRows.from_rows(rows, 40))
    # Equal objectives and gradients up to rounding give the same L-BFGS iterates, converged or not.
    whole = fit_probe(data, 0.3, ProbeOptions(device="cpu", max_iter=15))
    chunked = fit_probe(data, 0.3, ProbeOptions(device="cpu", max_iter=15, chunk_rows=17, cache_features=False))
    assert whole.fit.iterations == 15
    assert chunked.fit.evaluations == whole.fit.evaluations
    assert torch.allclose(whole.weight, chunked.weight, rtol=0, atol=1e-6)
    assert torch.allclose(whole.bias, chunked.bias, rtol=0, atol=1e-6)
    assert whole.fit.photos == chunked.fit.photos
    assert whole.fit.photos_without_targets == sum(len(row) == 0 for row in rows)


def test_selection_scores_only_validation():
    rng = np.random.default_rng(5)
    train_x, train_y = make_single_label(rng, 200)
    train = ProbeData(train_x, TargetRows.from_labels(train_y, 4))
    validation_x, validation_y = make_single_label(rng, 37)
    validation = ProbeData(validation_x, TargetRows.from_labels(validation_y, 4))
    scored = []

    def spy_accuracy(scores: torch.Tensor, targets: TargetRows) -> float:
        scored.append((scores.shape, targets))
        labels = np.array([row[0] for row in targets.rows()])
        return float((scores.argmax(dim=1).numpy() == labels).mean())

    grid = [10.0, 0.001, 0.1]
    best_C, scores = select_regularisation(train, validation, grid, spy_accuracy, CPU)
    assert len(scored) == len(grid)
    for shape, targets in scored:
        assert shape == (37, 4)
        assert targets is validation.targets
    assert sorted(scores) == sorted(grid)
    assert scores[best_C] == max(scores.values())
    assert best_C == min(c for c, score in scores.items() if score == max(scores.values()))


def test_selection_follows_validation_labels():
    rng = np.random.default_rng(6)
    features, labels = make_single_label(rng, 300, signal=1.5)
    train = ProbeData(features[:200], TargetRows.from_labels(labels[:200], 4))
    honest = ProbeData(features[200:], TargetRows.from_labels(labels[200:], 4))
    # Validation labels shifted by two classes: a weakly regularised probe predicts the true class and scores
    # near 0 on them, while at C = 1e-4 the unpenalised bias dominates and every photo gets the most frequent
    # training class, which scores near chance. On the true labels the weakly regularised probe wins.
    permuted = ProbeData(features[200:], TargetRows.from_labels((labels[200:] + 2) % 4, 4))
    grid = [1e-4, 1.0]
    honest_C, _ = select_regularisation(train, honest, grid, "accuracy", CPU)
    permuted_C, permuted_scores = select_regularisation(train, permuted, grid, "accuracy", CPU)
    assert honest_C == 1.0
    assert permuted_scores[1.0] < 0.2
    assert permuted_C == 1e-4


def test_refit_on_train_and_validation(tmp_path):
    rng = np.random.default_rng(7)
    features, labels = make_single_label(rng, 160)
    train = ProbeData(features[:120], TargetRows.from_labels(labels[:120], 4))
    validation = ProbeData(features[120:], TargetRows.from_labels(labels[120:], 4))
    on_train = fit_selected_probe(train, validation, [0.01, 1.0], "accuracy", options=CPU)
    on_both = fit_selected_probe(train, validation, [0.01, 1.0], "accuracy", True, CPU)
    assert on_train.fitted_on == "train"
    assert on_train.fit.photos == 120
    assert on_both.fitted_on == "train+validation"
    assert on_both.fit.photos == 160
    assert on_both.C == on_train.C
    assert on_both.validation_scores == on_train.validation_scores

    on_both.save(tmp_path / "probe.npz")
    loaded = load_probe(tmp_path / "probe.npz")
    assert torch.equal(loaded.predict_scores(features), on_both.predict_scores(features))
    assert loaded.C == on_both.C
    assert loaded.validation_scores == on_both.validation_scores
    assert loaded.fit == on_both.fit


def test_word_probe_beats_frequency_ranking():
    rng = np.random.default_rng(8)
    features, rows = make_word_data(rng, 900)
    result = word_prediction_probe(
        features[:600], rows[:600], features[600:700], rows[600:700], features[700:], rows[700:],
        K=40, grid=[0.01, 0.1, 1.0], ks=(1, 5, 10), options=CPU,
    )
    baseline = result["frequency_baseline"]
    # Photos have 2 words on average, so precision@10 is at most about 0.2 for any ranking.
    assert result["precision@1"] > baseline["precision@1"] + 0.3
    assert result["precision@5"] > baseline["precision@5"] + 0.1
    assert result["precision@10"] > baseline["precision@10"]
    assert result["C"] in (0.01, 0.1, 1.0)
    assert len(result["validation_scores"]) == 3
    assert result["selection_metric"] == "precision@10"
    assert result["photos_evaluated"] + result["photos_skipped_no_targets"] == 200
    assert result["photos_skipped_no_targets"] == sum(len(row) == 0 for row in rows[700:])
    assert result["train_photos_without_targets"] == sum(len(row) == 0 for row in rows[:600])


def test_eleven_point_average_precision_by_hand():
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    labels = np.array([1, 0, 1, 0])
    # Recall 0.5 at precision 1 (rank 1), recall 1 at precision 2/3 (rank 3): 6 points at 1, 5 at 2/3.
    assert eleven_point_average_precision(scores, labels) == pytest.approx((6 * 1.0 + 5 * 2 / 3) / 11)


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="class ids outside 0..2"):
        TargetRows.from_rows([[0, 3]], 3)
    with pytest.raises(ValueError, match="3 feature rows but 2 target rows"):
        ProbeData(np.zeros((3, 2), dtype=np.float32), TargetRows.from_labels([0, 1], 2))
    with pytest.raises(ValueError, match="binary targets must be 0, 1 or NaN"):
        ProbeData(np.zeros((2, 2), dtype=np.float32), np.array([[0.0, 2.0], [1.0, 0.0]]))
    features = np.ones((4, 2), dtype=np.float32)
    features[2, 1] = np.nan
    with pytest.raises(ValueError, match="feature row 2 has a NaN"):
        fit_probe(ProbeData(features, TargetRows.from_labels([0, 1, 0, 1], 2)), 1.0, CPU)
    with pytest.raises(ValueError, match="none of the 2 photos has a target"):
        fit_probe(ProbeData(np.zeros((2, 2), dtype=np.float32), TargetRows.from_labels([-1, -1], 2)), 1.0, CPU)
    with pytest.raises(ValueError, match="C must be positive"):
        fit_probe(ProbeData(np.zeros((2, 2), dtype=np.float32), TargetRows.from_labels([0, 1], 2)), 0.0, CPU)


def test_target_rows_select_and_concatenate():
    targets = TargetRows.from_rows([[3, 1], [], [0], [2, 0, 4]], 5)
    assert [row.tolist() for row in targets.select(np.array([3, 0, 1, 3])).rows()] == [[0, 2, 4], [1, 3], [],
                                                                                         [0, 2, 4]]
    joined = targets.concatenate(TargetRows.from_labels([4, -1], 5))
    assert [row.tolist() for row in joined.rows(3)] == [[0, 2, 4], [4], []]
    assert len(joined) == 6
    with pytest.raises(ValueError, match="photo 1 has class 2 more than once"):
        TargetRows(np.array([0, 1, 3]), np.array([0, 2, 2]), 5)


def test_target_rows_from_targets_file():
    rows = [[1, 2], [], [0], [2]]
    indptr = np.array([0, 2, 2, 3, 4])
    split = np.array([TRAIN, TRAIN, VALIDATION, TEST], dtype=np.int8)
    word_photos_indptr, word_photos = word_photo_index(indptr, np.array([1, 2, 0, 2]), split, 3)
    targets = Targets(indptr, np.array([1, 2, 0, 2]), split, word_photos_indptr, word_photos, 3)
    selected = TargetRows.from_targets(targets, [3, 0, 1])
    assert [row.tolist() for row in selected.rows()] == [rows[3], rows[0], rows[1]]
    assert selected.num_classes == 3


def test_objective_stops_stalled_line_search():
    rng = np.random.default_rng(9)
    features, labels = make_single_label(rng, 50)
    targets = TargetRows.from_labels(labels, 4)
    mean, std = feature_statistics(features, np.arange(50), 50, torch.device("cpu"))
    design = StandardisedFeatures(features, np.arange(50), mean, std, torch.device("cpu"), CPU, 50)
    weight = torch.zeros(4, features.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    objective = ChunkedObjective(design, SoftmaxLoss(targets, torch.device("cpu"), torch.float64), weight, bias, 1.0)
    objective.optimizer = torch.optim.LBFGS([weight, bias])

    # Every call below belongs to the same L-BFGS iteration, as in a line search that finds no decrease.
    start_value = float(objective())
    with torch.no_grad():
        weight.add_(0.1)
    for _ in range(MAX_EVALUATIONS_PER_ITERATION - 1):
        shifted_value = float(objective())
    with pytest.raises(LineSearchStalled):
        objective()
    objective.restore_best_point()
    assert objective.best_value == min(start_value, shifted_value)
    assert float(objective.evaluate()) == pytest.approx(objective.best_value)
    assert objective.evaluations == MAX_EVALUATIONS_PER_ITERATION + 1

"""Shared metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from vischange import metrics


def test_best_threshold_and_detector_match_a_hand_computation():
    # validation: scores and truth; F1 at t=0.8: tp=1, pred=1, pos=2 -> 2/3;
    # t=0.6: tp=2, pred=2 -> 1.0 (best); t=0.4: tp=2, pred=3 -> 0.8; t=0.1: 4/6.
    val_scores = np.array([0.8, 0.6, 0.4, 0.1])
    val_pos = np.array([True, True, False, False])
    assert metrics.best_threshold(val_scores, val_pos) == 0.6
    # equal F1 at two thresholds -> the higher one
    assert metrics.best_threshold(np.array([1.0, 0.5]), np.array([True, False])) == 1.0
    assert np.isnan(metrics.best_threshold(val_scores, np.zeros(4, bool)))

    val_sums = np.column_stack([val_scores, 1 - val_scores])
    val_labels = np.array([0, 0, 1, 1])
    test_sums = np.column_stack([[0.9, 0.5, 0.7, 0.2], [0.1, 0.5, 0.3, 0.8]])
    test_labels = np.array([0, 0, 1, 1])
    head_probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])
    head_pred = head_probs.argmax(1)
    table = metrics.one_vs_rest_table(val_sums, val_labels, test_sums, test_labels, head_probs, head_pred, ["a", "b"], [2, 1])
    a = table.iloc[0]
    assert a["threshold"] == 0.6 and a["val_f1"] == 1.0
    # test, class a, t = 0.6: predicted positive = {0 (0.9), 2 (0.7)}; true = {0, 1}
    assert a["test_precision"] == 0.5 and a["test_recall"] == 0.5
    # AUC by hand: positives {0.9, 0.5}, negatives {0.7, 0.2}: pairs won 0.9>0.7, 0.9>0.2, 0.5>0.2 -> 3/4
    assert a["test_auc"] == pytest.approx(0.75)
    # head: argmax = [0, 1, 1, 1]: class a precision 1/1, recall 1/2; AUC of p_a: pos {.9,.4} neg {.3,.2} -> 1
    assert (a["head_precision"], a["head_recall"], a["head_auc"]) == (1.0, 0.5, 1.0)
    b = table.iloc[1]
    assert b["head_precision"] == pytest.approx(2 / 3) and b["head_recall"] == 1.0
    empty = metrics.one_vs_rest_table(val_sums, val_labels, test_sums, test_labels, head_probs, head_pred, ["a", "b"], [0, 1]).iloc[0]
    assert np.isnan(empty["test_auc"]) and empty["head_auc"] == 1.0


def test_accuracy_and_recall_per_domain():
    labels = {"source": np.array([0, 0, 1, 1]), "target": np.array([0, 1, 1])}
    predicted = {"source": np.array([0, 0, 1, 0]), "target": np.array([1, 1, 0])}
    table = metrics.accuracy_table(labels, predicted)
    assert table["domain"].tolist() == ["source", "target"]
    assert table["accuracy"].tolist() == [0.75, pytest.approx(1 / 3)] and table["images"].tolist() == [4, 3]
    np.testing.assert_allclose(metrics.per_class_recall(labels["target"], predicted["target"], 3), [0.0, 0.5, np.nan])


def test_f1_and_confusion():
    assert metrics.f1(0.5, 1.0) == pytest.approx(2 / 3)
    assert metrics.f1(0.0, 0.0) == 0.0 and metrics.f1(float("nan"), 0.5) == 0.0
    conf = metrics.confusion(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), ["a", "b", "c"])
    matrix = conf["count"].to_numpy().reshape(3, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert conf["fraction"].to_numpy().reshape(3, 3)[0].tolist() == [0.5, 0.5, 0.0]

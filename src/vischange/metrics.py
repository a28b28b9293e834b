"""Classification metrics shared by the stages: thresholds, precision/recall, AUC, confusion, accuracy.

Scores are (N,) or (N, K) float arrays, labels (N,) integer classes in [0, K), boolean
masks (N,). NaN marks a metric that is undefined on the given images (no positive, no
prediction), never a zero.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "best_threshold", "precision_recall", "f1", "roc_auc", "one_vs_rest_table", "confusion", "per_class_recall",
    "accuracy_table",
]


def best_threshold(scores: np.ndarray, positive: np.ndarray) -> float:
    """The threshold t (a score value; positive means score >= t) with the best F1 on these images.

    Candidates are the distinct scores; ties in F1 go to the highest threshold (the
    stricter detector). NaN when there is no positive image.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    if not positive.any():
        return float("nan")
    best, best_f1 = float("nan"), -1.0
    for t in np.unique(scores)[::-1]:
        predicted = scores >= t
        tp = np.sum(predicted & positive)
        score = 2 * tp / (predicted.sum() + positive.sum())
        if score > best_f1:
            best, best_f1 = float(t), score
    return best


def precision_recall(predicted: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """(precision, recall) of boolean predictions; precision is NaN when nothing is predicted."""
    predicted = np.asarray(predicted, dtype=bool)
    positive = np.asarray(positive, dtype=bool)
    tp = np.sum(predicted & positive)
    precision = tp / predicted.sum() if predicted.any() else float("nan")
    recall = tp / positive.sum() if positive.any() else float("nan")
    return float(precision), float(recall)


def f1(precision: float, recall: float) -> float:
    """Harmonic mean of precision and recall; 0 when their sum is not positive (or NaN)."""
    return 2 * precision * recall / (precision + recall) if (precision + recall) > 0 else 0.0


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC (ties count one half); NaN unless both positives and negatives exist."""
    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        return float("nan")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(positive, np.asarray(scores, dtype=np.float64)))


def one_vs_rest_table(
    val_scores: np.ndarray,
    val_labels: np.ndarray,
    test_scores: np.ndarray,
    test_labels: np.ndarray,
    head_scores: np.ndarray,
    head_predicted: np.ndarray,
    class_names: Sequence[str],
    n_maps: Sequence[int],
) -> pd.DataFrame:
    """Per class k: a score column as a one-vs-rest detector of k, beside a classifier.

    val_scores, test_scores: (N, K) detector scores (column k detects class k; e.g. the
    summed activation of class k's top maps); *_labels: (N,) true classes. The threshold
    of class k is the best F1 on the validation images (:func:`best_threshold`) and is
    only applied to the test images. head_scores: (N, K) the classifier's class
    probabilities on the test images; head_predicted: (N,) its decisions. n_maps: (K,)
    the number of maps each class's score sums; 0 means class k has no detector.
    Columns: label, class, n_maps, threshold, val_f1, test_auc,
    test_precision, test_recall (NaN without a detector), head_auc (of the class
    probability), head_precision, head_recall (of the decision).
    """
    rows = []
    for k, name in enumerate(class_names):
        val_pos, test_pos = np.asarray(val_labels) == k, np.asarray(test_labels) == k
        head_p, head_r = precision_recall(np.asarray(head_predicted) == k, test_pos)
        row = {"label": k, "class": name, "n_maps": int(n_maps[k])}
        if n_maps[k] == 0:
            row.update(threshold=np.nan, val_f1=np.nan, test_auc=np.nan, test_precision=np.nan, test_recall=np.nan)
        else:
            t = best_threshold(val_scores[:, k], val_pos)
            val_p, val_r = precision_recall(val_scores[:, k] >= t, val_pos)
            test_p, test_r = precision_recall(test_scores[:, k] >= t, test_pos)
            row.update(threshold=t, val_f1=f1(val_p, val_r), test_auc=roc_auc(test_scores[:, k], test_pos),
                       test_precision=test_p, test_recall=test_r)
        row.update(head_auc=roc_auc(head_scores[:, k], test_pos), head_precision=head_p, head_recall=head_r)
        rows.append(row)
    return pd.DataFrame(rows)


def confusion(labels: np.ndarray, predicted: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """Long confusion table, K * K rows (true-major): true, predicted (class names), count,
    fraction of the true class (0 for a class without images)."""
    from sklearn.metrics import confusion_matrix

    k = len(names)
    matrix = confusion_matrix(labels, predicted, labels=np.arange(k))
    totals = matrix.sum(1, keepdims=True)
    frac = np.divide(matrix, totals, out=np.zeros_like(matrix, dtype=float), where=totals > 0)
    return pd.DataFrame({
        "true": np.repeat(list(names), k), "predicted": np.tile(list(names), k),
        "count": matrix.ravel(), "fraction": frac.ravel(),
    })


def per_class_recall(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """(K,) recall of the classifier for each class (NaN for a class without images)."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    out = np.full(n_classes, np.nan)
    for k in range(n_classes):
        mask = labels == k
        if mask.any():
            out[k] = float(np.mean(predicted[mask] == k))
    return out


def accuracy_table(labels: Mapping[str, np.ndarray], predicted: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """domain, images, accuracy (share of predicted == label), for each domain of `labels` (in order)."""
    return pd.DataFrame([
        {"domain": d, "images": len(labels[d]), "accuracy": float(np.mean(np.asarray(predicted[d]) == np.asarray(labels[d])))}
        for d in labels
    ])

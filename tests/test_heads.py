"""Task heads: the probe, the head file, the task model and its predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vischange import heads

from .test_attribution import Tiny


def test_task_model_puts_the_head_in_place_and_keeps_the_original():
    model = Tiny(classes=7)
    head = nn.Linear(5, 2)
    task = heads.TaskModel(model, nn.Identity(), head)
    assert task(torch.rand(1, 3, 6, 6)).shape == (1, 2)
    assert model.fc.out_features == 7 and model.relu.inplace  # a copy was changed, not the model


def test_fit_probe_folds_standardization_into_the_linear_layer():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 20)
    features = rng.normal(size=(60, 4)) * [1, 5, 0.1, 2] + labels[:, None] * [1, 0, 0.2, 0] + [3, -2, 0, 7]
    linear = heads.fit_probe(features, labels, 3, c=1.0, seed=0)
    mu, sigma = features.mean(0), features.std(0)
    reference = LogisticRegression(C=1.0, max_iter=5000, random_state=0).fit((features - mu) / sigma, labels)
    with torch.no_grad():
        ours = torch.softmax(linear(torch.as_tensor(features, dtype=torch.float32)), 1).numpy()
    assert ours == pytest.approx(reference.predict_proba((features - mu) / sigma), abs=1e-4)
    two = heads.fit_probe(features[:40], labels[:40], 2, c=1.0, seed=0)
    ref2 = LogisticRegression(C=1.0, max_iter=5000).fit((features[:40] - features[:40].mean(0)) / features[:40].std(0), labels[:40])
    with torch.no_grad():
        p = torch.softmax(two(torch.as_tensor(features[:40], dtype=torch.float32)), 1).numpy()
    assert p == pytest.approx(ref2.predict_proba((features[:40] - features[:40].mean(0)) / features[:40].std(0)), abs=1e-4)
    with pytest.raises(ValueError, match="lack classes"):
        heads.fit_probe(features[:20], labels[:20], 3, c=1.0, seed=0)


def test_head_file_round_trip_and_class_check(tmp_path):
    weight, bias = torch.randn(3, 5), torch.randn(3)
    heads.save_head(tmp_path / "head.pt", kind="probe", weight=weight, bias=bias, class_names=("a", "b", "c"))
    head = heads.load_head(tmp_path / "head.pt", class_names=["a", "b", "c"])
    assert head["kind"] == "probe" and head["class_names"] == ["a", "b", "c"]
    assert torch.equal(head["weight"], weight) and torch.equal(head["bias"], bias)
    linear = heads.head_linear(head)
    assert torch.equal(linear.weight.detach(), weight) and torch.equal(linear.bias.detach(), bias)
    with pytest.raises(ValueError, match="head.pt: the head's classes differ"):
        heads.load_head(tmp_path / "head.pt", class_names=["a", "c", "b"])


def test_head_probs_prediction_table_and_predict():
    features = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=np.float32)
    weight, bias = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0.0, 0.5])
    probs = heads.head_probs(features, weight, bias)
    assert probs.dtype == np.float64 and probs.sum(1) == pytest.approx(np.ones(3))
    assert probs.argmax(1).tolist() == [0, 1, 0]
    table = heads.prediction_table(["x", "y", "z"], np.array([0, 0, 0]), probs)
    assert table.columns.tolist() == ["index", "path", "label", "predicted", "correct", "prob_true", "prob_predicted"]
    assert table["correct"].tolist() == [True, False, True]
    assert table["prob_true"].to_numpy() == pytest.approx(probs[:, 0])
    model = Tiny().eval()
    images = torch.rand(5, 3, 6, 6)
    out = heads.predict(model, nn.Identity(), images, "cpu", batch_size=2)
    with torch.no_grad():
        assert torch.allclose(out, torch.softmax(model(images), 1)) and out.dtype == torch.float32

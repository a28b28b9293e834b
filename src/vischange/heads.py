"""Task heads: the linear classifiers that decide the fine-tuning task, and their predictions.

A task head is an ``nn.Linear(D, K)`` on a network's penultimate features (the input of
its classifier, :func:`vischange.activations.head_input`): the fine-tuned network's own
head, or for the base network a linear probe (:func:`fit_probe`). Its file (written by
:func:`save_head`) is a torch dict ``{kind, weight (K, D), bias (K,), class_names}``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from . import models
from .runtime import atomic_path

__all__ = [
    "fit_probe", "save_head", "load_head", "head_linear", "TaskModel", "load_task_model", "softmax", "head_probs",
    "prediction_table", "predict",
]


def fit_probe(features: np.ndarray, labels: np.ndarray, n_classes: int, c: float, seed: int) -> nn.Linear:
    """Multinomial logistic regression on standardized features, folded into nn.Linear(D, K).

    features (N, D), labels (N,) in [0, n_classes). The Linear maps raw features to logits:
    W' = W / sigma, b' = b - W' mu (mu, sigma of the training features; sigma 0 -> 1).
    With two classes sklearn fits one logit z; the Linear gives (-z/2, z/2), whose softmax
    is sklearn's probability.
    """
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels)
    missing = sorted(set(range(n_classes)) - set(labels.tolist()))
    if missing:
        raise ValueError(f"the probe's training images lack classes {missing}")
    x = np.asarray(features, dtype=np.float64)
    mu, sigma = x.mean(0), x.std(0)
    sigma[sigma == 0] = 1.0
    fit = LogisticRegression(C=c, max_iter=5000, random_state=seed % 2**32).fit((x - mu) / sigma, labels)
    w, b = fit.coef_, fit.intercept_
    if n_classes == 2:
        w, b = np.stack([-w[0] / 2, w[0] / 2]), np.array([-b[0] / 2, b[0] / 2])
    w = w / sigma
    b = b - w @ mu
    linear = nn.Linear(x.shape[1], n_classes)
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
        linear.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
    return linear


def save_head(path: str | Path, *, kind: str, weight: Tensor, bias: Tensor, class_names: Sequence[str]) -> None:
    """Write a task head file atomically: kind ("own" or "probe"), weight (K, D), bias (K,) float32, class_names."""
    with atomic_path(path) as tmp:
        torch.save({"kind": kind, "weight": weight, "bias": bias, "class_names": list(class_names)}, tmp)


def load_head(path: str | Path, class_names: Sequence[str] | None = None) -> dict:
    """A task head file as ``{kind, weight (K, D), bias (K,), class_names}`` (weights only).

    With `class_names`, ValueError naming the file unless the head's classes are exactly those.
    """
    head = torch.load(Path(path), map_location="cpu", weights_only=True)
    if class_names is not None and list(head["class_names"]) != list(class_names):
        raise ValueError(f"{path}: the head's classes differ from the task's ({len(head['class_names'])} vs "
                         f"{len(class_names)} classes)")
    return head


def head_linear(head: dict) -> nn.Linear:
    """The nn.Linear(D, K) of a loaded head (:func:`load_head`), weights copied exactly."""
    linear = nn.Linear(head["weight"].shape[1], head["weight"].shape[0])
    with torch.no_grad():
        linear.weight.copy_(head["weight"])
        linear.bias.copy_(head["bias"])
    return linear


class TaskModel(nn.Module):
    """A network with the task head in place of its classifier: images (N, 3, H, W) in [0, 1] -> logits (N, K).

    Normalization is inside, so Captum's attributions refer to the [0, 1] image.
    """

    def __init__(self, model: nn.Module, normalize: nn.Module, head: nn.Linear | None = None):
        super().__init__()
        self.net = copy.deepcopy(model)
        if head is not None:
            name = models.classifier_name(self.net)
            parent, _, child = name.rpartition(".")
            setattr(models.get_module(self.net, parent) if parent else self.net, child, head)
        self.normalize = normalize
        # Captum needs autograd through every module; in-place ReLUs would overwrite
        # tensors that hooks have kept.
        for module in self.net.modules():
            if isinstance(module, nn.ReLU):
                module.inplace = False

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.normalize(x))


def load_task_model(model_path: str | Path, head_path: str | Path, device) -> tuple[TaskModel, dict]:
    """The network of `model_path` with the head of `head_path` (:func:`save_head`), in eval
    mode without gradients; meta is the network's with ``head`` (the kind) and the head's
    ``class_names``."""
    model, normalize, meta = models.load_network(model_path, device)
    head = load_head(head_path)
    task = TaskModel(model, normalize, head_linear(head)).to(device).eval()
    task.requires_grad_(False)
    return task, {**meta, "head": head["kind"], "class_names": list(head["class_names"])}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits, shifted by each row's maximum."""
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def head_probs(features: np.ndarray, weight: Tensor, bias: Tensor) -> np.ndarray:
    """Class probabilities of a linear task head on penultimate features: (N, D) -> (N, K) float64."""
    logits = np.asarray(features) @ weight.float().numpy().T.astype(np.float64) + bias.float().numpy()
    return softmax(logits)


def prediction_table(paths: Sequence[str], labels: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    """index, path, label, predicted (argmax), correct, prob_true, prob_predicted."""
    labels = np.asarray(labels)
    predicted = probs.argmax(1)
    n = len(labels)
    return pd.DataFrame({
        "index": np.arange(n), "path": list(paths), "label": labels, "predicted": predicted,
        "correct": predicted == labels, "prob_true": probs[np.arange(n), labels], "prob_predicted": probs.max(1),
    })


@torch.no_grad()
def predict(model: nn.Module, normalize, images: Tensor, device, batch_size: int) -> Tensor:
    """The network's softmax probabilities (N, K) float32 on the CPU for images (N, 3, H, W) in [0, 1],
    in batches of `batch_size`."""
    out = []
    for batch in images.split(batch_size):
        out.append(torch.softmax(model(normalize(batch.to(device))).float(), dim=1).cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)

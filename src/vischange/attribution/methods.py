"""Attribution methods (Captum): saliency and Grad-CAM of a task model, and the test images to explain."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from .. import models
from ..heads import TaskModel
from ..runtime import derive_seed


def saliency(task: nn.Module, images: Tensor, targets: Sequence[int]) -> Tensor:
    """Captum Saliency: |d logit_target / d pixel|, maximum over RGB: images (N, 3, H, W) -> (N, H, W) >= 0."""
    from captum.attr import Saliency

    x = images.clone().requires_grad_(True)
    attr = Saliency(task).attribute(x, target=[int(t) for t in targets], abs=True)
    return attr.detach().amax(1).cpu()


def grad_cam(task: TaskModel, layer: str, images: Tensor, targets: Sequence[int]) -> Tensor:
    """Captum LayerGradCam at `layer` (a module of the network), upsampled bilinearly to the image.

    images (N, 3, H, W) -> (N, H, W) >= 0 (the ReLU of the gradient-weighted map sum).
    """
    from captum.attr import LayerAttribution, LayerGradCam

    module = models.get_module(task.net, layer)
    x = images.clone().requires_grad_(True)
    # Captum hooks the layer itself (it needs the layer's gradient), not through vischange.activations.
    cam = LayerGradCam(task, module).attribute(x, target=[int(t) for t in targets], relu_attributions=True)
    cam = LayerAttribution.interpolate(cam.detach(), tuple(images.shape[-2:]), interpolate_mode="bilinear")
    return cam[:, 0].clamp_min(0).cpu()


def attribute(task: TaskModel, layer: str, images: Tensor, labels: Sequence[int]) -> dict[str, Tensor]:
    """Saliency of the predicted class, Grad-CAM of the predicted and of the true class.

    Returns {"predicted": (N,) long, "saliency": (N, H, W), "gradcam_predicted": (N, H, W),
    "gradcam_true": (N, H, W)}, every map >= 0.
    """
    with torch.no_grad():
        predicted = task(images).argmax(1).cpu()
    return {
        "predicted": predicted,
        "saliency": saliency(task, images, predicted.tolist()),
        "gradcam_predicted": grad_cam(task, layer, images, predicted.tolist()),
        "gradcam_true": grad_cam(task, layer, images, list(labels)),
    }


def pick_images(predictions: pd.DataFrame, n: int, seed: int) -> np.ndarray:
    """Up to n test rows: up to half misclassified, the rest correct, each drawn with a seeded generator; sorted."""
    rng = np.random.default_rng(derive_seed(seed, "attribution-images"))
    wrong = predictions.index[~predictions["correct"].astype(bool)].to_numpy()
    right = predictions.index[predictions["correct"].astype(bool)].to_numpy()
    n_wrong = min(len(wrong), n // 2)
    n_right = min(len(right), n - n_wrong)
    n_wrong = min(len(wrong), n - n_right)
    picks = np.concatenate([rng.choice(wrong, n_wrong, replace=False), rng.choice(right, n_right, replace=False)])
    return np.sort(picks.astype(int))

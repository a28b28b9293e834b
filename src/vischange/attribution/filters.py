"""The first convolution's filters: the weights that see the image, as RGB tiles."""

from __future__ import annotations

import numpy as np
from torch import Tensor, nn


def first_conv_weights(model: nn.Module) -> tuple[str, Tensor]:
    """(name, weight (C_out, 3, k, k)) of the first Conv2d that sees the image."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module.weight.detach().float().cpu()
    raise ValueError("model has no Conv2d")


def filter_grid(weights: Tensor) -> np.ndarray:
    """Filters (C_out, 3, k, k) as RGB tiles (C_out, k, k, 3) in [0, 1].

    One symmetric scale for all filters (0.5 is a zero weight; the largest |weight|
    reaches 0 or 1), so filters compare in strength as well as in pattern.
    """
    w = weights.detach().float().cpu().numpy()
    scale = np.abs(w).max() or 1.0
    return np.clip(0.5 + 0.5 * w / scale, 0, 1).transpose(0, 2, 3, 1)

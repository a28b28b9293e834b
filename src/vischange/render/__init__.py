"""Feature-visualization (lucid-style) render engine.

* :mod:`.param` -- image parameterizations (Fourier, pixel, MACO).
* :mod:`.transforms` -- per-image random transformation robustness.
* :mod:`.objectives` -- composable per-image objectives.
* :mod:`.hooks` -- activation capture with early stop; redirected ReLU.
* :mod:`.engine` -- the optimization loop and batched channel rendering.
"""

from .engine import RenderResult, pair_seed, render, render_channels, to_uint8
from .hooks import Capture, capture, redirected_relu
from .objectives import (
    Objective,
    channel,
    class_logit,
    class_prob,
    direction,
    direction_cossim,
    diversity,
    layer_l2,
    neuron,
)
from .param import (
    PARAM_NAMES,
    FourierImage,
    MagnitudeConstrainedImage,
    PixelImage,
    color_matrix_from_images,
    make_param,
    mean_magnitude_spectrum,
)
from .transforms import (
    Compose,
    Jitter,
    Pad,
    RandomRotate,
    RandomScale,
    Resize,
    standard_transforms,
)

__all__ = [
    "RenderResult", "render", "render_channels", "to_uint8", "pair_seed",
    "Capture", "capture", "redirected_relu",
    "Objective", "channel", "neuron", "layer_l2", "class_logit", "class_prob",
    "direction", "direction_cossim", "diversity",
    "PARAM_NAMES", "FourierImage", "PixelImage", "MagnitudeConstrainedImage",
    "color_matrix_from_images", "mean_magnitude_spectrum", "make_param",
    "Pad", "Jitter", "RandomScale", "RandomRotate", "Resize", "Compose", "standard_transforms",
]

"""Feature-visualization (lucid-style) render engine.

* :mod:`.param` -- image parameterizations (Fourier, pixel, MACO).
* :mod:`.transforms` -- per-image random transformation robustness.
* :mod:`.objectives` -- composable per-image objectives.
* :mod:`.hooks` -- activation capture with early stop; redirected ReLU.
* :mod:`.engine` -- the optimization loop and batched channel rendering.
* :mod:`.directions` -- renders of activation directions (atlas icons and patches).
* :mod:`.upscale` -- the seed's upscaling render, a second, simple loop.
* :mod:`.png` -- lossless PNG files of renders and canvases.

Stages reach the engine through the names exported here; :mod:`.chunk` and
:mod:`.dataset_examples` are the render stage's own jobs.
"""

from .directions import render_directions, whitened_direction_cossim
from .engine import OPTIMIZERS, RenderResult, auto_batch_size, engine_arguments, maco_recipe, pair_seed, render, render_channels
from .hooks import IN_SUFFIX, LOGITS, PRE_SUFFIX, Capture, capture, redirected_relu
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
    dataset_images,
    make_param,
    mean_magnitude_spectrum,
    param_arguments,
)
from .png import save_png, to_uint8
from .transforms import (
    Compose,
    Jitter,
    Pad,
    RandomRotate,
    RandomCrops,
    RandomScale,
    Resize,
    atlas_transforms,
    standard_transforms,
)
from .upscale import upscale_render, upscale_sizes

__all__ = [
    "RenderResult", "render", "render_channels", "pair_seed", "auto_batch_size",
    "engine_arguments", "maco_recipe", "OPTIMIZERS",
    "render_directions", "whitened_direction_cossim", "upscale_render", "upscale_sizes",
    "to_uint8", "save_png", "dataset_images", "param_arguments",
    "Capture", "capture", "redirected_relu", "LOGITS", "PRE_SUFFIX", "IN_SUFFIX",
    "Objective", "channel", "neuron", "layer_l2", "class_logit", "class_prob",
    "direction", "direction_cossim", "diversity",
    "PARAM_NAMES", "FourierImage", "PixelImage", "MagnitudeConstrainedImage",
    "color_matrix_from_images", "mean_magnitude_spectrum", "make_param",
    "Pad", "Jitter", "RandomScale", "RandomRotate", "Resize", "Compose", "standard_transforms",
    "RandomCrops", "atlas_transforms",
]

"""Feature-visualization (lucid-style) render engine.

* :mod:`.param` -- image parameterizations (Fourier, pixel, MACO).
* :mod:`.transforms` -- per-image random transformation robustness.
* :mod:`.objectives` -- composable per-image objectives.
* :mod:`.hooks` -- activation capture with early stop; redirected ReLU.
* :mod:`.engine` -- the optimization loop and batched channel rendering.
* :mod:`.directions` -- renders of activation directions (atlas icons and patches).
* :mod:`.upscale` -- the seed's upscaling render, a second, simple loop.
* :mod:`.png` -- lossless PNG files of renders and canvases.

Stages reach the engine through the names exported here; :mod:`.chunk`,
:mod:`.dataset_examples` and :mod:`.tables` are the render stage's own jobs. The names
load on first use, so a job that needs only :mod:`.tables` never imports torch.
"""

from ..lazy import lazy_exports

_EXPORTS = {
    ".directions": ["render_directions", "whitened_direction_cossim"],
    ".engine": ["OPTIMIZERS", "RenderResult", "auto_batch_size", "engine_arguments", "maco_recipe", "pair_seed", "render", "render_channels"],
    ".hooks": ["IN_SUFFIX", "LOGITS", "PRE_SUFFIX", "Capture", "capture", "redirected_relu"],
    ".objectives": ["Objective", "channel", "class_logit", "class_prob", "direction", "direction_cossim", "diversity", "layer_l2", "neuron"],
    ".param": ["PARAM_NAMES", "FourierImage", "MagnitudeConstrainedImage", "PixelImage", "color_matrix_from_images", "dataset_images", "make_param", "mean_magnitude_spectrum", "param_arguments"],
    ".png": ["save_png", "to_uint8"],
    ".transforms": ["Compose", "Jitter", "Pad", "RandomRotate", "RandomCrops", "RandomScale", "Resize", "atlas_transforms", "standard_transforms"],
    ".upscale": ["upscale_render", "upscale_render_many", "upscale_sizes"],
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [name for names in _EXPORTS.values() for name in names]

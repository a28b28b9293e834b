"""Change without renders (issue 19, item 6): how fine-tuning changed each layer, read from
activations on the same held-out images and from the weights.

* :mod:`.measures` -- linear CKA (Kornblith et al. 2019) with a bootstrap interval and a
  shuffled-images reference, per-channel correlation, relative weight change
  (Neyshabur et al. 2020), and which layers are controls.
* :mod:`.figures` -- the figure of the three.
* :mod:`.stages` -- the workflow's change rules, one function each.

Names load on first use: the jobs that only read tables never import torch.
"""

from ..lazy import lazy_exports

_EXPORTS = {".measures": ["channel_correlation", "cka_interval", "cka_null", "linear_cka", "tensor_change", "weight_change"]}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = _EXPORTS[".measures"]

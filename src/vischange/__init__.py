"""vischange: how fine-tuning changes the features of a pretrained CNN."""

import os as _os

# Bit-identical CPU reruns. PyTorch's CPU FFT (the Fourier image parameterization, every
# render step) and its float32 GEMMs (colour decorrelation, linear layers) run in Intel
# oneMKL, which by default is not run-to-run reproducible: its code path, hence the order
# of floating-point sums, may depend on the alignment of the arrays it gets, and its
# threading may adapt at run time. Conditional Numerical Reproducibility (CNR, AUTO
# branch: the fastest code path of this CPU, chosen once, alignment-independent) and
# static thread counts remove both. MKL reads its variables at its first computation, so
# they hold for any import order (OMP_DYNAMIC only if set before torch is imported; GNU
# OpenMP's default is already FALSE). A user's own settings win.
for _key, _value in (("MKL_CBWR", "AUTO"), ("MKL_DYNAMIC", "FALSE"), ("OMP_DYNAMIC", "FALSE")):
    _os.environ.setdefault(_key, _value)

__version__ = "0.1.0"

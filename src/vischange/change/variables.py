"""The change stage's numbers in the paper (the ``change`` Quarto variables).

Read by vischange.registry for the paper_variables job, from the files change.smk
registers with ``register_paper_variables``: ``layers`` (change/layers.csv), ``weights``
(change/weights.csv) and ``crosscheck`` (change/crosscheck.csv). Display strings, like
vischange.paper's; no wall-clock time, so a CPU rerun writes the same values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..paper import count_of, num, sig

__all__ = ["paper_variables"]


def _interval(low: float, high: float, digits: int) -> str:
    return f"[{num(low, digits)}, {num(high, digits)}]"


def _verdict(low: float, high: float) -> str:
    """What the rank correlation's interval says about render change tracking activation change."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "There are too few channels to say whether the two measures agree."
    if low > 0:
        return "Feature visualization tracks the activation change here: the interval lies above zero."
    if high < 0:
        return "The two measures rank the channels in opposite orders here: the interval lies below zero."
    return ("Whether feature visualization tracks the activation change cannot be told from these channels: "
            "the interval includes zero.")


def _layer(row: Mapping[str, Any]) -> dict[str, str]:
    return {
        "layer": f"`{row['layer']}`",
        "cka": num(row["cka"], 3),
        "interval": _interval(row["cka_low"], row["cka_high"], 3),
        "null": num(row["cka_null"], 3),
        "corr_median": num(row["corr_median"], 2),
    }


def paper_variables(files: Mapping[str, Path]) -> dict[str, Any]:
    """CKA of the first and the last render layer with interval and shuffled-image
    reference; the control (layers with nothing trained upstream: how many give CKA 1
    exactly); the median relative kernel change of the modules that moved; and the
    render-vs-activation cross-check of the last render layer (Spearman's rho across
    channels, interval, exact permutation p, channel count)."""
    layers = pd.read_csv(files["layers"])
    weights = pd.read_csv(files["weights"])
    cross = pd.read_csv(files["crosscheck"]).set_index("layer")
    control = layers[layers.identical_upstream.astype(bool)]
    moved = weights[~weights.identical.astype(bool) & ~weights.replaced.astype(bool) & (weights.n_kernel.fillna(0) > 0)]
    last = layers.iloc[-1]
    out: dict[str, Any] = {
        "n_images": int(last.n_images),
        "n_layers": len(layers),
        "first": _layer(layers.iloc[0]),
        "last": _layer(last),
        "n_control": len(control),
        "control_exact": count_of(int((control.cka == 1.0).sum()), len(control)),
        "n_moved_modules": len(moved),
        "kernel_change_median": sig(float(np.median(moved.kernel_change)), 2) if len(moved) else "n/a",
    }
    if last.layer in cross.index:
        row = cross.loc[last.layer]
        out["crosscheck"] = {
            "layer": f"`{last.layer}`",
            "n": int(row.n_channels),
            "rho": num(row.spearman, 2),
            "interval": _interval(row.spearman_low, row.spearman_high, 2),
            "p": sig(row.p_value, 2),
            "verdict": _verdict(row.spearman_low, row.spearman_high),
        }
    return out

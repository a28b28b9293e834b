"""The pairs stage's numbers in the paper (the ``pairs`` Quarto variables), present only
when the config has variants. Read from the files pairs.smk registers: ``layers``,
``weights``, ``networks`` (pairs/*.csv) and ``noise`` (pairs/noise.csv). Display strings;
no wall-clock time."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..paper import code_list, count_of, num, sig

__all__ = ["paper_variables"]


def _network(row) -> str:
    differs = "" if row.differs_from_finetuned == "-" else f" ({row.differs_from_finetuned})"
    return f"`{row.net}`{differs}, test accuracy {num(row.test_accuracy, 3)}"


def _pair_layer(row) -> str:
    return (f"`{row.net_a}` against `{row.net_b}`: CKA {num(row.cka, 3)} [{num(row.cka_low, 3)}, {num(row.cka_high, 3)}], "
            f"{count_of(int(row.n_significant), int(row.n_tested))} tested channels changed")


def _noise_row(row) -> str:
    if row.status != "tested":
        return f"`{row.layer}`: {row.status}"
    return (f"`{row.layer}`: d = {num(row.d, 3)} [{num(row.d_low, 3)}, {num(row.d_high, 3)}], "
            f"Holm q = {sig(row.q_value, 2)}")


def _verdict(part: pd.DataFrame) -> str:
    tested = part[part.status == "tested"]
    above = tested[tested.significant.astype(bool) & (tested.d > 0)]
    below = tested[tested.significant.astype(bool) & (tested.d < 0)]
    if tested.empty:
        return "no layer has anything trained up to it in these networks, so there is nothing to test"
    parts = [f"the change exceeds the noise of fine-tuning in {count_of(len(above), len(tested))} tested layers"]
    if len(below):
        parts.append(f"the two fine-tunings lie further apart than either lies from the base network in "
                     f"{count_of(len(below), len(tested))}")
    if len(above) + len(below) < len(tested):
        parts.append("elsewhere the test cannot tell them apart")
    return "; ".join(parts)


def paper_variables(files: Mapping[str, Path]) -> dict[str, Any]:
    """The fine-tuned networks and how they differ; for the last render layer, every pair's
    CKA and changed channels; and per pair of fine-tuned networks, the paired noise test
    per layer with a one-line verdict."""
    networks = pd.read_csv(files["networks"])
    layers = pd.read_csv(files["layers"])
    noise = pd.read_csv(files["noise"])
    last = layers.layer.iloc[-1]
    variants = networks[networks.role == "variant"]
    noise_pairs = list(dict.fromkeys(zip(noise.net_x, noise.net_y)))
    tests = []
    for x, y in noise_pairs:
        part = noise[(noise.net_x == x) & (noise.net_y == y)]
        tests.append(f"`{x}` and `{y}`: {_verdict(part)} ({'; '.join(_noise_row(r) for r in part.itertuples())})")
    tested = noise[noise.status == "tested"]
    return {
        "n_variants": len(variants),
        "more_networks": f"{len(variants)} more network{'s' if len(variants) != 1 else ''}",
        "variants": code_list(variants.net),
        "networks": "; ".join(_network(r) for r in networks.itertuples()),
        "n_pairs": len(layers[["net_a", "net_b"]].drop_duplicates()),
        "last_layer": f"`{last}`",
        "last": "; ".join(_pair_layer(r) for r in layers[layers.layer == last].itertuples()),
        "n_tested": len(tested),
        "n_significant": int(tested.significant.astype(bool).sum()),
        "tests": ". ".join(tests) if tests else "There is one fine-tuned network: no pair of fine-tunings to test.",
    }

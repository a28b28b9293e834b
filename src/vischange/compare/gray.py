"""Gray filter: which renders are (nearly) colourless, and so say little about their channel.

A render's gray score is the mean squared difference between its RGB image and its
grayscale (luma) version, computed in floating point on the 0-255 scale, so the unit is
squared 8-bit levels: 0 for a perfectly gray image, 100 for a typical deviation of 10
levels, about 8,065 for a uniform saturated red (200, 10, 10). (The seed study computed
it on uint8 arrays, where the subtraction wraps around modulo 256 and a strongly
coloured pixel can score low.)

The scores of all renders are sorted and cut at the spike: the largest jump between
neighbours on a log scale, log10(1 + score). Gray renders pile up near 0 and coloured
ones spread over a few thousand, so a gray/colour mixture shows one jump of orders of
magnitude; on a linear scale the largest jump would usually fall inside the coloured
tail instead. When no jump reaches `min_jump` (as a ratio of 1 + score), there is no
spike (for example, no render is gray) and a fixed fallback threshold decides.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

log = logging.getLogger(__name__)

# ITU-R BT.601 luma weights: what PIL's convert("L") uses.
LUMA = np.array([0.299, 0.587, 0.114])


def gray_score(images: np.ndarray) -> np.ndarray:
    """Mean squared RGB-minus-luma difference of images (N, H, W, 3) or (H, W, 3) -> (N,).

    Values are in 0-255 levels (uint8 or float input); computed in float64, the result is
    in squared 8-bit levels.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) RGB images, got shape {x.shape}")
    luma = x @ LUMA
    return ((x - luma[..., None]) ** 2).mean(axis=(1, 2, 3))


def png_gray_scores(paths: Sequence[str | Path], progress: bool = False) -> np.ndarray:
    """Gray score of each PNG file (read as 8-bit RGB) -> (N,) float64."""
    scores = np.empty(len(paths))
    for i, path in enumerate(tqdm(paths, desc="gray scores", disable=not progress)):
        with Image.open(path) as image:
            scores[i] = gray_score(np.asarray(image.convert("RGB")))[0]
    return scores


@dataclass(frozen=True)
class GrayCut:
    """Where the gray/colour cut lies. A render is gray when its score < threshold.

    method: "spike" (the largest jump was at least min_jump) or "fallback".
    jump: ratio (1 + upper) / (1 + lower) across the largest jump (nan for < 2 scores).
    lower, upper: the scores on either side of the largest jump (nan for < 2 scores).
    """

    threshold: float
    method: str
    jump: float
    lower: float
    upper: float
    min_jump: float
    fallback_threshold: float

    def as_dict(self) -> dict:
        return asdict(self)


def spike_cut(scores: Sequence[float], fallback_threshold: float, min_jump: float = 5.0) -> GrayCut:
    """Cut sorted gray scores at the largest jump on a log10(1 + score) scale.

    The threshold is the geometric middle of the jump (on the 1 + score scale), so every
    score below the jump is gray and every score above it is not. Without a jump of at
    least `min_jump`, `fallback_threshold` is the threshold.
    """
    values = np.sort(np.asarray(scores, dtype=np.float64))
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ValueError("gray scores must be finite and >= 0")
    nan = float("nan")
    if len(values) < 2:
        return GrayCut(float(fallback_threshold), "fallback", nan, nan, nan, float(min_jump), float(fallback_threshold))
    logs = np.log10(1.0 + values)
    gaps = np.diff(logs)
    i = int(np.argmax(gaps))  # first of equal gaps: deterministic
    lower, upper = float(values[i]), float(values[i + 1])
    jump = float(10 ** gaps[i])
    if jump >= min_jump:
        threshold = float(np.sqrt((1.0 + lower) * (1.0 + upper)) - 1.0)
        method = "spike"
    else:
        threshold, method = float(fallback_threshold), "fallback"
    return GrayCut(threshold, method, jump, lower, upper, float(min_jump), float(fallback_threshold))


def score_tables(tables: Mapping[tuple[str, str], str | Path], progress: bool = True) -> pd.DataFrame:
    """Gray score of every render listed in the render tables.

    tables: {(net, layer): renders.csv}, whose `file` column names PNGs beside the table.
    Reads the tables by column name (channel, seed, file); other columns are ignored.
    Returns one row per render: net, layer, channel, seed, file, gray_score.
    """
    frames = []
    for (net, layer), table in tables.items():
        table = Path(table)
        frame = pd.read_csv(table)
        frames.append(
            pd.DataFrame(
                {
                    "net": net,
                    "layer": layer,
                    "channel": frame["channel"].astype(int),
                    "seed": frame["seed"].astype(int),
                    "file": frame["file"],
                    "gray_score": png_gray_scores([table.parent / f for f in frame["file"]], progress),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def gray_table(
    tables: Mapping[tuple[str, str], str | Path], fallback_threshold: float, min_jump: float, progress: bool = True
) -> tuple[pd.DataFrame, GrayCut]:
    """Score every render listed in the render tables (`score_tables`), cut, flag.

    Returns one row per render (net, layer, channel, seed, file, gray_score, gray) and
    the cut, which pools the renders of both networks and every layer.
    """
    renders = score_tables(tables, progress)
    cut = spike_cut(renders["gray_score"], fallback_threshold, min_jump)
    renders["gray"] = renders["gray_score"] < cut.threshold
    log.info(
        "gray cut %.4g (%s, largest jump x%.3g): %d of %d renders gray",
        cut.threshold, cut.method, cut.jump, int(renders["gray"].sum()), len(renders),
    )
    return renders, cut


def cut_json(cut: GrayCut) -> dict:
    """The cut as JSON-ready values (NaN, which JSON lacks, as null)."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in cut.as_dict().items()}

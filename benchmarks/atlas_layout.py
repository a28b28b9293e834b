"""How the atlas layout time grows with the number of activation vectors.

Times :func:`vischange.atlas.layout.umap_layout` (PCA to 50 dimensions, then UMAP with
the cosine metric, the atlas defaults) on activation vectors of a real layer: the
demo's collected activations (results/demo/atlas/finetuned/layer4.1/activations.npz),
resampled with replacement and jittered to reach the larger sizes, or ReLU'd
Gaussian vectors of the same width if that file is missing. One warm-up run first
pays numba's compilation, which every layout job pays once (reported separately).

    PYTHONPATH=src python benchmarks/atlas_layout.py [--sizes 1000 2000 4000 8000] [--npz PATH]

Prints a CSV (n, dims, seconds) and writes it to benchmarks/atlas_layout.csv.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    parser.add_argument("--npz", default="results/demo/atlas/finetuned/layer4.1/activations.npz")
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".csv")))
    args = parser.parse_args()

    t0 = time.perf_counter()
    from vischange.atlas.layout import umap_layout

    import umap  # noqa: F401  (import time is part of every layout job)

    import_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    if os.path.exists(args.npz):
        with np.load(args.npz) as data:
            source = data["acts"].astype(np.float64)
        origin = args.npz
    else:
        source = np.maximum(rng.normal(size=(2000, 512)), 0)
        origin = "ReLU'd Gaussian vectors (no demo activations found)"
    scale = source.std(axis=0, keepdims=True)

    def sample(n: int) -> np.ndarray:
        picks = rng.choice(len(source), size=n, replace=n > len(source))
        return np.maximum(source[picks] + 0.05 * scale * rng.normal(size=(n, source.shape[1])), 0)

    t0 = time.perf_counter()
    umap_layout(sample(200), seed=0)
    warmup_s = time.perf_counter() - t0
    print(f"# source: {origin}; import umap {import_s:.1f} s; first (compiling) layout of 200 vectors {warmup_s:.1f} s")
    rows = ["n,dims,seconds"]
    for n in args.sizes:
        x = sample(n)
        t0 = time.perf_counter()
        umap_layout(x, seed=0)
        rows.append(f"{n},{x.shape[1]},{time.perf_counter() - t0:.2f}")
        print(rows[-1], flush=True)
    Path(args.out).write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()

"""What `make setup`'s numba warm-up (vischange.warmup) saves each UMAP-using job.

Times, in fresh processes, one atlas-sized UMAP layout (1,000 x 64, cosine, as
vischange.atlas.layout fits it) against an empty numba cache directory (as a fresh
environment without the warm-up) and against the same directory once warm:

    python benchmarks/numba_cache.py [--repeats 2] [--out benchmarks/numba_cache.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

FIT = (
    "import numpy as np; from vischange.atlas.layout import umap_layout; "
    "umap_layout(np.random.default_rng(0).random((1000, 64)), pca=50)"
)


def timed_fit(cache_dir: str) -> float:
    """Wall seconds of one process that imports umap and fits one layout."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", FIT], env=env, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/numba_cache.json")
    args = parser.parse_args()
    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(timed_fit(cache))
            warm.append(timed_fit(cache))
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "cold_s": [round(t, 1) for t in cold],
        "warm_s": [round(t, 1) for t in warm],
        "saved_per_process_s": round(sum(cold) / len(cold) - sum(warm) / len(warm), 1),
    }
    print(json.dumps(result, indent=1))
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()

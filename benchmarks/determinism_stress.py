"""Determinism stress check: rerun the optimization jobs of a finished run, under load,
and compare their tables and images with the first run's, byte for byte.

The jobs that optimize images (render chunks, top-map renders, atlas icons, patch
renders) are the ones whose last float32 digits have moved between CPU reruns. This
script reruns exactly those jobs (`--forcerun R --until R`, so nothing else), `--rounds`
times, while `--load` busy processes keep the cores contended, and after each round
compares every CSV they write (wall-clock `*seconds` columns excepted, as in the test
suite) and every PNG with the originals.

    snakemake --cores 2 --configfile config/test.yaml --directory RUN      # once
    python benchmarks/determinism_stress.py RUN --configfile config/test.yaml --rounds 5 --load 2

Writes a JSON report (default benchmarks/determinism_stress.json) and exits 1 when any
file differed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
RULES = ["render_chunk", "topmaps_render", "atlas_icons", "patches_render"]


def busy(stop: mp.Event) -> None:
    """A CPU hog: floating-point work in a loop until `stop` is set."""
    x = 0.0
    while not stop.is_set():
        for i in range(100_000):
            x += i * 1e-9


def rule_names(workdir: Path, configfile: Path) -> list[str]:
    """Rules of the workflow whose name contains one of RULES (render chunks and patch renders
    are one rule per chunk or network)."""
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(configfile), "--list-rules"],
        capture_output=True, text=True, check=True,
    ).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if any(r in n for r in RULES)]


def digest(path: Path) -> str:
    """sha256 of a PNG's bytes, or of a CSV's text without its wall-clock columns."""
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        text = frame.drop(columns=[c for c in frame.columns if c.endswith("seconds")]).to_csv(index=False)
        return hashlib.sha256(text.encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(results: Path) -> dict[str, str]:
    """Digest of every CSV and PNG under the optimization jobs' output folders."""
    folders = [results / "renders", results / "topmaps", results / "atlas", results / "patches"]
    files = [p for f in folders if f.exists() for p in sorted(f.rglob("*")) if p.suffix in (".csv", ".png")]
    return {str(p.relative_to(results)): digest(p) for p in files}


def cpu_model() -> str:
    """The CPU's model name (MKL and oneDNN pick code paths by it), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", type=Path, help="a directory where the workflow already ran to the end")
    parser.add_argument("--configfile", type=Path, default=REPO / "config/test.yaml")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load", type=int, default=2, help="busy processes beside the jobs")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/determinism_stress.json")
    args = parser.parse_args()
    import yaml

    experiment = yaml.safe_load(args.configfile.read_text())["experiment"]
    results = args.workdir.resolve() / "results" / experiment
    reference = snapshot(results)
    if not reference:
        parser.error(f"{results} holds no renders: run the workflow there first")
    rules = rule_names(args.workdir, args.configfile)
    stop = mp.Event()
    hogs = [mp.Process(target=busy, args=(stop,), daemon=True) for _ in range(args.load)]
    for h in hogs:
        h.start()
    rounds = []
    try:
        for r in range(args.rounds):
            began = time.time()
            proc = subprocess.run(
                [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(args.workdir),
                 "--configfile", str(args.configfile), "--cores", str(args.cores), "--forcerun", *rules,
                 "--until", *rules, "--quiet", "all"],
                capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
            )
            if proc.returncode:
                print(proc.stderr[-4000:], file=sys.stderr)
                return 2
            now = snapshot(results)
            differ = sorted(k for k in reference if now.get(k) != reference[k])
            rounds.append({"round": r + 1, "seconds": round(time.time() - began, 1), "files": len(now), "differ": differ})
            print(f"round {r + 1}: {len(now)} files, {len(differ)} differ {differ[:5]}", flush=True)
    finally:
        stop.set()
        for h in hogs:
            h.join(timeout=5)
    report = {
        "config": str(args.configfile), "rules": rules, "load_processes": args.load, "cores": args.cores,
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count()},
        "rounds": rounds, "identical": all(not r["differ"] for r in rounds),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())

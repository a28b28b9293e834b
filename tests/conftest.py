"""Shared fixtures: paths of the checkout, and a runner for real Snakemake invocations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from torch import nn

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def run_snakemake(workdir: Path, *args: str, configfile: Path | None = None, timeout: int = 3600, env: dict | None = None):
    """Run the repository's Snakefile in `workdir`; returns the CompletedProcess (never raises).

    `timeout` only guards against a hung run (a busy shared machine can take many times
    the usual few minutes); speed is measured by benchmarks, never asserted.
    `env` overrides environment variables."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    cmd += list(args)
    env = {**os.environ, "PYTHONHASHSEED": "0", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=workdir)


def write_config(path: Path, base: Path, **overrides) -> Path:
    """Copy the YAML config `base` to `path` with dotted-key overrides (None deletes a key)."""
    config = yaml.safe_load(base.read_text())
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = config
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    # Key order kept: Snakemake compares params (dicts from the config) as written.
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Counter(nn.Module):
    """Identity module that counts its calls (to prove a forward pass stopped early)."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x

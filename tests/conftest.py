"""Shared fixtures: paths of the checkout, and a runner for real Snakemake invocations."""

from __future__ import annotations

import fcntl
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


TEST_CONFIG = REPO / "config/test.yaml"
# Modules that run whole workflows, started first (in this order) so that under
# pytest-xdist (--dist loadfile) the long ones run side by side instead of last.
SLOW_MODULES = ("test_workflow", "test_slurm", "test_rerun", "test_own_data", "test_real_study")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        return SLOW_MODULES.index(name) if name in SLOW_MODULES else len(SLOW_MODULES)

    items.sort(key=rank)  # stable: the order inside each module is kept


def session_folder(tmp_path_factory) -> Path:
    """A folder of this test session that every pytest-xdist worker sees (each worker's
    base temp is a subfolder of the session's)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_test_run(tmp_path_factory, name: str) -> Path:
    """The workdir of a complete run of config/test.yaml called `name`, made once per test
    session: the first worker that asks runs it under a file lock, the others wait for it.
    Fails (in every test that asks) when the run failed."""
    root = session_folder(tmp_path_factory)
    workdir, done, log = root / name, root / f"{name}.returncode", root / f"{name}.stderr"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            workdir.mkdir(exist_ok=True)
            proc = run_snakemake(workdir, "--cores", "2", configfile=TEST_CONFIG)
            log.write_text(proc.stderr[-6000:])
            done.write_text(str(proc.returncode))
    assert done.read_text() == "0", log.read_text()
    return workdir


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

"""Identical tables from two complete CPU runs of config/test.yaml (separate workdirs,
same config): every CSV except its wall-clock columns, the metrics and the paper's inputs.

The first run is the one tests/test_workflow.py checks (shared through the session); the
second is made here. Under pytest-xdist the two can run side by side on two workers."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pandas as pd
import pytest
import yaml

from vischange import paper

from .conftest import TEST_CONFIG, shared_test_run

pytestmark = pytest.mark.workflow


def _without_wall_clock(path: Path) -> str:
    """A CSV's text without its wall-clock columns (named *seconds), the only values
    that may differ between two runs."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frame.drop(columns=[c for c in frame.columns if c.endswith("seconds")]).to_csv(index=False)


def test_rerun_gives_identical_tables(tmp_path_factory):
    # The second run first: while another worker makes the first, this one is not idle.
    second_run = shared_test_run(tmp_path_factory, "run2")
    first_run = shared_test_run(tmp_path_factory, "run1")
    experiment = yaml.safe_load(TEST_CONFIG.read_text())["experiment"]
    first = sorted(p.relative_to(first_run) for p in (first_run / "results").rglob("*.csv"))
    second = sorted(p.relative_to(second_run) for p in (second_run / "results").rglob("*.csv"))
    assert first == second and first
    different = [
        str(p) for p in first if _without_wall_clock(first_run / p) != _without_wall_clock(second_run / p)
    ]
    assert not different, f"CSV outputs differ between two CPU runs: {different}"
    papers = [f"paper/{paper.VARIABLES_FILE}", *(f"paper/{paper.TABLES_DIR}/{t}" for t in paper.TABLES)]
    for name in ("models/pretrain_metrics.json", "models/finetune_metrics.json", "compare/summary.json", "compare/gray_cut.json", *papers):
        path = Path("results") / experiment / name
        assert filecmp.cmp(first_run / path, second_run / path, shallow=False)

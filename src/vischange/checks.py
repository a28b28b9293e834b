"""Every stage's config checks, found by convention, for the workflow and the tests.

A stage that checks its own config section has a module ``vischange.<stage>.checks``
with ``problems(config, probe) -> list[str]`` (``vischange.config.StageCheck``); a new
stage's checks need no edit elsewhere. This module sits above the stages (it imports
them by name, at run time); nothing in the package imports it: workflow/rules/common.smk
runs ``check_config`` before any job, and tests call it the same way.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from typing import Any

from . import config as vcfg

_PACKAGE = __name__.rsplit(".", 1)[0]


def stage_checks() -> dict[str, vcfg.StageCheck]:
    """{stage: its problems function}, in stage-name order."""
    package = importlib.import_module(_PACKAGE)
    out = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        name = f"{_PACKAGE}.{info.name}.checks"
        if info.ispkg and importlib.util.find_spec(name) is not None:
            out[info.name] = importlib.import_module(name).problems
    return out


def check_config(config: dict[str, Any]) -> dict[str, int]:
    """`vischange.config.check_config` with every stage's checks: the channel count of
    every render layer; raises ConfigError listing every problem."""
    return vcfg.check_config(config, stage_checks().values())

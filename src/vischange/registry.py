"""What each stage contributes beyond its jobs, found by convention.

- Config checks: a stage that checks its own config section has a module
  ``vischange.<stage>.checks`` with ``problems(config, info) -> list[str]``
  (``vischange.config.StageCheck``). workflow/rules/common.smk runs them all, with the
  shared checks, before any job (``check_config``).
- Paper variables: a stage whose numbers the manuscript quotes has a module
  ``vischange.<stage>.variables`` with ``paper_variables(files) -> dict``; its rule file
  registers the files it reads (``register_paper_variables`` in common.smk), and the
  paper_variables job puts the result under the stage's name in variables.yml.

A new stage's checks and variables need no edit elsewhere. This module sits above the
stages (it imports them by name, at run time); nothing in the package imports it, only
the workflow, the scripts and the tests.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # imported when used: the paper's job needs none of the checks
    from . import config as vcfg

_PACKAGE = __name__.rsplit(".", 1)[0]


def _stage_modules(module: str) -> dict[str, Any]:
    """{stage: vischange.<stage>.<module>} for every stage subpackage that has it, by name."""
    package = importlib.import_module(_PACKAGE)
    out = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        name = f"{_PACKAGE}.{info.name}.{module}"
        if info.ispkg and importlib.util.find_spec(name) is not None:
            out[info.name] = importlib.import_module(name)
    return out


def stage_checks() -> dict[str, vcfg.StageCheck]:
    """{stage: its problems function}, in stage-name order."""
    return {stage: module.problems for stage, module in _stage_modules("checks").items()}


def check_config(config: dict[str, Any]) -> dict[str, int]:
    """`vischange.config.check_config` with every stage's checks: the channel count of
    every render layer; raises ConfigError listing every problem."""
    from . import config as vcfg

    return vcfg.check_config(config, stage_checks().values())


def validate_and_check(config: dict[str, Any], schema_path: str | Path) -> dict[str, int]:
    """What the workflow runs on its config before it plans any job (common.smk): the
    schema, applied by Snakemake's own `validate` (which fills the defaults into
    `config`), then :func:`check_config`. Returns the channel count of every render
    layer; raises ConfigError naming every bad key."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    from . import config as vcfg

    try:
        validate(config, str(schema_path))
    except WorkflowError:
        # Snakemake's message is the raw jsonschema dump; name the keys instead.
        raise vcfg.ConfigError(vcfg.schema_problems(config, vcfg.load_schema(schema_path))) from None
    return check_config(config)


def stage_variables() -> dict[str, Callable[[Mapping[str, Path]], dict]]:
    """{stage: its paper_variables function}, in stage-name order."""
    return {stage: module.paper_variables for stage, module in _stage_modules("variables").items()}


def paper_variables(files: Mapping[str, Mapping[str, str | Path]]) -> dict[str, dict]:
    """{stage: its variables} from {stage: {name: path}}, the files each stage's rule file
    registered. Raises ValueError naming a stage that registered files but has no
    ``variables`` module."""
    known = stage_variables()
    unknown = sorted(set(files) - set(known))
    if unknown:
        raise ValueError(f"paper variables registered for {unknown}, which have no vischange.<stage>.variables module")
    return {stage: known[stage]({k: Path(v) for k, v in named.items()}) for stage, named in files.items()}

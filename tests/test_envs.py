"""The conda environments that rules name pin exactly what pyproject.toml pins."""

from __future__ import annotations

import re
import tomllib

import yaml

from .conftest import REPO


def pins(requirements) -> dict[str, str]:
    out = {}
    for req in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*", req)
        assert match, f"not an exact pin: {req!r}"
        out[match.group(1).lower().replace("_", "-")] = match.group(2)
    return out


def test_every_dependency_is_pinned_and_envs_agree():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = pins(project["dependencies"])
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs, "no conda environments in envs/"
    for env_file in envs:
        env = yaml.safe_load(env_file.read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        for name, version in pins(pip).items():
            assert declared.get(name) == version, f"{env_file.name}: {name}=={version}, pyproject has {declared.get(name)}"


def test_rules_name_existing_envs():
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().is_file(), f"{smk.name} names missing {env}"

"""Config checks of the domain section, run before any job (vischange.registry)."""

from __future__ import annotations

from ..archinfo import ArchInfo

from ..datasets import synthetic


def problems(config: dict, info: ArchInfo | None = None) -> list[str]:
    """The domain section: a synthetic target needs the synthetic data and a shifted style;
    a folder target needs a folder (whether it exists is checked by the target_data job,
    so that a study can be planned before its data are on disk)."""
    dom = config.get("domain") or {}
    source = dom.get("source", "none")
    problems: list[str] = []
    if source == "synthetic":
        if config["data"]["source"] != "synthetic":
            problems.append("config key domain.source: 'synthetic' needs data.source synthetic; use 'folder' with domain.folder")
        style = dom.get("style", "xray")
        if style not in synthetic.STYLES:
            problems.append(f"config key domain.style: unknown style {style!r} (choose from {', '.join(sorted(synthetic.STYLES))})")
        elif style == "default":
            problems.append("config key domain.style: 'default' is the source domain's own style; choose a shifted one")
    if source == "folder" and not dom.get("folder"):
        problems.append("config key domain.folder: source 'folder' needs the target domain's image folder")
    return problems

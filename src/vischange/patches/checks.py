"""Config checks of the patches section, and the pairs it tests (read at parse time by
workflow/rules/patches_common.smk); run before any job (vischange.registry)."""

from __future__ import annotations

from ..archinfo import ArchInfo

from ..names import slug


def patch_pairs(config: dict) -> dict[str, list[tuple[str, str]]]:
    """The pairs [a, b] the patch experiment tests, per network: patches.pairs.{net}, or
    every atlas.class_pairs.{net} when null; none when patches are disabled or there is
    no atlas layer. The base network's pairs only when model.base.source is pretrain
    (other base weights come without a test set of their classes)."""
    settings = config.get("patches") or {}
    atlas = config.get("atlas") or {}
    out: dict[str, list[tuple[str, str]]] = {"base": [], "finetuned": []}
    if not settings.get("enabled", True) or not atlas.get("layers"):
        return out
    for net in out:
        if net == "base" and config["model"]["base"]["source"] != "pretrain":
            continue
        chosen = (settings.get("pairs") or {}).get(net)
        pairs = (atlas.get("class_pairs") or {}).get(net, []) if chosen is None else chosen
        out[net] = [tuple(p) for p in pairs]
    return out


def problems(config: dict, info: ArchInfo | None = None) -> list[str]:
    """The patches section against the atlas: its layer, its pairs, and patch sizes
    that round to distinct pixel sizes at data.image_size; and no pair atlas built on the
    test images the patches are evaluated on: with ``atlas.split: test`` and the
    fine-tuned network's patch experiment on, its pair atlases, whose cells the patches
    are rendered from, would come from the fine-tuning task's test images that the
    patches are then pasted onto and counted on. (The base network's patches are tested
    on the base task's own test split.)"""
    settings = config.get("patches") or {}
    atlas = config.get("atlas") or {}
    problems: list[str] = []
    layer = settings.get("layer")
    if layer is not None and layer not in atlas.get("layers", []):
        problems.append(f"config key patches.layer: {layer!r} is not one of atlas.layers ({', '.join(atlas.get('layers', [])) or 'none'})")
    for net in ("base", "finetuned"):
        chosen = (settings.get("pairs") or {}).get(net)
        known = [list(p) for p in (atlas.get("class_pairs") or {}).get(net, [])]
        for i, pair in enumerate(chosen or []):
            if list(pair) not in known:
                problems.append(f"config key patches.pairs.{net}[{i}]: {list(pair)} is not one of atlas.class_pairs.{net}")
        slugs = [tuple(sorted(slug(n) for n in p)) for p in (known if chosen is None else chosen)]
        for pair in sorted({p for p in slugs if slugs.count(p) > 1}):
            problems.append(f"config key patches.pairs.{net}: the classes {list(pair)} are paired twice; "
                            "each pair is tested in both directions already")
    side = config["data"]["image_size"]
    pixels: dict[int, float] = {}
    for size in settings.get("sizes", [0.1, 0.2, 0.3, 0.4]):
        p = max(1, round(size * side))
        if p in pixels:
            problems.append(f"config key patches.sizes: {pixels[p]:g} and {size:g} are both {p} px "
                            f"at data.image_size {side}")
        pixels[p] = size
    if atlas.get("split", "train") == "test" and patch_pairs(config)["finetuned"]:
        problems.append("config key atlas.split: 'test' builds the pair atlases, whose cells the patches are "
                        "rendered from, on the test images the patches are evaluated on; use train (or val), "
                        "or set patches.enabled: false")
    return problems

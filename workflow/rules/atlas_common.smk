# Shared names and path helpers of the atlas rules (workflow/rules/atlas.smk).
from vischange.names import slug

# The atlas section as the atlas jobs see it: a fine-tuning variant (the same task as the
# fine-tuned network) draws the fine-tuned network's class atlases and class pairs.
ATLAS = {
    **config["atlas"],
    **{key: {**config["atlas"][key], **{v: config["atlas"][key]["finetuned"] for v in VARIANTS}}
       for key in ("classes", "class_pairs")},
}
ATLAS_LAYERS = ATLAS["layers"]
ATLAS_SHARDS = list(range(ATLAS["icons"]["shards"]))
A = L.stage("atlas")
_ATLAS_LAYER = "|".join(re.escape(layer) for layer in ATLAS_LAYERS) or "(?!)"


def atlas_net_dirs(net, layer):
    """The folders of one network's atlases: the main one, class atlases, class pairs."""
    return (
        [L.atlas(net, layer)]
        + [L.atlas_class(net, layer, c) for c in ATLAS["classes"][net]]
        + [L.atlas_pair(net, layer, a, b) for a, b in ATLAS["class_pairs"][net]]
    )


def atlas_outputs(layer=None):
    """Final outputs of every atlas of `layer` (default: of every atlas layer)."""
    out = []
    for layer in ATLAS_LAYERS if layer is None else [layer]:
        for net in ALL_NETS:
            for d in atlas_net_dirs(net, layer):
                out += [f"{d}/cells.csv", f"{d}/icons.png", f"{d}/atlas.png", f"{d}/atlas.pdf"]
            out += [f"{A}/{net}/{layer}/density.png", f"{A}/{net}/{layer}/density.pdf"]
        c = L.atlas_compare(layer)
        out += [f"{c}/cells.csv", f"{c}/atlas.png", f"{c}/atlas.pdf", f"{c}/movement.png", f"{c}/movement.pdf"]
        out += [f"{c}/icons_{net}.png" for net in NETS]
    return out


def atlas_tables(layer):
    """Tables the layout job of a layer writes: every atlas of every network, and the comparison of base and finetuned."""
    out = [
        f"{d}/{name}"
        for net in ALL_NETS
        for d in atlas_net_dirs(net, layer)
        for name in ("layout.csv", "cells.csv", "layout.json")
    ]
    out += [f"{A}/{net}/{layer}/whitening.json" for net in ALL_NETS]
    return out + [f"{L.atlas_compare(layer)}/{name}" for name in ("layout.csv", "cells.csv", "layout.json")]


def atlas_images(layer):
    """Images the image job of a layer draws."""
    return [p for p in atlas_outputs(layer) if not p.endswith(".csv")]


# The paper's atlas figures (figures/atlas_*.{png,pdf}) show the last atlas layer.
ATLAS_PAPER_LAYER = ATLAS_LAYERS[-1] if ATLAS_LAYERS else None
ATLAS_FIGURES = (
    ["atlas_base", "atlas_finetuned", "atlas_compare"]
    + (["atlas_classes"] if any(ATLAS["classes"].values()) or any(ATLAS["class_pairs"].values()) else [])
    if ATLAS_PAPER_LAYER
    else []
)

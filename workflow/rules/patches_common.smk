# Shared names and path helpers of the atlas-patch rules (workflow/rules/patches.smk).
from snakemake.logging import logger

from vischange.patches import candidates as vpatches
from vischange.patches.checks import patch_pairs

PATCHES = config["patches"]
P = L.stage("patches")
PATCH_LAYER = PATCHES["layer"] or ATLAS_PAPER_LAYER
_PATCH_PAIRS = patch_pairs(config)
# A fine-tuning variant tests the fine-tuned network's pairs, on its own pair atlases.
_PATCH_PAIRS.update({v: _PATCH_PAIRS["finetuned"] for v in VARIANTS})

_BASE_PAIRS = ATLAS["class_pairs"]["base"] if PATCHES["pairs"]["base"] is None else PATCHES["pairs"]["base"]
if PATCHES["enabled"] and ATLAS_LAYERS and _BASE_PAIRS and not _PATCH_PAIRS["base"]:
    logger.warning(
        "patches: the base network's pairs are skipped: its weights (model.base.source "
        f"{config['model']['base']['source']}) come without a test set of its own classes"
    )


def _patch_jobs():
    """{(net, source slug, target slug): (a, b, source, target)} for every direction tested."""
    jobs = {}
    for net, pairs in _PATCH_PAIRS.items():
        for a, b in pairs:
            for source, target in vpatches.pair_directions(a, b, PATCHES["both_directions"]):
                jobs[(net, slug(source), slug(target))] = (a, b, source, target)
    return jobs


PATCH_JOBS = _patch_jobs()
# The networks with a tested direction: each step runs one job per network.
PATCH_NETS = [net for net in ALL_NETS if any(key[0] == net for key in PATCH_JOBS)]


def patch_dir(net="{net}", source="{source}", target="{target}"):
    return L.patch_dir(net, source, target)


def patch_keys(net):
    """The (net, source slug, target slug) keys of a network's tested directions, in order."""
    return [key for key in PATCH_JOBS if key[0] == net]


def patch_files(keys, *names):
    """The files `names` of the directions `keys`, direction by direction, names inner: the
    order in which the patch scripts pair them with params.jobs."""
    return [f"{patch_dir(*key)}/{name}" for key in keys for name in names]


def patch_data(net):
    """The network's own task: the base task's split (pretrained here) or the fine-tuning task's."""
    d = f"{R}/data/base" if net == "base" else f"{R}/data"
    return {"test": f"{d}/test.csv", "train": f"{d}/train.csv", "classes": f"{d}/classes.txt"}


def patch_outputs():
    """Final outputs of every tested (network, direction)."""
    names = ["summary.csv", "summary.json", "flip_rate.png", "flip_rate.pdf", "gallery.png", "gallery.pdf"]
    per_job = [f"{patch_dir(*key)}/{name}" for key in PATCH_JOBS for name in names]
    overview = [f"{P}/overview.csv", f"{P}/atlas_margin.csv"] if PATCH_JOBS else []
    return per_job + overview

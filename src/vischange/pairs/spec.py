"""Which networks a study has and how each variant is fine-tuned, from the validated config.

Pure functions of the config dict; no torch (the workflow calls them while it parses).
"""

from __future__ import annotations

import copy
import re
from itertools import combinations
from typing import Any

# The study's own networks, in order: the pair every study compares.
MAIN = ("base", "finetuned")
# Names a variant may not take: the networks, the null experiment's render folder, and
# names whose files would collide with other files under models/ or the results layout
# (models/{name}.pt, models/{name}_metrics.json, models/.resume/{name}.pt, renders/{name}/).
RESERVED = frozenset({*MAIN, "basenull", "pretrain", "finetune", "embedding", "compare", "pairs", "all"})
NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
# The one override that is not a key of the finetune section: the fine-tuning seed
# (head initialisation, shuffling and augmentation), the study's top-level seed by default.
SEED_KEY = "seed"


def variants(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The config's variants list ([] when there is none)."""
    return list(config.get("variants") or [])


def names(config: dict[str, Any]) -> list[str]:
    """The variants' network names, in config order."""
    return [v["name"] for v in variants(config)]


def networks(config: dict[str, Any]) -> list[str]:
    """Every network of the study: base, finetuned, then the variants."""
    return [*MAIN, *names(config)]


def variant(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The variant called `name`; KeyError naming the known ones otherwise."""
    for v in variants(config):
        if v["name"] == name:
            return v
    raise KeyError(f"no variant {name!r} (variants: {', '.join(names(config)) or 'none'})")


def settings(config: dict[str, Any], name: str) -> tuple[dict[str, Any], int]:
    """(finetune settings, seed) of network `name`: the finetune section with the variant's
    overrides applied (nested sections such as augment merged key by key), and its seed.
    For "finetuned" the finetune section and the study's seed."""
    base = copy.deepcopy(config["finetune"])
    if name == "finetuned":
        return base, int(config["seed"])
    overrides = dict(variant(config, name).get("finetune") or {})
    seed = int(overrides.pop(SEED_KEY, config["seed"]))
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = copy.deepcopy(value)
    return base, seed


def trained(config: dict[str, Any], net: str) -> list[str]:
    """Modules that fine-tuning trains in network `net` (the head is added by the callers
    that need it); [] for the base network."""
    if net == "base":
        return []
    return list(settings(config, net)[0]["trainable"])


def pairs(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Every unordered pair of networks, in network order: (base, finetuned) first, then
    base against each variant, then the fine-tuned networks among themselves."""
    return list(combinations(networks(config), 2))


def pair_trainable(config: dict[str, Any], a: str, b: str) -> list[str]:
    """Modules in which networks `a` and `b` may differ: those either of them trained
    (both start from the base network, so every other module is the base's in both)."""
    return list(dict.fromkeys([*trained(config, a), *trained(config, b)]))


def pair_kind(a: str, b: str) -> str:
    """"fine-tuning" for the base network against a fine-tuned one (the change the study
    asks about), "between fine-tunings" for two fine-tuned networks (with equal settings
    but the seed, the noise of fine-tuning itself)."""
    return "fine-tuning" if "base" in (a, b) else "between fine-tunings"


def fine_tuned_pairs(config: dict[str, Any]) -> list[tuple[str, str]]:
    """The pairs of two fine-tuned networks (neither is the base): those the noise test compares."""
    return [(a, b) for a, b in pairs(config) if "base" not in (a, b)]


def differences(config: dict[str, Any], a: str, b: str) -> dict[str, tuple[Any, Any]]:
    """{setting: (value in a, value in b)} of the fine-tuning settings (and seed) that
    differ between two fine-tuned networks; {} when they were fine-tuned alike."""
    (sa, seed_a), (sb, seed_b) = settings(config, a), settings(config, b)
    out = {k: (sa.get(k), sb.get(k)) for k in sorted(set(sa) | set(sb)) if sa.get(k) != sb.get(k)}
    if seed_a != seed_b:
        out[SEED_KEY] = (seed_a, seed_b)
    return out

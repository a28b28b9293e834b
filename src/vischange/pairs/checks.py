"""Config checks of the variants list (the schema has checked types and ranges)."""

from __future__ import annotations

from typing import Any

from ..archinfo import ArchInfo
from . import spec


def problems(config: dict[str, Any], info: ArchInfo) -> list[str]:
    """Bad names (reserved, colliding with a network or another variant, not a path-safe
    word) and trainable modules the architecture lacks, each naming its key."""
    out: list[str] = []
    seen: set[str] = set()
    for i, v in enumerate(spec.variants(config)):
        key, name = f"config key variants.{i}", v["name"]
        if name in spec.MAIN:
            out.append(f"{key}.name: {name!r} is the name of one of the study's own networks ({', '.join(spec.MAIN)});"
                       " a variant needs a name of its own")
        elif name in spec.RESERVED:
            out.append(f"{key}.name: {name!r} is reserved by the results layout ({', '.join(sorted(spec.RESERVED))})")
        elif not spec.NAME.match(name):
            out.append(f"{key}.name: {name!r} is not a network name (lower-case letters and digits, words joined "
                       "by - or _, starting with a letter)")
        elif name in seen:
            out.append(f"{key}.name: {name!r} names two variants")
        seen.add(name)
        trainable = (v.get("finetune") or {}).get("trainable")
        if trainable is not None:
            out.extend(info.known_modules(f"variants.{i}.finetune.trainable", trainable)[1])
    return out

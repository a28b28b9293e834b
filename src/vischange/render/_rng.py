"""Random draws that are reproducible per image.

Every random quantity in the render package is drawn through
:func:`draw_per_image`, which accepts either one ``torch.Generator`` for the
whole batch or a sequence with one generator per image.  The per-image form
makes an image's draws independent of which other images share its batch, so
results do not depend on the batch size.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor

GeneratorArg = Union[torch.Generator, Sequence[torch.Generator], None]


def _device_of(generator: Optional[torch.Generator]) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def draw_per_image(
    generator: GeneratorArg,
    n: int,
    draw: Callable[[Optional[torch.Generator], int, torch.device], Tensor],
) -> Tensor:
    """Draw random values for ``n`` images.

    Args:
        generator: ``None`` (torch's global RNG), one generator used for the
            whole batch, or a sequence of exactly ``n`` generators (image ``i``
            draws only from ``generator[i]``).
        n: number of images.
        draw: ``draw(gen, k, device)`` returns a tensor whose first dimension
            is ``k`` and whose values come from ``gen`` only.

    Returns:
        Tensor with first dimension ``n``, on the generator's device (CPU for
        ``None``); callers move it where they need it.
    """
    if generator is None or isinstance(generator, torch.Generator):
        return draw(generator, n, _device_of(generator))
    gens = list(generator)
    if len(gens) != n:
        raise ValueError(f"got {len(gens)} generators for a batch of {n} images")
    return torch.cat([draw(g, 1, _device_of(g)) for g in gens], dim=0)


def randn_per_image(generator: GeneratorArg, n: int, shape: Sequence[int]) -> Tensor:
    """Standard normal draws of shape ``(n, *shape)`` (float32, CPU unless a
    device generator is given)."""
    return draw_per_image(
        generator, n, lambda g, k, dev: torch.randn((k, *shape), generator=g, device=dev)
    )


def randint_per_image(
    generator: GeneratorArg, n: int, high: int, shape: Sequence[int] = (1,)
) -> Tensor:
    """Integers uniform in ``[0, high)`` of shape ``(n, *shape)`` (int64)."""
    return draw_per_image(
        generator,
        n,
        lambda g, k, dev: torch.randint(high, (k, *shape), generator=g, device=dev),
    )

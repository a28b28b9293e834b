"""vischange.render.upscale: the seed's upscaling render."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vischange.render import upscale_render, upscale_sizes


def test_upscale_sizes_follow_the_seed():
    assert upscale_sizes(33, 4, 1.2) == [33, 39, 46, 55]
    assert upscale_sizes(10, 1, 1.5) == [10]



class BrightRed(nn.Module):
    """One 'layer' whose single channel is the red channel's 2x2 average pool: max activation = red everywhere."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(2)

    def forward(self, x):
        return self.pool(x[:, :1])



def test_upscale_render_grows_the_image_and_drives_the_channel():
    model = BrightRed()
    gen = torch.Generator().manual_seed(0)
    image, value = upscale_render(
        model, "pool", 0, normalize=lambda x: x, init_size=8, steps=15, upscaling_steps=3, factor=1.5, lr=0.2, generator=gen
    )
    assert image.shape == (3, 18, 18)  # 8 -> 12 -> 18
    assert 0 <= image.min() and image.max() <= 1
    start = 165 / 255  # the seed's start is uniform in [150, 180] / 255
    assert value > start + 0.2  # the red channel was pushed up
    assert image[0].mean() == pytest.approx(value, abs=1e-5)
    # green and blue get no gradient; only Adam's weight decay (the seed's 1e-6, which Adam's
    # normalization turns into full-size steps) moves them, toward gray (logit 0), never up
    assert (image[1:] <= start + 0.02).all() and (image[1:] >= 0.45).all()
    again, _ = upscale_render(
        model, "pool", 0, normalize=lambda x: x, init_size=8, steps=15, upscaling_steps=3, factor=1.5, lr=0.2,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(image, again)


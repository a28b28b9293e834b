"""vischange.render.upscale: the seed's upscaling render."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vischange.render import upscale_render, upscale_render_many, upscale_sizes


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



def test_many_channels_in_one_batch_give_each_channel_its_own_render():
    """The batched loop is the single-channel loop per image: same start (own generator),
    own gradient, elementwise Adam; only float rounding of batched kernels may differ."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 5, 3, padding=1))
    model[1].running_mean.uniform_(-0.5, 0.5)  # eval-mode statistics that are not the identity
    settings = dict(normalize=lambda x: (x - 0.5) / 0.25, init_size=8, steps=6, upscaling_steps=3, factor=1.4, lr=0.1)
    channels = [3, 0, 3, 4]  # a channel twice, from different starts
    many = upscale_render_many(model, "3", channels, generators=[torch.Generator().manual_seed(i) for i in range(4)],
                               **settings)
    for i, channel in enumerate(channels):
        image, value = upscale_render(model, "3", channel, generator=torch.Generator().manual_seed(i), **settings)
        assert torch.allclose(many[i][0], image, atol=1e-5), i
        assert many[i][1] == pytest.approx(value, rel=1e-4, abs=1e-6)
    assert not torch.allclose(many[0][0], many[2][0])  # same channel, own starts: own renders
    assert all(p.requires_grad for p in model.parameters())  # the model's flags restored
    assert upscale_render_many(model, "3", [], **settings) == []
    with pytest.raises(ValueError, match="generators"):
        upscale_render_many(model, "3", [1, 2], generators=[None], **settings)

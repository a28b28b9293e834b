"""Tests for vischange.render.engine on a tiny CPU conv net."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from vischange.render import (
    FourierImage,
    PixelImage,
    RenderResult,
    capture,
    channel,
    class_logit,
    render,
    render_channels,
    save_png,
    standard_transforms,
    to_uint8,
)

from .conftest import Counter



def tiny_net(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, 8, 3, padding=1),
            bn1=nn.BatchNorm2d(8),
            relu1=nn.ReLU(inplace=True),
            conv2=nn.Conv2d(8, 8, 3, padding=1, stride=2),
            relu2=nn.ReLU(inplace=True),
            after=Counter(),
            pool=nn.AdaptiveAvgPool2d(1),
            flat=nn.Flatten(),
            fc=nn.Linear(8, 5),
        )
    )
    # He init: PyTorch's default conv init has a small gain, which leaves a
    # random 2-layer net nearly insensitive to its input.
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


def normalize(x):
    return (x - 0.45) / 0.25


def channel_means(net, layer, images):
    """(N, C) spatial means of ``layer`` for images in [0, 1]."""
    with torch.no_grad(), capture(net, [layer]) as cap:
        return cap(normalize(images))[layer].mean(dim=(2, 3))


def test_render_maximizes_each_images_own_channel():
    net = tiny_net()
    channels = [0, 1, 2, 3]
    param = FourierImage(4, 24, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        init_images = param().clone()
    init = channel_means(net.eval(), "conv2", init_images)
    # Typical variation of each channel over uniform-noise images.
    noise = torch.rand(16, 3, 24, 24, generator=torch.Generator().manual_seed(2))
    scale = channel_means(net, "conv2", noise)[:, :4].std(dim=0)
    net.train()  # render must switch to eval and restore this
    result = render(
        net, channel("conv2", channels), param, steps=30, lr=0.05,
        transforms=standard_transforms(24), generator=torch.Generator().manual_seed(1),
        normalize=normalize,
    )
    assert isinstance(result, RenderResult)
    assert result.images.shape == (4, 3, 24, 24) and result.images.device.type == "cpu"
    assert 0 <= result.images.min() and result.images.max() <= 1
    assert result.objective.shape == (4,) and result.steps == 30 and result.seconds > 0
    assert net.training and all(p.requires_grad for p in net.parameters())

    final = channel_means(net.eval(), "conv2", result.images)[:, :4]
    idx = torch.arange(4)
    own, init_own = final[idx, channels], init[idx, channels]
    # The reported objective is the own-channel mean on the final image.
    assert torch.allclose(result.objective, own, atol=1e-5)
    # Each image's own channel rose far beyond the init value.
    assert (own - init_own > 3 * scale).all(), (own, init_own, scale)
    # Row-wise: on average over images, the own channel beats the image's other channels.
    others = (final.sum(dim=1) - own) / 3
    assert (own - others).mean() > 0, (own, others)
    # Column-wise: each channel responds more to its own image than to the
    # images rendered for the other channels, on average.
    other_images = (final.sum(dim=0) - own) / 3
    assert (own > other_images).all(), final


def test_render_leaves_model_untouched():
    net = tiny_net().eval()
    net.bn1.train()  # mixed modes must be restored exactly
    flags = [p.requires_grad for p in net.parameters()]
    net.fc.weight.requires_grad_(False)
    flags[-2] = False
    state = {k: v.clone() for k, v in net.state_dict().items()}
    render(net, channel("conv2", 0), PixelImage(1, 16), steps=3, redirect_steps=2)
    assert [p.requires_grad for p in net.parameters()] == flags
    assert net.bn1.training and not net.conv1.training and not net.training
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())
    assert all("forward" not in m.__dict__ for m in net.modules() if isinstance(m, nn.ReLU))
    assert net.after.calls == 0  # early stop after conv2 every step


def test_render_with_logits_normalize_and_param_grads_only():
    net = tiny_net()
    seen = []

    def counting_normalize(x):
        seen.append(x.shape)
        return normalize(x)

    p = PixelImage(2, 16, generator=torch.Generator().manual_seed(0))
    res = render(net, class_logit([1, 3]), p, steps=4, normalize=counting_normalize, redirect_steps=0)
    assert len(seen) == 5  # 4 steps + final evaluation
    assert net.after.calls == 5  # logits need the full forward pass
    assert all(p.grad is None for p in net.parameters())
    with torch.no_grad():
        logits = net.eval()(normalize(res.images))
    assert torch.allclose(res.objective, logits[[0, 1], [1, 3]], atol=1e-5)


def test_render_rejects_objective_for_wrong_batch():
    net = tiny_net()
    with pytest.raises(ValueError, match="3 values for a batch of 2"):
        render(net, channel("conv2", [0, 1, 2]), PixelImage(2, 16), steps=1)


def test_render_channels_bit_identical_and_ordered():
    net = tiny_net()
    kwargs = dict(size=16, steps=6, lr=0.05, redirect_steps=2)
    a = render_channels(net, "conv2", [3, 1], [0, 5], **kwargs)
    b = render_channels(net, "conv2", [3, 1], [0, 5], **kwargs)
    assert [(r["channel"], r["seed"]) for r in a] == [(3, 0), (3, 5), (1, 0), (1, 5)]
    for ra, rb in zip(a, b):
        assert set(ra) == {"channel", "seed", "image", "objective", "steps", "seconds"}
        assert ra["seconds"] > 0
        assert ra["image"].shape == (3, 16, 16) and ra["steps"] == 6
        assert isinstance(ra["objective"], float)
        assert torch.equal(ra["image"], rb["image"]) and ra["objective"] == rb["objective"]
    # Different seeds give different images.
    assert not torch.equal(a[0]["image"], a[1]["image"])


def test_render_channels_independent_of_batching():
    net = tiny_net()
    kwargs = dict(size=16, steps=5, lr=0.05, redirect_steps=2)
    together = render_channels(net, "conv2", [0, 2], [1, 2], **kwargs)
    alone = render_channels(net, "conv2", [0, 2], [1, 2], batch_size=1, **kwargs)
    single = render_channels(net, "conv2", [2], [1], **kwargs)
    for t, s in zip(together, alone):
        assert torch.allclose(t["image"], s["image"], atol=1e-4)
    assert torch.allclose(together[2]["image"], single[0]["image"], atol=1e-4)


def test_render_channels_maco_and_pixel():
    net = tiny_net()
    mag = torch.fft.rfft2(torch.rand(4, 3, 16, 16), norm="ortho").abs().mean(0)
    out = render_channels(
        net, "conv2", [0], [0], size=16, steps=2, lr=0.5, param="maco",
        param_kwargs={"magnitude": mag}, transforms=None,
    )
    assert out[0]["image"].shape == (3, 16, 16)
    out = render_channels(net, "conv2", [0], [0], size=16, steps=2, lr=0.05, param="pixel")
    assert out[0]["image"].shape == (3, 16, 16)


def test_to_uint8():
    img = torch.zeros(3, 2, 4)
    img[0, 0, 0] = 1.0
    img[1, 1, 3] = 0.5
    img[2, 0, 1] = 1.7  # clamped
    arr = to_uint8(img)
    assert arr.shape == (2, 4, 3) and arr.dtype == np.uint8
    assert arr[0, 0, 0] == 255 and arr[1, 3, 1] == 128 and arr[0, 1, 2] == 255 and arr[1, 1, 0] == 0


def test_save_png_writes_renders_and_canvases_alike(tmp_path):
    from PIL import Image

    img = torch.rand(3, 5, 7, generator=torch.Generator().manual_seed(0))
    save_png(img, tmp_path / "render.png")
    save_png(to_uint8(img), tmp_path / "canvas.png")
    assert (tmp_path / "render.png").read_bytes() == (tmp_path / "canvas.png").read_bytes()
    with Image.open(tmp_path / "render.png") as png:
        assert png.size == (7, 5) and png.mode == "RGB" and not png.info  # no metadata
        assert np.array_equal(np.asarray(png), to_uint8(img))
    with pytest.raises(ValueError, match="uint8"):
        save_png(np.zeros((5, 7, 3)), tmp_path / "float.png")


MACO_SETTINGS = {"steps": 3, "lr": 1.0, "canvas_scale": 2.0, "crops": 3, "box": [0.4, 0.6],
                 "center_std": 0.15, "noise": 0.01, "redirect_steps": 0}


def test_maco_recipe_renders_on_a_larger_canvas_with_nadam():
    from vischange.render.engine import maco_recipe

    net = tiny_net()
    recipe = maco_recipe(16, MACO_SETTINGS)
    assert recipe["canvas"] == 32 and recipe["optimizer"] == "nadam" and recipe["lr"] == 1.0
    mag = torch.fft.rfft2(torch.rand(4, 3, 32, 32), norm="ortho").abs().mean(0)
    kwargs = dict(size=16, param="maco", param_kwargs={"magnitude": mag}, normalize=normalize, **recipe)
    a = render_channels(net, "conv2", [0, 3], [0], **kwargs)
    b = render_channels(net, "conv2", [0, 3], [0], **kwargs)
    for ra, rb in zip(a, b):
        assert ra["image"].shape == (3, 16, 16) and ra["steps"] == 3
        assert torch.equal(ra["image"], rb["image"])
    # The final objective is the channel's mean on the saved (shrunk) image.
    net.eval()
    means = channel_means(net, "conv2", torch.stack([r["image"] for r in a]))
    assert a[0]["objective"] == pytest.approx(float(means[0, 0]), rel=1e-4)
    assert a[1]["objective"] == pytest.approx(float(means[1, 3]), rel=1e-4)


def test_render_averages_the_objective_over_crops():
    net = tiny_net()
    crops = []

    def two_views(images, generator=None):  # crop-major: [view 1 of all, view 2 of all]
        crops.append(images.shape[0])
        return torch.cat([images, images.flip(-1)])

    p = PixelImage(2, 16, generator=torch.Generator().manual_seed(0))
    res = render(net, channel("conv2", [0, 1]), p, steps=1, lr=0.0, transforms=two_views, redirect_steps=0)
    assert crops == [2] and res.objective.shape == (2,)
    with pytest.raises(ValueError, match="unknown optimizer"):
        render(net, channel("conv2", 0), PixelImage(1, 16), steps=1, optimizer="sgd")

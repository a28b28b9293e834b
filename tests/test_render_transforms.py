"""Tests for vischange.render.transforms (per-image transformation robustness)."""

import pytest
import torch

from vischange.render.transforms import (
    Compose,
    Jitter,
    Pad,
    RandomRotate,
    RandomScale,
    Resize,
    standard_transforms,
)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def identical_batch(n=8, size=16, seed=0):
    img = torch.rand(1, 3, size, size, generator=gen(seed))
    return img.expand(n, -1, -1, -1).contiguous()


RANDOM = {
    "jitter": lambda: Jitter(3),
    "scale": lambda: RandomScale([0.8, 0.9, 1.1, 1.2]),
    "rotate": lambda: RandomRotate([-20, -10, 10, 20]),
    "standard": lambda: standard_transforms(16),
}


def test_output_shapes():
    x = torch.rand(4, 3, 16, 20)
    assert Pad(2)(x).shape == (4, 3, 20, 24)
    assert Pad(2, mode="reflect")(x).shape == (4, 3, 20, 24)
    assert Jitter(3)(x, gen(0)).shape == (4, 3, 13, 17)
    assert RandomScale([0.9, 1.1])(x, gen(0)).shape == (4, 3, 16, 20)
    assert RandomRotate([-5, 5])(x, gen(0)).shape == (4, 3, 16, 20)
    assert Resize((10, 12))(x).shape == (4, 3, 10, 12)
    assert standard_transforms((16, 20))(x, gen(0)).shape == (4, 3, 16, 20)
    y = torch.rand(2, 3, 224, 224)
    assert standard_transforms(224)(y, gen(0)).shape == (2, 3, 224, 224)


def test_standard_chain_scales_pixel_amounts():
    small = standard_transforms(32).transforms
    big = standard_transforms(224).transforms
    assert (small[0].px, small[1].px, small[4].px) == (2, 1, 1)
    assert (big[0].px, big[1].px, big[4].px) == (12, 8, 4)
    assert (standard_transforms(8).transforms[0].px) == 1  # never below 1 px


def test_pad_values():
    x = torch.rand(2, 3, 5, 5)
    y = Pad(2)(x)
    assert torch.all(y[..., :2, :] == 0.5) and torch.all(y[..., :, -2:] == 0.5)
    assert torch.equal(y[..., 2:-2, 2:-2], x)
    r = Pad(1, mode="reflect")(x)
    assert torch.equal(r[..., 0, 1:-1], x[..., 1, :])


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_draws_differ_across_images_of_a_batch(name):
    x = identical_batch(n=8)
    y = RANDOM[name]()(x, gen(0))
    distinct = {tuple(y[i].flatten().tolist()) for i in range(len(y))}
    assert len(distinct) >= 3, "one random draw per image expected"


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_reproducible_with_same_generator(name):
    x = identical_batch(n=6)
    t = RANDOM[name]()
    assert torch.equal(t(x, gen(5)), t(x, gen(5)))
    assert not torch.equal(t(x, gen(5)), t(x, gen(6)))


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_per_image_generators_make_draws_batch_independent(name):
    x = torch.rand(3, 3, 16, 16, generator=gen(1))
    t = RANDOM[name]()
    batch = t(x, [gen(10), gen(11), gen(12)])
    for i in range(3):
        single = t(x[i : i + 1], [gen(10 + i)])
        assert torch.allclose(batch[i], single[0], atol=1e-6)


def test_jitter_is_an_exact_crop():
    x = torch.rand(5, 3, 10, 10, generator=gen(2))
    y = Jitter(3)(x, gen(3))
    for i in range(5):
        crops = [x[i, :, dy : dy + 7, dx : dx + 7] for dy in range(4) for dx in range(4)]
        assert any(torch.equal(y[i], c) for c in crops)


def test_identity_affine_and_gradients():
    x = torch.rand(2, 3, 12, 12, generator=gen(4), requires_grad=True)
    same = Compose([RandomScale([1.0]), RandomRotate([0])])(x, gen(0))
    assert torch.allclose(same, x, atol=1e-5)
    y = standard_transforms(12)(x, gen(0))
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_rotation_by_90_degrees_is_exact_on_square_images():
    x = torch.rand(1, 3, 8, 8, generator=gen(5))
    y = RandomRotate([90])(x, gen(0))
    assert torch.allclose(y, torch.rot90(x, 1, dims=(2, 3)), atol=1e-5) or torch.allclose(
        y, torch.rot90(x, -1, dims=(2, 3)), atol=1e-5
    )


def test_compose_fuses_affine_runs_like_sequential_application():
    # A smooth image, so that interpolating once or twice differs little.
    coarse = torch.rand(4, 3, 4, 4, generator=gen(6))
    x = torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False)
    scale, rot = RandomScale([0.8, 1.25]), RandomRotate([-15, 15])
    fused = Compose([scale, rot])(x, gen(9))
    # Same draws in the same order, but two separate interpolations.
    g = gen(9)
    seq = rot(scale(x, g), g)
    assert (fused - seq).abs().mean() < 0.01
    # A different draw order/pairing would give clearly different images.
    other = Compose([scale, rot])(x, gen(10))
    assert (other - seq).abs().mean() > 5 * (fused - seq).abs().mean()


def test_random_crops_shape_order_and_per_image_draws():
    from vischange.render.transforms import RandomCrops

    torch.manual_seed(0)
    images = torch.rand(3, 3, 40, 40)
    t = RandomCrops(4, 12, box=(0.25, 0.30), noise=0.01)
    out = t(images, [gen(i) for i in range(3)])
    assert out.shape == (12, 3, 12, 12)
    assert torch.equal(out, t(images, [gen(i) for i in range(3)]))
    # Crop-major; image 1's crops depend only on image 1 and its generator.
    alone = t(images[1:2], [gen(1)])
    torch.testing.assert_close(out[1::3], alone)
    # No noise, no spread, the whole canvas: the antialiased resize of the image.
    whole = RandomCrops(1, 20, box=(1.0, 1.0), center_std=0.0, noise=0.0)(images, gen(0))
    want = torch.nn.functional.interpolate(
        torch.nn.functional.interpolate(images, size=(40, 40), mode="bilinear", align_corners=False),
        size=(20, 20), mode="bicubic", align_corners=False, antialias=True)
    torch.testing.assert_close(whole, want, atol=1e-5, rtol=1e-5)
    images.requires_grad_(True)
    t(images, gen(0)).sum().backward()
    assert images.grad.abs().sum() > 0


def test_atlas_transforms_chain_matches_lucids_at_80_px():
    from vischange.render.transforms import atlas_transforms

    chain = atlas_transforms(80).transforms
    assert chain[0].px == 16 and [t.px for t in chain[1:6]] == [4, 4, 8, 8, 8] and chain[8].px == 2
    assert chain[6].scales.tolist() == pytest.approx([0.998**n for n in range(20, 40)])
    assert len(chain[7].degrees) == 40 + 20 + 10 + 5 and chain[7].degrees.abs().max() == 20
    assert atlas_transforms(48)(torch.rand(2, 3, 48, 48), gen(0)).shape == (2, 3, 48, 48)

"""Tests for vischange.render.param (image parameterizations)."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from vischange.render.param import (
    FourierImage,
    MagnitudeConstrainedImage,
    PixelImage,
    color_matrix_from_images,
    make_param,
    mean_magnitude_spectrum,
    param_arguments,
)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def natural_ish_images(m=6, size=16, seed=0):
    """Smooth, colour-correlated random images in [0, 1]: (m, 3, size, size)."""
    g = gen(seed)
    base = torch.rand(m, 1, size // 4, size // 4, generator=g)
    lum = torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)
    tint = 0.1 * torch.rand(m, 3, 1, 1, generator=g)
    return (0.8 * lum + tint + 0.05 * torch.rand(m, 3, size, size, generator=g)).clamp(0, 1)


def make(name, n, size, seed):
    kwargs = {}
    if name == "maco":
        h, w = (size, size) if isinstance(size, int) else size
        kwargs["magnitude"] = mean_magnitude_spectrum(natural_ish_images(size=max(h, w))[..., :h, :w])
    return make_param(name, n, size, generator=gen(seed), **kwargs)


SIZES = [16, (12, 15)]  # square, and non-square with odd width


@pytest.mark.parametrize("name", ["fourier", "pixel", "maco"])
@pytest.mark.parametrize("size", SIZES)
def test_shape_range_and_gradients(name, size):
    p = make(name, 3, size, seed=0)
    h, w = (size, size) if isinstance(size, int) else size
    x = p()
    assert x.shape == (3, 3, h, w)
    assert x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    (x * torch.randn_like(x)).sum().backward()
    params = list(p.parameters())
    assert params, "parameterization must have trainable parameters"
    for t in params:
        assert t.grad is not None and t.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["fourier", "pixel", "maco"])
def test_seeded_init_is_bit_identical(name):
    a, b, c = make(name, 2, 16, seed=7), make(name, 2, 16, seed=7), make(name, 2, 16, seed=8)
    assert torch.equal(a(), b())
    assert not torch.equal(a(), c())


@pytest.mark.parametrize("name", ["fourier", "pixel", "maco"])
def test_per_image_generators_make_init_batch_independent(name):
    kwargs = {"magnitude": torch.rand(3, 16, 9, generator=gen(3))} if name == "maco" else {}
    batch = make_param(name, 3, 16, generator=[gen(1), gen(2), gen(3)], **kwargs)
    single = make_param(name, 1, 16, generator=[gen(2)], **kwargs)
    assert torch.equal(batch()[1], single()[0])
    with pytest.raises(ValueError, match="generators"):
        make_param(name, 3, 16, generator=[gen(1)], **kwargs)


def test_fourier_spectrum_scaling_finite_and_decaying():
    p = FourierImage(1, 16, decay_power=1.0)
    assert torch.isfinite(p.scale).all()
    assert p.scale[0, 0] == pytest.approx(16.0)  # DC clamped at frequency 1/16
    assert p.scale[0, 1] == pytest.approx(16.0)  # lowest non-zero frequency is 1/16
    assert p.scale[0, 8] == pytest.approx(2.0)  # Nyquist column, f = 1/2
    flat = FourierImage(1, 16, decay_power=0.0)
    assert torch.equal(flat.scale, torch.ones_like(flat.scale))


def test_fourier_identity_colour_is_sigmoid_of_spatial():
    p = FourierImage(2, 16, generator=gen(0))
    assert torch.allclose(p(), torch.sigmoid(p.spatial()))


def test_fourier_colour_matrix_normalized_by_max_column_norm():
    m = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.5]])
    p = FourierImage(1, 8, color_matrix=m, generator=gen(0))
    assert torch.allclose(p.color_matrix, m / 2.0)
    s = p.spatial()
    assert torch.allclose(p(), torch.sigmoid(torch.einsum("ij,njhw->nihw", m / 2.0, s)))


def test_color_matrix_from_images_is_covariance_sqrt():
    g = gen(0)
    mix = torch.tensor([[0.20, 0.05, 0.00], [0.18, -0.04, 0.02], [0.15, 0.00, -0.03]])
    z = torch.randn(5, 3, 16, 16, generator=g)
    images = torch.einsum("ij,njhw->nihw", mix, z) + 0.5
    s = color_matrix_from_images(images)
    pix = images.permute(1, 0, 2, 3).reshape(3, -1).double()
    cov = torch.cov(pix).float()
    assert torch.allclose(s @ s.T, cov, atol=1e-6)
    # Columns ordered by decreasing variance; first column is the dominant one.
    norms = torch.linalg.vector_norm(s, dim=0)
    assert (norms[:-1] >= norms[1:]).all()
    assert s[:, 0].sum() > 0


def test_mean_magnitude_spectrum_matches_definition():
    images = natural_ish_images(m=4, size=16)
    mag = mean_magnitude_spectrum(images)
    assert mag.shape == (3, 16, 9)
    expected = torch.fft.rfft2(images.double(), norm="ortho").abs().mean(0).float()
    assert torch.allclose(mag, expected, atol=1e-6)
    # Identity colour matrix changes nothing.
    assert torch.allclose(mean_magnitude_spectrum(images, torch.eye(3)), mag, atol=1e-6)


@pytest.mark.parametrize("size", [16, (12, 15), (9, 10)])
def test_maco_magnitude_is_fixed(size):
    h, w = (size, size) if isinstance(size, int) else size
    magnitude = mean_magnitude_spectrum(natural_ish_images(size=max(h, w))[..., :h, :w])
    p = MagnitudeConstrainedImage(2, size, magnitude, generator=gen(0))
    # Only the phase is trainable; the magnitude is a buffer.
    assert [name for name, _ in p.named_parameters()] == ["phase"]
    # Exact magnitude before normalization (magnitudes of natural images are
    # already Hermitian-symmetric, so the symmetrization leaves them alone).
    raw = torch.fft.rfft2(p.raw_spatial(), norm="ortho").abs()
    assert torch.allclose(raw, magnitude.expand_as(raw), rtol=1e-4, atol=1e-5)
    # After standardization: magnitude scaled by 1/std, DC excepted (mean removed).
    x, spatial = p.raw_spatial(), p.spatial()
    std = x.std(dim=(1, 2, 3)).view(-1, 1, 1, 1)
    got = torch.fft.rfft2(spatial, norm="ortho").abs() * (std + 1e-5)
    want = magnitude.expand_as(got)
    not_dc = torch.ones_like(want, dtype=torch.bool)
    not_dc[..., 0, 0] = False
    assert torch.allclose(got[not_dc], want[not_dc], rtol=1e-4, atol=1e-5)
    # The magnitude stays fixed after an optimization step on the phase.
    opt = torch.optim.Adam(p.parameters(), lr=0.5)
    (-p()[:, 0].mean()).backward()
    opt.step()
    raw = torch.fft.rfft2(p.raw_spatial(), norm="ortho").abs()
    assert torch.allclose(raw, magnitude.expand_as(raw), rtol=1e-4, atol=1e-5)


def test_maco_images_are_not_gray():
    magnitude = mean_magnitude_spectrum(natural_ish_images(size=16))
    x = MagnitudeConstrainedImage(3, 16, magnitude, generator=gen(0))()
    assert (x.std(dim=(1, 2, 3)) > 0.1).all()


def test_maco_rejects_bad_magnitude():
    with pytest.raises(ValueError, match="shape"):
        MagnitudeConstrainedImage(1, 16, torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="non-negative"):
        MagnitudeConstrainedImage(1, 16, -torch.rand(3, 16, 9))


def test_make_param_names():
    assert isinstance(make_param("fourier", 1, 8), FourierImage)
    assert isinstance(make_param("pixel", 1, 8), PixelImage)
    assert isinstance(make_param("maco", 1, 8, magnitude=torch.rand(3, 8, 5)), MagnitudeConstrainedImage)
    with pytest.raises(ValueError, match="fourier, pixel, maco"):
        make_param("lucid", 1, 8)
    with pytest.raises(TypeError, match="magnitude"):
        make_param("maco", 1, 8)


def test_param_arguments_for_maco_match_the_render_size(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append({"path": f"{i}.png", "label": 0})
    pd.DataFrame(rows).to_csv(tmp_path / "train.csv", index=False)
    kwargs = param_arguments("maco", tmp_path / "train.csv", 16, seed=0)
    assert kwargs["magnitude"].shape == (3, 16, 9) and kwargs["color_matrix"].shape == (3, 3)
    assert set(param_arguments("fourier", tmp_path / "train.csv", 16, seed=0)) == {"color_matrix"}
    assert param_arguments("pixel", tmp_path / "train.csv", 16, seed=0) == {}


def test_maco_standardized_phase_keeps_magnitude_while_phase_changes():
    """The authors' recipe: phase standardized, NAdam at lr 1.0. The magnitude
    spectrum of the image stays the buffer exactly while the phase moves."""
    magnitude = mean_magnitude_spectrum(natural_ish_images(size=16))
    p = MagnitudeConstrainedImage(2, 16, magnitude, generator=gen(1))
    assert p.standardize_phase
    phi = p._consistent_phase()
    # Standardized (the Hermitian columns are then made consistent, so only roughly).
    assert abs(float(phi.mean())) < 0.1 and abs(float(phi.std()) - 1.0) < 0.1
    before_phase = torch.angle(torch.fft.rfft2(p.raw_spatial(), norm="ortho")).detach()
    opt = torch.optim.NAdam(p.parameters(), lr=1.0)
    for _ in range(3):
        opt.zero_grad()
        (-p()[:, 0, 4:12, 4:12].mean()).backward()
        opt.step()
    spec = torch.fft.rfft2(p.raw_spatial(), norm="ortho")
    assert torch.allclose(spec.abs(), magnitude.expand_as(spec.abs()), rtol=1e-4, atol=1e-5)
    moved = (torch.angle(spec) - before_phase).remainder(2 * torch.pi)
    moved = torch.minimum(moved, 2 * torch.pi - moved)
    big = magnitude.expand_as(moved) > 1e-3
    assert float(moved[big].mean()) > 0.1  # the phase changed

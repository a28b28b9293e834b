"""Procedural, deterministic image-classification tasks for the offline demo.

Two tasks share one renderer (same background model, object drawing, colour
and texture statistics) but depend on different high-level features, which
mimics "pretrain on ImageNet, fine-tune on a fine-grained dataset":

* ``"shapes"`` (base / pretraining task): the class is the outline of a single
  foreground object, one of 8 shapes.  Its fill is a random solid colour or a
  random texture from the shared texture bank, so texture is a nuisance here.
* ``"textures"`` (fine-tuning task): the class is a (shape, fill texture) pair
  from a 3 x 3 grid, e.g. ``"circle-stripes"``; texture now carries the label.

Colours are drawn independently of the class in both tasks, so neither task is
solvable from colour statistics alone.  Every texture is mirror-symmetric up to
a phase shift and every shape is mirror-symmetric up to a rotation, so a random
horizontal flip is a label-preserving augmentation.

Geometry is rendered analytically: each shape is a signed distance field (SDF)
in pixel units and its coverage is ``clip(0.5 - sdf, 0, 1)``, which gives a
one-pixel antialiased edge without supersampling.  Textures use the same trick.

Reproducibility: the pixels of an image depend only on ``(seed, task, split,
index, size, style)`` through :func:`image_rng`, never on generation order.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

__all__ = [
    "SHAPES",
    "STYLES",
    "TASKS",
    "ObjectClass",
    "Style",
    "TaskSpec",
    "TextureSpec",
    "class_names",
    "image_rng",
    "make_image",
    "shape_coverage",
    "texture_weights",
    "write_dataset",
    "write_split",
]

# --------------------------------------------------------------------------
# Shapes: signed distance fields in the object's local frame.
#
# Local frame: origin at the object centre, y pointing down (image
# convention), unit = object "radius" (half its nominal extent).  Negative
# inside.  Every shape is symmetric under x -> -x, which is what makes a
# horizontal image flip equivalent to negating the rotation angle.
# --------------------------------------------------------------------------


def _sd_circle(x: np.ndarray, y: np.ndarray, r: float, cy: float = 0.0) -> np.ndarray:
    return np.hypot(x, y - cy) - r


def _sd_polygon(x: np.ndarray, y: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Exact SDF of a simple polygon; ``verts`` is (M, 2), any orientation."""
    # Squared distance to the nearest edge plus an even-odd crossing test for
    # the sign (after I. Quilez, "2D distance functions").
    d2 = np.full(x.shape, np.inf)
    inside = np.zeros(x.shape, dtype=bool)
    n = len(verts)
    for i in range(n):
        ax, ay = verts[i]
        bx, by = verts[i - 1]
        ex, ey = bx - ax, by - ay
        wx, wy = x - ax, y - ay
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        d2 = np.minimum(d2, (wx - ex * t) ** 2 + (wy - ey * t) ** 2)
        c1 = y >= ay
        c2 = y < by
        c3 = ex * wy > ey * wx
        inside ^= (c1 & c2 & c3) | (~c1 & ~c2 & ~c3)
    return np.where(inside, -1.0, 1.0) * np.sqrt(d2)


def _regular_star(points: int, outer: float, inner: float) -> np.ndarray:
    """(2*points, 2) vertices of a star with one tip pointing up (-y)."""
    ang = -math.pi / 2 + np.arange(2 * points) * math.pi / points
    rad = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    return np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)


# Polygon vertices are precomputed once; sizes were tuned by eye so that all
# shapes have a similar visual extent inside the unit circle.
_SQUARE = np.array([[-0.74, -0.74], [0.74, -0.74], [0.74, 0.74], [-0.74, 0.74]])
_TRIANGLE = 0.9 * np.array([[0.0, -0.95], [1.0, 0.782], [-1.0, 0.782]])
_STAR = _regular_star(5, 1.0, 0.42)
_CROSS = np.array(
    [
        [-0.3, -0.92], [0.3, -0.92], [0.3, -0.3], [0.92, -0.3], [0.92, 0.3], [0.3, 0.3],
        [0.3, 0.92], [-0.3, 0.92], [-0.3, 0.3], [-0.92, 0.3], [-0.92, -0.3], [-0.3, -0.3],
    ]
)
# Heart = diamond with two discs on its upper edges, tip pointing down.
_HEART_H, _HEART_A = 0.78, 0.09
_HEART_DIAMOND = np.array(
    [[0.0, _HEART_A - _HEART_H], [_HEART_H, _HEART_A], [0.0, _HEART_A + _HEART_H], [-_HEART_H, _HEART_A]]
)


def _sd_heart(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    h, a = _HEART_H, _HEART_A
    r = h / math.sqrt(2.0)
    lobes = np.minimum(np.hypot(x - h / 2, y - (a - h / 2)), np.hypot(x + h / 2, y - (a - h / 2))) - r
    return np.minimum(_sd_polygon(x, y, _HEART_DIAMOND), lobes)


def _sd_crescent(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # Disc minus an upward-shifted disc: a "smile" crescent, horns pointing up.
    return np.maximum(_sd_circle(x, y, 0.95, cy=0.15), -_sd_circle(x, y, 0.8, cy=-0.3))


SdfFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Shape name -> SDF in the local unit frame (see module comment above).
SHAPES: dict[str, SdfFn] = {
    "circle": lambda x, y: _sd_circle(x, y, 0.9),
    "square": lambda x, y: _sd_polygon(x, y, _SQUARE),
    "triangle": lambda x, y: _sd_polygon(x, y, _TRIANGLE),
    "star": lambda x, y: _sd_polygon(x, y, _STAR),
    "cross": lambda x, y: _sd_polygon(x, y, _CROSS),
    "ring": lambda x, y: np.abs(np.hypot(x, y) - 0.72) - 0.23,
    "crescent": _sd_crescent,
    "heart": _sd_heart,
}


def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates, x = column and y = row, each (size, size)."""
    c = np.arange(size, dtype=np.float64)
    return np.broadcast_to(c[None, :], (size, size)), np.broadcast_to(c[:, None], (size, size))


def shape_coverage(
    shape: str, size: int, center: tuple[float, float], radius: float, angle: float
) -> np.ndarray:
    """Antialiased coverage of one shape, float64 (size, size) in [0, 1].

    ``center`` is (x, y) in pixels (pixel centres at integer coordinates),
    ``radius`` the object's half-extent in pixels, ``angle`` its rotation in
    radians.  Mirror property used by the tests: flipping the result left-right
    equals ``shape_coverage(shape, size, (size - 1 - x, y), radius, -angle)``.
    """
    xs, ys = _pixel_grid(size)
    dx, dy = xs - center[0], ys - center[1]
    c, s = math.cos(angle), math.sin(angle)
    # Rotate pixels into the object frame (inverse rotation), then scale.
    lx = (c * dx + s * dy) / radius
    ly = (-s * dx + c * dy) / radius
    sdf_px = SHAPES[shape](lx, ly) * radius
    return np.clip(0.5 - sdf_px, 0.0, 1.0)


# --------------------------------------------------------------------------
# Textures: axis-aligned periodic patterns in image coordinates.
#
# A texture function takes u = (x - x0) / period and v = (y - y0) / period and
# returns the weight of the second texture colour in [0, 1].  All functions are
# even in u, so mirroring the image equals re-phasing the texture
# (x0 -> size - 1 - x0); that is what keeps horizontal flips label-preserving.
# Diagonal patterns would break this and must not be added to a bank.
# --------------------------------------------------------------------------


def _band(t: np.ndarray, width: float, pix: float) -> np.ndarray:
    """Soft indicator of |t - nearest integer| < width / 2; ``pix`` = 1 px in t units."""
    dist = np.abs(t - np.round(t))  # even in t: np.round is odd-symmetric
    return np.clip((0.5 * width - dist) / pix + 0.5, 0.0, 1.0)


def _tex_stripes(u, v, pix, duty):  # horizontal stripes
    return _band(v, duty, pix)


def _tex_vstripes(u, v, pix, duty):
    return _band(u, duty, pix)


def _tex_checker(u, v, pix, duty):
    # Soft XOR of two half-period square waves; ``duty`` is unused.
    a, b = _band(u, 0.5, pix), _band(v, 0.5, pix)
    return a + b - 2.0 * a * b


def _tex_dots(u, v, pix, duty):  # duty = dot radius / period
    du, dv = u - np.round(u), v - np.round(v)
    return np.clip((duty - np.hypot(du, dv)) / pix + 0.5, 0.0, 1.0)


def _tex_grid(u, v, pix, duty):  # duty = line width / period
    a, b = _band(u, duty, pix), _band(v, duty, pix)
    return a + b - a * b


@dataclass(frozen=True)
class TextureSpec:
    """A texture of a bank: ``fn(u, v, pix, duty) -> weights`` and its duty range."""

    fn: Callable[[np.ndarray, np.ndarray, float, float], np.ndarray]
    duty: tuple[float, float]


def texture_weights(
    kind: str,
    size: int,
    period: float,
    offset: tuple[float, float],
    duty: float,
    style: str = "default",
) -> np.ndarray:
    """Weight of the second texture colour, float64 (size, size) in [0, 1].

    ``period`` and ``offset`` = (x0, y0) are in pixels.  Mirror property used
    by the tests: ``np.fliplr(texture_weights(k, n, p, (x0, y0), d))`` equals
    ``texture_weights(k, n, p, (n - 1 - x0, y0), d)``.
    """
    bank = _get_style(style).textures
    if kind not in bank:
        raise ValueError(f"unknown texture {kind!r} for style {style!r}; choose from {sorted(bank)}")
    xs, ys = _pixel_grid(size)
    return bank[kind].fn((xs - offset[0]) / period, (ys - offset[1]) / period, 1.0 / period, duty)


# --------------------------------------------------------------------------
# Styles: how a class is rendered.  A domain-shift style (another texture
# bank, another background model, ...) is a new entry in STYLES; it must
# provide every texture named by a task class so that labels keep their
# meaning.  Task definitions and random seeds do not depend on the style.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """Rendering parameters; lengths are fractions of the image side."""

    textures: Mapping[str, TextureSpec]
    solid_fill_prob: float = 0.5  # base task: P(solid colour) vs random bank texture
    object_diameter: tuple[float, float] = (0.35, 0.70)
    texture_period: tuple[float, float] = (0.10, 0.16)
    # Objects are roughly upright (+-30 deg), like photographed objects; full
    # rotations made the base task much slower to learn from ~3k images.  The
    # range is symmetric, so a mirrored image (angle -> -angle) stays in-distribution.
    max_rotation: float = math.pi / 6
    background_grid: tuple[int, int] = (2, 4)  # control points per side (inclusive)
    background_jitter: float = 0.18  # std of control-point colours around the base
    pixel_noise: tuple[float, float] = (0.005, 0.035)  # std, in [0, 1] intensity
    blob_prob: float = 0.5
    blob_radius: tuple[float, float] = (0.025, 0.055)
    min_colour_dist: float = 0.4  # RGB distance (in [0, 1]^3) between object/background colours
    # Domain-shift styles. palette "colour" keeps the drawn colours; "xray" maps them to
    # gray levels of a radiograph (dark background, bright object, the texture's two
    # fills a fixed luminance step apart so the class stays visible) and the final image
    # to grayscale. blur: Gaussian blur sigma in pixels, applied before the pixel noise.
    # A style consumes the image's random stream exactly as the default style does, so
    # image i of a split shows the same scene (shape, position, texture, phase) in every
    # style: a shifted split is a paired, label-exact copy of the source split.
    palette: str = "colour"
    blur: float = 0.0
    fill_contrast: float = 0.3  # xray palette: luminance step between the texture's two fills
    invert: bool = False  # final image as its negative (after blur, noise and grayscale)
    # Contrast of a random bank texture laid over the background (behind blobs and object);
    # 0 for none. Its draws come from a generator spawned from the image's, so the scene's
    # own random stream is not consumed.
    background_texture: float = 0.0


_DEFAULT_BANK: dict[str, TextureSpec] = {
    "stripes": TextureSpec(_tex_stripes, (0.4, 0.6)),
    "vstripes": TextureSpec(_tex_vstripes, (0.4, 0.6)),
    "checker": TextureSpec(_tex_checker, (0.5, 0.5)),
    "dots": TextureSpec(_tex_dots, (0.22, 0.32)),
    "grid": TextureSpec(_tex_grid, (0.18, 0.28)),
}

STYLES: dict[str, Style] = {
    "default": Style(textures=_DEFAULT_BANK),
    # The demo's target domain (the article's web photos -> X-ray scans): the same scenes
    # as gray negatives (bright background, dark object), over structured backgrounds
    # (a random bank texture, as ribs behind an X-rayed object), a little blurred and
    # grainier. The object's outline and fill texture, hence its class, are untouched and
    # its two fills keep a 0.3 luminance step; the tests check that the images differ
    # measurably.
    "xray": Style(textures=_DEFAULT_BANK, palette="xray", blur=0.7, pixel_noise=(0.03, 0.06),
                  background_texture=0.3, invert=True),
}

#: Luminance weights (ITU-R BT.601) used by the xray palette.
_LUMA = np.array([0.299, 0.587, 0.114])


def _get_style(style: str) -> Style:
    try:
        return STYLES[style]
    except KeyError:
        raise ValueError(f"unknown style {style!r}; choose from {sorted(STYLES)}") from None


# --------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectClass:
    """One class: an object shape and, if fixed by the class, its fill texture."""

    name: str
    shape: str
    texture: str | None  # None: random solid colour or random bank texture


@dataclass(frozen=True)
class TaskSpec:
    description: str
    classes: tuple[ObjectClass, ...]


_BASE_SHAPES = ("circle", "square", "triangle", "star", "cross", "ring", "crescent", "heart")
_FINE_SHAPES = ("circle", "square", "triangle")
_FINE_TEXTURES = ("stripes", "checker", "dots")

TASKS: dict[str, TaskSpec] = {
    "shapes": TaskSpec(
        description="8-way object shape; fill colour/texture is a nuisance",
        classes=tuple(ObjectClass(s, s, None) for s in _BASE_SHAPES),
    ),
    "textures": TaskSpec(
        description="9-way (shape, fill texture) combination",
        classes=tuple(
            ObjectClass(f"{s}-{t}", s, t) for s in _FINE_SHAPES for t in _FINE_TEXTURES
        ),
    ),
}


def _get_task(task: str) -> TaskSpec:
    try:
        return TASKS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; choose from {sorted(TASKS)}") from None


def class_names(task: str) -> list[str]:
    """Class names of ``task`` in label order."""
    return [c.name for c in _get_task(task).classes]


# --------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------

_SEED_VERSION = 1  # bump to deliberately change every generated image


def _words(value: int, n: int) -> list[int]:
    """``value`` as exactly ``n`` little-endian uint32 words (fixed width keeps
    the SeedSequence entropy unambiguous)."""
    return [(value >> (32 * i)) & 0xFFFFFFFF for i in range(n)]


def _text_words(text: str) -> list[int]:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return _words(int.from_bytes(digest[:16], "little"), 4)


def image_rng(seed: int, task: str, split: str, index: int) -> np.random.Generator:
    """Independent generator for one image, stable across runs and platforms.

    Entropy = fixed-width words of (version, seed, sha256(task), sha256(split),
    index), so changing any of them gives an unrelated stream and the image
    does not depend on which other images were generated before it.
    """
    if not 0 <= seed < 2**64 or not 0 <= index < 2**64:
        raise ValueError(f"seed and index must be in [0, 2**64), got {seed}, {index}")
    entropy = [_SEED_VERSION, *_words(seed, 2), *_text_words(task), *_text_words(split), *_words(index, 2)]
    return np.random.default_rng(np.random.SeedSequence(entropy))


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


def _distinct_colours(rng: np.random.Generator, n: int, min_dist: float) -> np.ndarray:
    """(n, 3) RGB colours in [0, 1], pairwise at least ``min_dist`` apart.

    Whole tuples are rejected (not one colour at a time), so the joint law is
    exchangeable: background and object colours share one marginal and per-class
    mean colour cannot depend on how much of the image the object covers.
    """
    for _ in range(1000):
        c = rng.random((n, 3))
        d = np.linalg.norm(c[:, None, :] - c[None, :, :], axis=-1)
        if np.all(d[np.triu_indices(n, 1)] >= min_dist):
            return c
    raise RuntimeError("could not sample distinct colours; min_colour_dist too large")


def _smooth_field(rng: np.random.Generator, size: int, base: np.ndarray, st: Style) -> np.ndarray:
    """Low-frequency colour field, float (size, size, 3): a k x k grid of colours
    around ``base`` blended with normalised Gaussian weights."""
    k = int(rng.integers(st.background_grid[0], st.background_grid[1] + 1))
    ctrl = np.clip(base + rng.normal(0.0, st.background_jitter, (k, k, 3)), 0.0, 1.0)
    pos = (np.arange(k) + 0.5) * size / k
    w = np.exp(-0.5 * ((np.arange(size)[:, None] - pos[None, :]) / (size / k)) ** 2)
    w /= w.sum(axis=1, keepdims=True)  # (size, k)
    # Per channel W @ C @ W^T as batched matmul (much faster than einsum here).
    return (w @ ctrl.transpose(2, 0, 1) @ w.T).transpose(1, 2, 0)


def _over(img: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite ``colour`` ((3,) or (H, W, 3)) over ``img`` with coverage ``alpha`` (H, W)."""
    a = alpha[..., None]
    return img * (1.0 - a) + colour * a


def _render(obj: ObjectClass, rng: np.random.Generator, size: int, st: Style) -> np.ndarray:
    """Render one image of class ``obj``; returns float (size, size, 3) in [0, 1]."""
    # Colours: [background, fill A, fill B]; B only matters for textures.
    bg_colour, col_a, col_b = _distinct_colours(rng, 3, st.min_colour_dist)
    if st.palette == "xray":
        bg_colour, col_a, col_b = _xray_levels(bg_colour, col_a, col_b, st.fill_contrast)
    img = _smooth_field(rng, size, bg_colour, st)

    if st.background_texture > 0:
        img = _textured_background(img, rng.spawn(1)[0], size, st)

    # Distractor blobs: much smaller than any object and drawn behind it.
    if rng.random() < st.blob_prob:
        for _ in range(int(rng.integers(1, 4))):
            r = size * rng.uniform(*st.blob_radius)
            cx, cy = rng.uniform(0, size - 1, 2)
            alpha = shape_coverage("circle", size, (cx, cy), r / 0.9, 0.0)
            blob = rng.random(3)
            if st.palette == "xray":  # faint specks, between background and object
                blob = np.full(3, 0.2 + 0.25 * float(_LUMA @ blob))
            img = _over(img, blob, alpha)

    # Object geometry; keep the whole object inside the frame (the triangle's
    # corners, the farthest point of any shape, reach 1.14 radii).
    radius = 0.5 * size * rng.uniform(*st.object_diameter)
    margin = 1.15 * radius + 0.5
    cx, cy = rng.uniform(margin, size - 1 - margin, 2)
    angle = rng.uniform(-st.max_rotation, st.max_rotation)
    coverage = shape_coverage(obj.shape, size, (cx, cy), radius, angle)

    # Fill: the class texture, or (base task) a random solid colour / bank texture.
    texture = obj.texture
    if texture is None and rng.random() >= st.solid_fill_prob:
        names = sorted(st.textures)
        texture = names[int(rng.integers(len(names)))]
    if texture is None:
        fill: np.ndarray = col_a
    else:
        spec = st.textures[texture]
        period = size * rng.uniform(*st.texture_period)
        offset = tuple(rng.uniform(0.0, period, 2))
        duty = rng.uniform(*spec.duty)
        xs, ys = _pixel_grid(size)
        wts = spec.fn((xs - offset[0]) / period, (ys - offset[1]) / period, 1.0 / period, duty)
        fill = _over(np.broadcast_to(col_a, img.shape), col_b, wts)
    img = _over(img, fill, coverage)

    if st.blur > 0:
        img = _gaussian_blur(img, st.blur)
    img = img + rng.normal(0.0, rng.uniform(*st.pixel_noise), img.shape)
    if st.palette == "xray":
        img = np.repeat((img @ _LUMA)[..., None], 3, axis=2)
    if st.invert:
        img = 1.0 - img
    return np.clip(img, 0.0, 1.0)


def _textured_background(img: np.ndarray, rng: np.random.Generator, size: int, st: Style) -> np.ndarray:
    """The background overlaid with a random bank texture (any kind, the objects' period range),
    its second colour the background's own shifted by +-background_texture in every channel."""
    names = sorted(st.textures)
    spec = st.textures[names[int(rng.integers(len(names)))]]
    period = size * rng.uniform(*st.texture_period)
    offset = rng.uniform(0.0, period, 2)
    duty = rng.uniform(*spec.duty)
    xs, ys = _pixel_grid(size)
    wts = spec.fn((xs - offset[0]) / period, (ys - offset[1]) / period, 1.0 / period, duty)
    shift = st.background_texture * (1.0 if rng.random() < 0.5 else -1.0)
    return np.clip(img + shift * wts[..., None], 0.0, 1.0)


def _xray_levels(bg: np.ndarray, a: np.ndarray, b: np.ndarray, contrast: float = 0.3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The xray palette: gray levels from the drawn colours' luminance.

    Background dark (0.05-0.20), fill A mid-bright (0.45-0.65), fill B 0.3 brighter or
    darker than A (by the sign of the drawn colours' luminance difference), so the
    class-defining texture keeps a contrast of 0.3 whatever colours were drawn.
    """
    la, lb = float(_LUMA @ a), float(_LUMA @ b)
    level_a = 0.45 + 0.2 * la
    level_b = level_a + (contrast if lb >= la else -contrast)
    return (np.full(3, 0.05 + 0.15 * float(_LUMA @ bg)), np.full(3, level_a), np.full(3, level_b))


def _gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an (H, W, 3) image, edges reflected."""
    radius = max(1, int(math.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    pad = np.pad(img, ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
    n = img.shape[0]
    rows = sum(kernel[i] * pad[i : i + n, :, :] for i in range(len(kernel)))
    return sum(kernel[i] * rows[:, i : i + img.shape[1], :] for i in range(len(kernel)))


def make_image(
    task: str, label: int, rng: np.random.Generator, size: int, style: str = "default"
) -> Image.Image:
    """Draw one RGB ``size`` x ``size`` image of class ``label`` of ``task``.

    All randomness comes from ``rng`` (consumed in a fixed order), so a
    generator from :func:`image_rng` makes the image reproducible.
    """
    spec = _get_task(task)
    st = _get_style(style)
    if not 0 <= label < len(spec.classes):
        raise ValueError(f"label {label} out of range for task {task!r} ({len(spec.classes)} classes)")
    if size < 8:
        raise ValueError(f"size must be >= 8 pixels, got {size}")
    obj = spec.classes[label]
    if obj.texture is not None and obj.texture not in st.textures:
        raise ValueError(f"style {style!r} has no texture {obj.texture!r} needed by class {obj.name!r}")
    arr = _render(obj, rng, size, st)
    return Image.fromarray(np.rint(arr * 255.0).astype(np.uint8), mode="RGB")


# --------------------------------------------------------------------------
# Writing datasets
# --------------------------------------------------------------------------


def _check_split_name(split: str) -> None:
    if not split or split in {".", ".."} or "/" in split or "\\" in split:
        raise ValueError(f"invalid split name {split!r}")


def _write_split(
    out_dir: Path, task: str, split: str, per_class: int, size: int, seed: int, style: str, bar: tqdm | None
) -> pd.DataFrame:
    _check_split_name(split)
    if per_class < 0:
        raise ValueError(f"per_class must be >= 0, got {per_class}")
    names = class_names(task)
    _get_style(style)  # fail before creating any directory
    n = len(names)
    rows: list[tuple[str, int]] = []
    for label, name in enumerate(names):
        rel_dir = Path("images") / split / name
        (out_dir / rel_dir).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            # Interleaved index: the first k images per class do not change when
            # per_class grows, so small runs are prefixes of larger ones.
            rng = image_rng(seed, task, split, i * n + label)
            img = make_image(task, label, rng, size, style)
            rel = rel_dir / f"{i:05d}.png"
            # No pnginfo => no timestamps/metadata, so bytes are deterministic.
            img.save(out_dir / rel, format="PNG", compress_level=6)
            rows.append((rel.as_posix(), label))
            if bar is not None:
                bar.update(1)
    df = pd.DataFrame(rows, columns=["path", "label"])
    return df.astype({"path": str, "label": np.int64})


def write_split(
    out_dir: Path, task: str, split: str, per_class: int, size: int, seed: int, style: str = "default"
) -> pd.DataFrame:
    """Write ``per_class`` PNGs of every class to
    ``out_dir/images/{split}/{class_name}/{i:05d}.png``.

    Returns a DataFrame with columns ``path`` (POSIX, relative to ``out_dir``)
    and ``label`` (int), ordered by (label, i).
    """
    return _write_split(Path(out_dir), task, split, per_class, size, seed, style, bar=None)


def write_dataset(
    out_dir: Path, task: str, splits: dict[str, int], size: int, seed: int, style: str = "default"
) -> dict[str, pd.DataFrame]:
    """Write every split (``splits`` maps split name -> images per class), plus
    ``{split}.csv`` (path,label) and ``classes.txt`` (one name per line, label
    order) in ``out_dir``.  Splits use different seeds, so they share no images.
    Existing files are overwritten; stale extra files are left alone.
    """
    out_dir = Path(out_dir)
    names = class_names(task)
    _get_style(style)
    for split in splits:
        _check_split_name(split)
    out_dir.mkdir(parents=True, exist_ok=True)
    total = sum(splits.values()) * len(names)
    frames: dict[str, pd.DataFrame] = {}
    with tqdm(total=total, desc=f"{task} images", unit="img") as bar:
        for split, per_class in splits.items():
            df = _write_split(out_dir, task, split, per_class, size, seed, style, bar)
            df.to_csv(out_dir / f"{split}.csv", index=False, lineterminator="\n")
            frames[split] = df
    with open(out_dir / "classes.txt", "w", encoding="utf-8", newline="\n") as fh:
        fh.write("".join(f"{name}\n" for name in names))
    return frames

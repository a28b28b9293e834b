"""vischange.activations: every way of reading a layer, against a manual forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from vischange import activations, models


class Tiny(nn.Module):
    """conv -> relu -> conv -> relu -> global pool -> fc, shaped like a torchvision classifier."""

    def __init__(self, classes=3):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.layer = nn.Conv2d(4, 5, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(5, classes)
        self.fc_calls = 0
        self.fc.register_forward_hook(self._count)  # test bookkeeping only

    def _count(self, *_):
        self.fc_calls += 1

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.layer(self.relu(self.conv1(x))))).flatten(1))


def _manual(model, x):
    with torch.no_grad():
        conv1 = model.conv1(x)
        layer = model.layer(torch.relu(conv1))
        features = torch.relu(layer).mean((2, 3))
        return {"conv1": conv1, "layer": layer, "fc:in": features, "logits": model.fc(features)}


def test_head_input_is_the_penultimate_feature_and_the_head_never_runs():
    model = Tiny().eval()
    images = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    key = activations.head_input(model)
    assert key == "fc:in"
    feats = activations.loader_activations(model, key, [(images[:3], None), (images[3:], None)], reduce="none")
    assert feats.dtype == np.float32 and feats.shape == (5, 5)
    want = _manual(model, images)
    assert feats == pytest.approx(want["fc:in"].numpy(), abs=1e-6)
    assert feats @ model.fc.weight.detach().numpy().T + model.fc.bias.detach().numpy() == pytest.approx(
        want["logits"].numpy(), abs=1e-5)
    assert model.fc_calls == 1  # only the manual forward above


def test_image_activations_reduce_batches_and_channels():
    model = Tiny().eval()
    images = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    want = _manual(model, images)
    maps = activations.image_activations(model, "conv1", images)
    assert maps.shape == (5, 4, 8, 8) and torch.allclose(maps, want["conv1"])  # before the in-place ReLU
    means = activations.image_activations(model, "layer", images, reduce="mean", batch_size=2)
    assert means.shape == (5, 5) and torch.allclose(means, want["layer"].mean((2, 3)), atol=1e-6)
    both = activations.image_activations(model, ["layer", "conv1"], images, reduce={"layer": "mean"}, channels=[1, 3])
    assert list(both) == ["conv1", "layer"]  # the order the forward pass reaches them
    assert torch.allclose(both["conv1"], want["conv1"][:, [1, 3]]) and both["layer"].shape == (5, 2)
    half = activations.image_activations(model, "conv1", images, normalize=lambda x: x / 2)
    assert torch.allclose(half, model.conv1(images / 2).detach(), atol=1e-6)
    with pytest.raises(ValueError, match="reduce"):
        activations.image_activations(model, "conv1", images, reduce="max")
    with pytest.raises(ValueError, match="not read"):
        activations.image_activations(model, "conv1", images, reduce={"layer": "mean"})


def test_iter_activations_streams_with_the_batch_extras():
    model = Tiny().eval()
    images = torch.rand(4, 3, 8, 8)
    seen = [(tuple(a.shape), extra) for a, extra in activations.iter_activations(
        model, "conv1", [(images[:3], "a"), (images[3:], "b")], reduce="mean")]
    assert seen == [((3, 4), "a"), ((1, 4), "b")]
    assert all(not m._forward_hooks or m is model.fc for m in model.modules())  # the capture's hooks are gone


def test_manifest_activations_in_manifest_order(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append(f"{i}.png,{i % 2}")
    (tmp_path / "m.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    model = Tiny().eval()
    acts, labels = activations.manifest_activations(model, "layer", tmp_path / "m.csv", image_size=8, crop_fraction=1.0,
                                                    batch_size=2)
    assert acts.shape == (5, 5) and labels.tolist() == [0, 1, 0, 1, 0] and labels.dtype == np.int64
    dataset, _ = activations.manifest_loader(tmp_path / "m.csv", 8, 1.0)
    images = torch.stack([dataset[i][0] for i in range(5)])
    assert acts == pytest.approx(_manual(model, images)["layer"].mean((2, 3)).numpy(), abs=1e-6)


def test_shapes_on_the_meta_device():
    assert activations.layer_channels("resnet18", ["layer2.1", "layer4.1"], 64) == {"layer2.1": 128, "layer4.1": 512}
    assert activations.layer_channels("resnet50", ["layer3.5", "layer4.2"], 224) == {"layer3.5": 1024, "layer4.2": 2048}
    probe = models.build_meta("resnet18")
    assert activations.layer_shapes(probe, ["layer4", "fc:in", "avgpool"], 64) == {
        "layer4": (1, 512, 2, 2), "fc:in": (1, 512), "avgpool": (1, 512, 1, 1)}
    with pytest.raises(KeyError, match="layer4"):
        activations.layer_shapes(probe, ["layer5"], 64)
    model = Tiny().eval()
    assert activations.layer_shapes(model, ["layer"], torch.rand(2, 3, 6, 6)) == {"layer": (2, 5, 6, 6)}

"""Render features on made-up images: embeddings, Gram matrices and distances, pair tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from vischange import compare, models
from vischange.compare import features


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return models.build("resnet18", 4).eval()


def test_cosine_identical_and_opposite():
    a = torch.randn(5, 16)
    assert torch.allclose(compare.cosine(a, a), torch.ones(5, dtype=torch.float64))
    assert torch.allclose(compare.cosine(a, -a), -torch.ones(5, dtype=torch.float64))


def test_embed_shape_and_identical_images(resnet):
    images = torch.rand(3, 3, 32, 32)
    out = compare.embed(resnet, torch.cat([images, images[:1]]), models.Normalize([0.5] * 3, [0.25] * 3), batch_size=2)
    assert out.shape == (4, 512)
    assert compare.cosine(out[:1], out[3:]).item() == pytest.approx(1.0)


def test_load_images_round_trip(tmp_path):
    array = (np.arange(4 * 4 * 3) % 256).astype(np.uint8).reshape(4, 4, 3)
    Image.fromarray(array).save(tmp_path / "x.png")
    loaded = compare.load_images([tmp_path / "x.png"])
    assert loaded.shape == (1, 3, 4, 4)
    assert torch.allclose(loaded[0].permute(1, 2, 0) * 255, torch.from_numpy(array).float())


def test_gram_matrix_by_hand():
    fmap = torch.tensor([[1.0, 2.0], [0.0, 3.0]]).view(1, 2, 1, 2)  # C=2, H=1, W=2
    expected = torch.tensor([[5.0, 6.0], [6.0, 9.0]]) / 2
    assert torch.allclose(compare.gram_matrix(fmap)[0], expected)


def test_gram_distance_properties():
    a = torch.rand(3, 5, 5)
    assert torch.equal(compare.gram_distance(a, a), torch.zeros(3, dtype=torch.float64))
    assert compare.gram_distance(a[0], 2 * a[0]).item() == pytest.approx(1 / 5)
    assert compare.gram_distance(a[0], -a[0]).item() == pytest.approx(2.0)
    eye, flip = torch.eye(2), torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert compare.gram_distance(eye, flip).item() == pytest.approx(1.0)
    assert compare.gram_distance(torch.zeros(2, 2), torch.zeros(2, 2)).item() == 0.0
    assert compare.gram_distance(a[0], a[1]).item() == pytest.approx(compare.gram_distance(a[1], a[0]).item())


def test_default_gram_layers(resnet):
    assert models.default_gram_layers(resnet) == [
        "conv1", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1",
    ]
    with pytest.raises(ValueError, match="gram_layers"):
        models.default_gram_layers(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, 2)))


def test_feature_net_matches_embed_and_grams(resnet):
    images = torch.rand(2, 3, 32, 32)
    net = compare.FeatureNet(resnet, models.Normalize([0.5] * 3, [0.25] * 3), ["layer4.1", "conv1"])
    emb, grams = net(images)
    assert torch.allclose(emb, compare.embed(resnet, images, models.Normalize([0.5] * 3, [0.25] * 3)))
    assert list(grams) == ["conv1", "layer4.1"]  # forward order, as the Gram table rows
    assert grams["conv1"].shape == (2, 64, 64) and grams["layer4.1"].shape == (2, 512, 512)
    # Gram of layer4.1 equals the Gram of its output computed outside the hook.
    outputs = {}
    handle = resnet.layer4[1].register_forward_hook(lambda m, i, o: outputs.update(x=o.clone()))
    resnet(models.Normalize([0.5] * 3, [0.25] * 3)(images))
    handle.remove()
    assert torch.allclose(grams["layer4.1"], compare.gram_matrix(outputs["x"]), rtol=1e-4, atol=1e-6)


def _write_renders(folder, images: dict[tuple[str, int, int], np.ndarray]) -> list:
    rows = []
    for (net, channel, seed), array in images.items():
        d = folder / net / "l"
        d.mkdir(parents=True, exist_ok=True)
        name = f"c{channel:04d}_s{seed}.png"
        Image.fromarray(array).save(d / name)
        rows.append({"net": net, "channel": channel, "seed": seed, "file": name, "extra": "ignored"})
    tables = {}
    frame = pd.DataFrame(rows)
    for net, part in frame.groupby("net"):
        path = folder / net / "l" / "renders.csv"
        # Column order shuffled and an extra column: the table is read by column name.
        part[["file", "extra", "seed", "channel"]].to_csv(path, index=False)
        tables[(net, "l")] = path
    return tables


def test_identical_renders_have_cosine_one_and_gram_zero(tmp_path, resnet):
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2))
    images = {("base", 0, 0): a, ("finetuned", 0, 0): a.copy(), ("base", 0, 1): b, ("finetuned", 0, 1): b.copy()}
    tables = _write_renders(tmp_path, images)
    torch.manual_seed(0)
    models.save_checkpoint(tmp_path / "net.pt", resnet, arch="resnet18", class_names=list("abcd"), mean=[0.5] * 3, std=[0.25] * 3)
    cos, gram = compare.compare_features(tables, tmp_path / "net.pt", device=torch.device("cpu"), image_size=32, batch_size=2)
    assert len(cos) == 6  # all pairs of 4 renders
    same = (cos.net_a != cos.net_b) & (cos.seed_a == cos.seed_b)
    assert cos[same].cosine.to_numpy() == pytest.approx(1.0, abs=1e-12)
    assert (cos[~same].cosine < 0.9999).all()
    gsame = (gram.net_a != gram.net_b) & (gram.seed_a == gram.seed_b)
    assert (gram[gsame].gram_distance == 0).all()
    assert (gram[~gsame].gram_distance > 0).all()
    assert set(gram.feature_layer) == set(models.default_gram_layers(resnet))


def test_embedding_network_from_a_local_weights_file(tmp_path, resnet):
    torch.save(resnet.state_dict(), tmp_path / "w.pt")
    features.write_embedding_network(tmp_path / "emb.pt", arch="resnet18", weights="IMAGENET1K_V1", path=str(tmp_path / "w.pt"))
    model, normalize, meta = models.load_network(tmp_path / "emb.pt")
    assert meta["arch"] == "resnet18" and meta["num_classes"] == 4
    assert meta["mean"] == pytest.approx([0.485, 0.456, 0.406])  # as the named torchvision weights were trained
    images = torch.rand(2, 3, 32, 32)
    assert torch.allclose(compare.embed(model, images, normalize), compare.embed(resnet, images, normalize))
    assert models.embedding_input_size("resnet18", "IMAGENET1K_V1") == 224


def test_centered_cosine_removes_the_shared_component(tmp_path, resnet):
    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2))
    images = {("base", 0, 0): a, ("finetuned", 0, 0): a.copy(), ("base", 0, 1): b, ("finetuned", 0, 1): b.copy()}
    tables = _write_renders(tmp_path, images)
    models.save_checkpoint(tmp_path / "net.pt", resnet, arch="resnet18", class_names=list("abcd"), mean=[0.5] * 3, std=[0.25] * 3)
    kwargs = dict(device=torch.device("cpu"), image_size=32, batch_size=2)
    cos, _ = compare.compare_features(tables, tmp_path / "net.pt", similarity="centered", **kwargs)
    assert list(cos.columns[-3:]) == ["cosine_raw", "cosine_centered", "cosine"]
    same = (cos.net_a != cos.net_b) & (cos.seed_a == cos.seed_b)
    assert (cos[same][["cosine_raw", "cosine_centered"]] == 1.0).all().all()  # identical renders: exactly 1
    # Two distinct renders, each twice: minus their mean they point in opposite directions,
    # while post-ReLU features keep the raw cosine positive.
    other = cos[~same]
    assert other.cosine_centered.to_numpy() == pytest.approx(-1.0, abs=1e-9)
    assert (other.cosine_raw > 0).all()
    assert (cos.cosine == cos.cosine_centered).all()
    raw, _ = compare.compare_features(tables, tmp_path / "net.pt", similarity="raw", **kwargs)
    assert (raw.cosine == raw.cosine_raw).all()
    with pytest.raises(ValueError, match="similarity must be"):
        compare.compare_features(tables, tmp_path / "net.pt", similarity="dataset", **kwargs)

"""Model construction, head replacement, freezing, and checkpoint round trips."""

from __future__ import annotations

import pytest
import torch

from vischange import models


def test_build_and_check_architecture():
    model = models.build("resnet18", 7)
    assert model.fc.out_features == 7
    with pytest.raises(ValueError, match="resnet18"):
        models.check_architecture("resnet17")


def test_get_module_suggests_close_names():
    model = models.build("resnet18", 3)
    with pytest.raises(KeyError, match="layer4.1"):
        models.get_module(model, "layer4.10")


def test_replace_head_is_seeded():
    heads = []
    for _ in range(2):
        model = models.build("resnet18", 10)
        name = models.replace_head(model, 4, torch.Generator().manual_seed(3))
        heads.append(models.get_module(model, name).weight.clone())
    assert name == "fc" and heads[0].shape == (4, 512)
    assert torch.equal(heads[0], heads[1])


def test_freeze_keeps_frozen_batchnorm_statistics():
    model = models.build("resnet18", 3)
    trainable = models.freeze_except(model, ["layer4.1", "fc"])
    assert all(not p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer4[1].parameters())
    before = model.layer1[0].bn1.running_mean.clone()
    models.set_train_mode(model, trainable)
    assert not model.layer1[0].bn1.training and model.layer4[1].bn1.training
    model(torch.randn(4, 3, 32, 32) * 3 + 1)
    assert torch.equal(model.layer1[0].bn1.running_mean, before)


def test_checkpoint_round_trip(tmp_path):
    model = models.build("resnet18", 3)
    path = tmp_path / "m.pt"
    models.save_checkpoint(path, model, arch="resnet18", class_names=["a", "b", "c"], mean=[0.5] * 3, std=[0.25] * 3)
    loaded, normalize, meta = models.load_network(path)
    assert meta["class_names"] == ["a", "b", "c"] and meta["mean"] == [0.5] * 3
    assert not loaded.training
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    assert torch.equal(model(x), loaded(x))
    assert torch.equal(normalize(x), (x - 0.5) / 0.25)
    assert models.load_network(path, class_names=["a", "b", "c"])[2] == meta
    with pytest.raises(ValueError, match=r"m\.pt: the network's 3 classes differ .* position 1: \['b'\] vs \['x'\]"):
        models.load_network(path, class_names=["a", "x", "c"])
    with pytest.raises(ValueError, match="m.pt.*differ"):
        models.load_network(path, class_names=["a", "b"])


def test_base_from_local_weights_file(tmp_path):
    model = models.build("resnet18", 5)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    models.write_base_from_weights(
        tmp_path / "base.pt",
        arch="resnet18",
        base={"source": "file", "path": str(tmp_path / "w.pt")},
        normalize={"mean": [0.4] * 3, "std": [0.2] * 3},
    )
    loaded, _, meta = models.load_network(tmp_path / "base.pt")
    assert meta["num_classes"] == 5 and len(meta["class_names"]) == 5
    assert torch.equal(loaded.fc.weight, model.fc.weight)


def test_local_weights_file_checksum(tmp_path):
    import hashlib

    from vischange.datasets.download import ChecksumError

    torch.save(models.build("resnet18", 3).state_dict(), tmp_path / "w.pt")
    good = "sha256:" + hashlib.sha256((tmp_path / "w.pt").read_bytes()).hexdigest()
    base = {"source": "file", "path": str(tmp_path / "w.pt")}
    normalize = {"mean": [0.4] * 3, "std": [0.2] * 3}
    models.write_base_from_weights(tmp_path / "ok.pt", arch="resnet18", base={**base, "checksum": good}, normalize=normalize)
    assert (tmp_path / "ok.pt").is_file()
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ChecksumError) as err:
        models.write_base_from_weights(tmp_path / "bad.pt", arch="resnet18", base={**base, "checksum": wrong}, normalize=normalize)
    assert wrong in str(err.value) and good in str(err.value) and "model.base.checksum" in str(err.value)
    assert not (tmp_path / "bad.pt").exists()


def test_cached_torchvision_weights_are_hash_checked(tmp_path, monkeypatch):
    """torch checks the hash only when it downloads; a bad file already in the cache is caught too."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url  # .../resnet18-f37072fd.pth
    cached = tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1]
    cached.parent.mkdir(parents=True)
    torch.save(models.build("resnet18").state_dict(), cached)  # right keys, wrong bytes
    with pytest.raises(ValueError, match=r"checksum mismatch for cached weights .*resnet18-f37072fd.pth") as err:
        models.torchvision_state_dict("resnet18", "IMAGENET1K_V1")
    assert "f37072fd" in str(err.value) and "delete it" in str(err.value)


def test_normalize():
    out = models.Normalize([0.5, 0.5, 0.5], [0.5, 0.25, 1.0])(torch.ones(1, 3, 2, 2))
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([1.0, 2.0, 0.5]))


def test_check_state_dict_names_what_does_not_fit():
    state = models.build("resnet18", 3).state_dict()
    assert models.check_state_dict("resnet18", state, 3) == 3
    assert models.check_state_dict("resnet18", state) == 3
    with pytest.raises(ValueError, match="has 3 outputs, but the data has 5 classes"):
        models.check_state_dict("resnet18", state, 5)
    with pytest.raises(ValueError, match=r"unexpected keys: \['layer1.2"):
        models.check_state_dict("resnet18", models.build("resnet34", 3).state_dict(), 3)
    broken = dict(state)
    broken.pop("layer2.0.bn1.running_mean")
    broken["layer3.0.conv1.weight"] = torch.zeros(1, 1, 3, 3)
    with pytest.raises(ValueError) as err:
        models.check_state_dict("resnet18", broken, 3)
    assert "missing keys: ['layer2.0.bn1.running_mean']" in str(err.value)
    assert "layer3.0.conv1.weight (1, 1, 3, 3) (expected (256, 128, 3, 3))" in str(err.value)
    with pytest.raises(ValueError, match="have no 'fc.weight'"):
        models.check_state_dict("resnet18", {"weight": torch.zeros(2)})


def test_changed_outside_finds_every_module_that_moved():
    torch.manual_seed(0)
    base = models.build("resnet18", 3)
    other = models.build("resnet18", 3)
    other.load_state_dict(base.state_dict())
    assert models.changed_outside(base, other, []) == []
    with torch.no_grad():
        other.layer4[1].conv2.weight.add_(1e-3)
    other.layer2[0].bn1.running_var.mul_(1.5)  # a buffer counts: frozen means its statistics too
    assert models.changed_outside(base, other, []) == ["layer2.0.bn1", "layer4.1.conv2"]
    assert models.changed_outside(base, other, ["layer4.1"]) == ["layer2.0.bn1"]
    assert models.changed_outside(base, other, ["layer2", "layer4.1"]) == []

"""Training: learning-rate schedule, epoch selection on validation, resume after interruption."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from vischange import models, train


def make_task(root, n_per_class=8, size=16):
    """Two classes told apart by brightness of the left half; paths relative to the CSVs."""
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        rows = []
        for label in (0, 1):
            for i in range(n_per_class):
                image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
                if label:
                    image[:, : size // 2] += 150
                path = f"images/{split}/{label}_{i}.png"
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(root / path)
                rows.append({"path": path, "label": label})
        pd.DataFrame(rows).to_csv(root / f"{split}.csv", index=False)
    return train.DataSpec(
        str(root / "train.csv"), str(root / "val.csv"), str(root / "test.csv"), size, [0.5] * 3, [0.25] * 3, 1.0
    )


SETTINGS = train.TrainSettings(epochs=3, batch_size=8, lr=0.05, crop_scale=(0.8, 1.0), hflip=False)


def test_lr_factor_warmup_then_cosine():
    assert train.lr_factor(0, 100, 10) == pytest.approx(0.1)
    assert train.lr_factor(9, 100, 10) == pytest.approx(1.0)
    assert train.lr_factor(10, 100, 10) == pytest.approx(1.0)
    assert train.lr_factor(55, 100, 10) == pytest.approx(0.5)
    assert train.lr_factor(100, 100, 10) == pytest.approx(0.0)


def fit_once(data, resume=None):
    torch.manual_seed(0)
    model = models.build("resnet18", 2)
    metrics = train.fit(model, data, SETTINGS, device=torch.device("cpu"), seed=1, trainable=["layer4", "fc"], resume_path=resume)
    return model, metrics


def test_fit_learns_selects_on_val_and_is_reproducible(tmp_path):
    data = make_task(tmp_path)
    model_a, metrics_a = fit_once(data)
    model_b, metrics_b = fit_once(data)
    assert metrics_a == metrics_b
    assert torch.equal(model_a.fc.weight, model_b.fc.weight)
    vals = [e["val_accuracy"] for e in metrics_a["epochs"]]
    assert metrics_a["chosen_epoch"] == 1 + vals.index(max(vals))
    assert metrics_a["test_accuracy"] > 0.5
    assert metrics_a["trainable_parameters"] < metrics_a["total_parameters"]
    # Frozen layers did not move, BatchNorm statistics included.
    torch.manual_seed(0)
    fresh = models.build("resnet18", 2)
    assert torch.equal(fresh.layer1[0].bn1.running_mean, model_a.layer1[0].bn1.running_mean)
    assert torch.equal(fresh.layer2[0].conv1.weight, model_a.layer2[0].conv1.weight)


def test_resume_after_interruption_gives_the_same_result(tmp_path, monkeypatch):
    data = make_task(tmp_path)
    _, reference = fit_once(data)
    resume = tmp_path / "resume.pt"

    real_evaluate = train.evaluate
    calls = {"n": 0}

    def crash_on_second_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated job kill")
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train, "evaluate", crash_on_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        fit_once(data, resume)
    assert resume.exists()
    monkeypatch.setattr(train, "evaluate", real_evaluate)
    _, resumed = fit_once(data, resume)
    assert resumed == reference
    assert not resume.exists(), "the resume file is removed after a finished run"


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_foreach_optimizer_matches_the_single_tensor_update_bit_for_bit(optimizer):
    """make_optimizer's multi-tensor update must not change a CPU run's weights."""
    torch.manual_seed(0)
    start = models.build("resnet18", 3)
    grads = [[torch.randn_like(p) for p in start.parameters()] for _ in range(4)]
    settings = train.TrainSettings(epochs=1, batch_size=8, lr=0.01, optimizer=optimizer, weight_decay=1e-4)
    weights = []
    for foreach in (True, False):
        model = models.build("resnet18", 3)
        model.load_state_dict(start.state_dict())
        opt = train.make_optimizer(model.parameters(), settings)
        assert all(group["foreach"] for group in opt.param_groups)
        if not foreach:  # the reference: PyTorch's per-tensor loop
            for group in opt.param_groups:
                group["foreach"] = False
        for step in grads:
            for p, g in zip(model.parameters(), step):
                p.grad = g.clone()
            opt.step()
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def _elsewhere(tmp_path, base_path, moved: list[str], classes: int = 2):
    """Weights "fine-tuned elsewhere" from the base checkpoint: the `moved` modules and a new head."""
    state = torch.load(base_path, weights_only=True)["state_dict"]
    torch.manual_seed(3)
    for key, value in state.items():
        if any(key.startswith(f"{m}.") for m in moved) and value.is_floating_point():
            state[key] = value + 0.01 * torch.randn_like(value)
    head = models.build("resnet18", classes).fc
    state["fc.weight"], state["fc.bias"] = head.weight.detach().clone(), head.bias.detach().clone()
    path = tmp_path / f"elsewhere_{'_'.join(moved)}.pt"
    torch.save(state, path)
    return path


def test_import_finetuned_checks_frozen_modules_and_evaluates(tmp_path, caplog):
    spec = make_task(tmp_path)
    (tmp_path / "classes.txt").write_text("dark\nbright\n")
    base = tmp_path / "base.pt"
    models.save_checkpoint(base, models.build("resnet18", 5), arch="resnet18", class_names=list("abcde"),
                           mean=[0.5] * 3, std=[0.25] * 3)
    args = dict(base_model=str(base), checksum=None, manifests=[spec.train_csv, spec.val_csv, spec.test_csv],
                classes_txt=str(tmp_path / "classes.txt"), data={"image_size": 16, "eval_crop": 1.0},
                settings={"batch_size": 8, "num_workers": 0}, seed=0, device=torch.device("cpu"))
    good = _elsewhere(tmp_path, base, ["layer4.1"])
    with caplog.at_level("WARNING"):
        metrics = train.import_finetuned(weights=str(good), trainable=["layer4.0", "layer4.1", "fc"],
                                         out_model=str(tmp_path / "ft.pt"), out_metrics=str(tmp_path / "ft.json"), **args)
    assert metrics["source"] == "file" and metrics["epochs"] == [] and metrics["num_test"] == 16
    assert 0 <= metrics["test_accuracy"] <= 1
    assert "identical to the base network: ['layer4.0']" in caplog.text
    model, _, meta = models.load_network(tmp_path / "ft.pt")
    assert meta["class_names"] == ["dark", "bright"] and meta["mean"] == [0.5] * 3
    # a module that moved but is not listed as trained: the frozen-layer control would lie
    bad = _elsewhere(tmp_path, base, ["layer3.0", "layer4.1"])
    with pytest.raises(ValueError, match=r"outside finetune.trainable differ from the base network \(\['layer3.0"):
        train.import_finetuned(weights=str(bad), trainable=["layer4.1", "fc"], out_model=str(tmp_path / "b.pt"),
                               out_metrics=str(tmp_path / "b.json"), **args)
    assert not (tmp_path / "b.pt").exists()

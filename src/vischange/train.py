"""Supervised training with validation-based epoch selection and resumable checkpoints.

Used twice: to pretrain the base network on the base task (the demo's stand-in for
ImageNet) and to fine-tune it on the new task with most modules frozen (the seed
study's protocol). The epoch is chosen on the validation split; test is evaluated
once, with the chosen weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from . import models
from .datasets import ManifestDataset, eval_transform, train_transform
from .datasets import read_classes, read_manifest
from .runtime import atomic_path, derive_seed, write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of one training run (the `pretrain` / `finetune` config sections)."""

    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    num_workers: int = 0
    crop_scale: tuple[float, float] = (0.7, 1.0)
    hflip: bool = True
    warmup_fraction: float = 0.05

    @classmethod
    def from_config(cls, section: dict) -> "TrainSettings":
        augment = section.get("augment", {})
        return cls(
            epochs=section["epochs"],
            batch_size=section["batch_size"],
            optimizer=section.get("optimizer", "sgd"),
            lr=section["lr"],
            momentum=section["momentum"],
            weight_decay=section["weight_decay"],
            label_smoothing=section["label_smoothing"],
            num_workers=section["num_workers"],
            crop_scale=tuple(augment.get("crop_scale", (0.7, 1.0))),
            hflip=augment.get("hflip", True),
        )


@dataclass
class DataSpec:
    """Manifests and preprocessing of one task."""

    train_csv: str
    val_csv: str
    test_csv: str
    image_size: int
    mean: Sequence[float]
    std: Sequence[float]
    eval_crop: float = 0.875


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to 1 over `warmup` steps, then cosine decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(params, settings: TrainSettings) -> torch.optim.Optimizer:
    """SGD with momentum or AdamW, as `settings.optimizer` says.

    Both use the multi-tensor (foreach) update, PyTorch's default on CUDA only: on the CPU
    it gives bit-identical weights (tests/test_train.py) and an AdamW step of ResNet-18
    takes 18 ms instead of 44 (2 cores), about 8 s of the demo's pretraining.
    """
    if settings.optimizer == "sgd":
        return torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay,
                               foreach=True)
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(
            params, lr=settings.lr, betas=(settings.momentum, 0.999), weight_decay=settings.weight_decay, foreach=True
        )
    raise ValueError(f"optimizer must be sgd or adamw, got {settings.optimizer!r}")


def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, desc: str = "eval") -> dict:
    """Mean cross-entropy and top-1 accuracy over `loader`; predictions in loader order."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    predictions: list[int] = []
    with torch.no_grad(), _autocast(device):
        for images, labels in tqdm(loader, desc=desc, leave=False, mininterval=5):
            images, labels = _to_device(images, labels, device)
            logits = model(images).float()
            total_loss += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
            pred = logits.argmax(1)
            correct += (pred == labels).sum().item()
            count += labels.numel()
            predictions.extend(pred.cpu().tolist())
    return {"loss": total_loss / count, "accuracy": correct / count, "predictions": predictions}


def fit(
    model: nn.Module,
    data: DataSpec,
    settings: TrainSettings,
    *,
    device: torch.device,
    seed: int,
    trainable: Sequence[str] | None = None,
    resume_path: str | os.PathLike | None = None,
) -> dict:
    """Train `model` in place and return the metrics; the model ends with the chosen epoch's weights.

    `trainable`: module names that train (others are frozen, BatchNorm statistics
    included); None trains everything. Each epoch's state is saved to `resume_path`
    and picked up again if the job is rerun after an interruption; the file is
    removed once training finishes.
    """
    torch.manual_seed(seed)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    trainable_modules = models.freeze_except(model, trainable) if trainable is not None else None
    params = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in params)
    n_total = sum(p.numel() for p in model.parameters())
    log.info("training %d of %d parameters (%s)", n_trainable, n_total, ", ".join(trainable or ["all"]))

    train_set = ManifestDataset(
        data.train_csv,
        train_transform(data.image_size, data.mean, data.std, settings.crop_scale, settings.hflip),
    )
    val_loader = _loader(data.val_csv, data, settings, device)
    steps_per_epoch = math.ceil(len(train_set) / settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    warmup = max(1, int(settings.warmup_fraction * total_steps))

    optimizer = make_optimizer(params, settings)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps, warmup))
    criterion = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)

    fingerprint = _fingerprint(settings, data, seed, trainable, n_total)
    history: list[dict] = []
    best = {"epoch": 0, "val_accuracy": -1.0, "state": None}
    start_epoch = 1
    if resume_path is not None and Path(resume_path).exists():
        state = torch.load(resume_path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            history = json.loads(state["history"])
            best = {"epoch": state["best_epoch"], "val_accuracy": state["best_val_accuracy"], "state": state["best_state"]}
            start_epoch = state["epoch"] + 1
            log.info("resuming from %s after epoch %d", resume_path, state["epoch"])
        else:
            log.warning("ignoring %s: it was written with other settings or data", resume_path)

    for epoch in range(start_epoch, settings.epochs + 1):
        # Shuffling and augmentation depend only on (seed, epoch): a resumed run
        # draws exactly what an uninterrupted one would have.
        epoch_seed = derive_seed(seed, "epoch", epoch)
        torch.manual_seed(epoch_seed)
        shuffle = torch.Generator().manual_seed(epoch_seed)
        loader = DataLoader(
            train_set,
            batch_size=settings.batch_size,
            shuffle=True,
            generator=shuffle,
            num_workers=settings.num_workers,
            pin_memory=device.type == "cuda",
            drop_last=False,
            persistent_workers=False,
        )
        models.set_train_mode(model, trainable_modules)
        running_loss, correct, count = 0.0, 0, 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{settings.epochs}", leave=False, mininterval=5)
        for images, labels in bar:
            images, labels = _to_device(images, labels, device)
            with _autocast(device):
                logits = model(images)
                loss = criterion(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running_loss += loss.item() * labels.numel()
            correct += (logits.argmax(1) == labels).sum().item()
            count += labels.numel()
            bar.set_postfix(loss=f"{running_loss / count:.3f}", acc=f"{correct / count:.3f}")
        val = evaluate(model, val_loader, device, desc="val")
        row = {
            "epoch": epoch,
            "lr_end": _round(scheduler.get_last_lr()[0]),
            "train_loss": _round(running_loss / count),
            "train_accuracy": _round(correct / count),
            "val_loss": _round(val["loss"]),
            "val_accuracy": _round(val["accuracy"]),
        }
        history.append(row)
        log.info("epoch %d: %s", epoch, row)
        if val["accuracy"] > best["val_accuracy"]:  # earliest epoch wins ties
            best = {
                "epoch": epoch,
                "val_accuracy": val["accuracy"],
                "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            }
        if resume_path is not None:
            with atomic_path(resume_path) as tmp:
                torch.save(
                    {
                        "fingerprint": fingerprint,
                        "epoch": epoch,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "history": json.dumps(history),
                        "best_epoch": best["epoch"],
                        "best_val_accuracy": best["val_accuracy"],
                        "best_state": best["state"],
                    },
                    tmp,
                )

    model.load_state_dict(best["state"])
    test = evaluate(model, _loader(data.test_csv, data, settings, device), device, desc="test")
    log.info("chosen epoch %d: val %.4f, test %.4f", best["epoch"], best["val_accuracy"], test["accuracy"])
    metrics = {
        "epochs": history,
        "chosen_epoch": best["epoch"],
        "selection": "highest validation accuracy, earliest epoch on ties",
        "val_accuracy": _round(best["val_accuracy"]),
        "test_accuracy": _round(test["accuracy"]),
        "test_loss": _round(test["loss"]),
        "num_classes": len(set(train_set.labels)),
        "chance_accuracy": _round(1.0 / len(set(train_set.labels))),
        "num_train": len(train_set),
        "num_val": len(val_loader.dataset),
        "num_test": len(test["predictions"]),
        "trainable_modules": list(trainable) if trainable is not None else ["all"],
        "trainable_parameters": n_trainable,
        "total_parameters": n_total,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(settings).items()},
        "seed": seed,
        "device": device.type,
    }
    model.eval()
    if resume_path is not None and Path(resume_path).exists():
        Path(resume_path).unlink()
    return metrics


def _loader(csv: str, data: DataSpec, settings: TrainSettings, device: torch.device) -> DataLoader:
    dataset = ManifestDataset(csv, eval_transform(data.image_size, data.mean, data.std, data.eval_crop))
    return DataLoader(
        dataset,
        batch_size=settings.batch_size * 2,
        shuffle=False,
        num_workers=settings.num_workers,
        pin_memory=device.type == "cuda",
    )


def _to_device(images: torch.Tensor, labels: torch.Tensor, device: torch.device):
    images = images.to(device, non_blocking=True)
    if device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    return images, labels.to(device, non_blocking=True)


def _autocast(device: torch.device):
    # bf16 on CUDA only: CPU autocast would change the demo's numbers for no gain.
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _fingerprint(settings, data, seed, trainable, n_params) -> str:
    blob = json.dumps(
        [asdict(settings), asdict(data), seed, list(trainable or []), n_params], sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _data_spec(manifests: Sequence[str], data: dict, mean, std) -> DataSpec:
    """Manifests in the order train, val, test (as the rules list them)."""
    train_csv, val_csv, test_csv = (str(p) for p in manifests)
    return DataSpec(train_csv, val_csv, test_csv, data["image_size"], list(mean), list(std), data["eval_crop"])


def pretrain(
    *,
    arch: str,
    manifests: Sequence[str],
    classes_txt: str,
    data: dict,
    normalize: dict,
    settings: dict,
    seed: int,
    device: torch.device,
    out_model: str,
    out_metrics: str,
    resume: str | None = None,
) -> dict:
    """Train `arch` from scratch on the base task; write the checkpoint and metrics JSON."""
    classes = read_classes(classes_txt)
    torch.manual_seed(derive_seed(seed, "pretrain-init"))
    model = models.build(arch, len(classes))
    spec = _data_spec(manifests, data, normalize["mean"], normalize["std"])
    metrics = fit(model, spec, TrainSettings.from_config(settings), device=device, seed=seed, resume_path=resume)
    models.save_checkpoint(
        out_model, model, arch=arch, class_names=classes, mean=normalize["mean"], std=normalize["std"]
    )
    metrics = {"stage": "pretrain", "arch": arch, "classes": classes, **metrics}
    write_json(out_metrics, metrics)
    return metrics


def finetune(
    *,
    base_model: str,
    manifests: Sequence[str],
    classes_txt: str,
    data: dict,
    settings: dict,
    seed: int,
    device: torch.device,
    out_model: str,
    out_metrics: str,
    resume: str | None = None,
) -> dict:
    """Fine-tune the base checkpoint on the new task with a fresh head; write checkpoint and metrics.

    Only `settings["trainable"]` modules and the new head train; the base's input
    normalization is kept, since the frozen layers were trained with it.
    """
    classes = read_classes(classes_txt)
    # The normalization goes into the data transforms (training augments on the CPU).
    model, _normalize, meta = models.load_network(base_model)
    head = models.replace_head(model, len(classes), torch.Generator().manual_seed(derive_seed(seed, "head")))
    trainable = list(dict.fromkeys([*settings["trainable"], head]))
    spec = _data_spec(manifests, data, meta["mean"], meta["std"])
    metrics = fit(
        model,
        spec,
        TrainSettings.from_config(settings),
        device=device,
        seed=seed,
        trainable=trainable,
        resume_path=resume,
    )
    models.save_checkpoint(
        out_model, model, arch=meta["arch"], class_names=classes, mean=meta["mean"], std=meta["std"]
    )
    metrics = {"stage": "finetune", "arch": meta["arch"], "classes": classes, "base_classes": meta["class_names"], **metrics}
    write_json(out_metrics, metrics)
    return metrics


def import_finetuned(
    *,
    base_model: str,
    weights: str,
    checksum: str | None,
    trainable: Sequence[str],
    manifests: Sequence[str],
    classes_txt: str,
    data: dict,
    settings: dict,
    seed: int,
    device: torch.device,
    out_model: str,
    out_metrics: str,
) -> dict:
    """A network fine-tuned elsewhere (model.finetuned.source file) as this study's fine-tuned
    network: checked, evaluated on the validation and test splits, written as a checkpoint.

    Checks (each a ValueError naming the file): the checksum; a strict load into the base's
    architecture with one head output per class; and that every module outside `trainable`
    and the head is bit-identical to the base network's (its parameters and batch-norm
    statistics), which keeps the frozen-layer control honest. A listed module that did not
    change is logged as a warning. The input normalization is the base's.
    Metrics: finetune_metrics.json's keys, with no epochs (``"source": "file"``).
    """
    if checksum:
        from .datasets.download import verify

        verify(weights, checksum, key="model.finetuned")
    classes = read_classes(classes_txt)
    base, _normalize, meta = models.load_network(base_model)
    state = models.load_state_dict_file(weights)
    models.check_state_dict(meta["arch"], state, len(classes), what=f"the weights in {weights}")
    model = models.build(meta["arch"], len(classes))
    model.load_state_dict(state)
    head = models.classifier_name(model)
    trained = list(dict.fromkeys([*trainable, head]))
    changed = models.changed_outside(base, model, [head])  # every module but the head that differs
    outside = [name for name in changed if not any(name == t or name.startswith(f"{t}.") for t in trained)]
    if outside:
        raise ValueError(
            f"{weights}: {len(outside)} module(s) outside finetune.trainable differ from the base network "
            f"({outside[:10]}): list what your fine-tuning trained in finetune.trainable, or check that "
            "model.base is the network it started from"
        )
    idle = [t for t in trainable if t != head and not any(name == t or name.startswith(f"{t}.") for name in changed)]
    if idle:
        log.warning("listed in finetune.trainable but identical to the base network: %s", idle)
    spec = _data_spec(manifests, data, meta["mean"], meta["std"])
    loader_settings = TrainSettings(batch_size=settings["batch_size"], num_workers=settings["num_workers"])
    model.to(device)
    val = evaluate(model, _loader(spec.val_csv, spec, loader_settings, device), device, desc="val")
    test = evaluate(model, _loader(spec.test_csv, spec, loader_settings, device), device, desc="test")
    log.info("fine-tuned network from %s: val %.4f, test %.4f", weights, val["accuracy"], test["accuracy"])
    models.save_checkpoint(out_model, model.cpu(), arch=meta["arch"], class_names=classes, mean=meta["mean"],
                           std=meta["std"])
    n_trainable = sum(p.numel() for name in trained for p in models.get_module(model, name).parameters())
    n_total = sum(p.numel() for p in model.parameters())
    n_train = len(read_manifest(spec.train_csv))
    metrics = {
        "stage": "finetune", "source": "file", "path": str(weights), "arch": meta["arch"], "classes": classes,
        "base_classes": meta["class_names"], "epochs": [], "chosen_epoch": None,
        "selection": "none: fine-tuned elsewhere, evaluated here",
        "val_accuracy": _round(val["accuracy"]), "test_accuracy": _round(test["accuracy"]), "test_loss": _round(test["loss"]),
        "num_classes": len(classes), "chance_accuracy": _round(1.0 / len(classes)), "num_train": n_train,
        "num_val": len(val["predictions"]), "num_test": len(test["predictions"]), "trainable_modules": trained,
        "trainable_parameters": n_trainable, "total_parameters": n_total, "settings": None, "seed": seed,
        "device": device.type,
    }
    write_json(out_metrics, metrics)
    return metrics

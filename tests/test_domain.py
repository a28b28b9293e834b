"""Domain shift: the demo's shifted images, the user-folder target, and cross-domain metrics on the right split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vischange import metrics
from vischange.datasets import read_manifest
from vischange.datasets import stanford
from vischange.datasets import synthetic as S
from vischange.domain import checks as domain_checks
from vischange.domain import shift, stages

SIZE = 32


# --- the demo's shifted style -------------------------------------------------------


def _pixels(style: str, label: int, index: int) -> np.ndarray:
    rng = S.image_rng(0, "textures", "test", index)
    return np.asarray(S.make_image("textures", label, rng, SIZE, style), dtype=np.float64) / 255.0


def test_xray_style_draws_the_same_scene():
    """Both styles consume an image's random stream identically: same shape, texture, position, phase."""
    for index in range(9):
        streams = []
        for style in ("default", "xray"):
            rng = S.image_rng(0, "textures", "test", index)
            S.make_image("textures", index % 9, rng, SIZE, style)
            streams.append(rng.random(4))
        np.testing.assert_array_equal(*streams)


def test_xray_images_differ_measurably_from_the_source():
    source = np.stack([_pixels("default", i % 9, i) for i in range(18)])
    target = np.stack([_pixels("xray", i % 9, i) for i in range(18)])
    # Colour: the source is saturated, the target gray (R = G = B up to 8-bit rounding).
    chroma = lambda x: (x.max(-1) - x.min(-1)).mean()  # noqa: E731
    assert chroma(source) > 0.15
    assert chroma(target) < 0.01
    # Brightness: the target is a negative (bright background, dark object), brighter overall.
    assert target.mean() > source.mean() + 0.1
    # Pixels differ a lot, yet the scene is the same: the object's outline is where the
    # target changes most, so gradients of the two images are correlated.
    assert np.abs(source - target).mean() > 0.2
    grad = lambda x: np.hypot(*np.gradient(x.mean(-1), axis=(1, 2)))  # noqa: E731
    corr = np.corrcoef(grad(source).ravel(), grad(target).ravel())[0, 1]
    assert corr > 0.2, corr


def test_xray_keeps_the_texture_visible_inside_the_object():
    """The class is (shape, texture): the xray palette keeps the two fills 0.3 apart in luminance."""
    for seed in range(20):
        rng = np.random.default_rng(seed)
        colours = rng.random((3, 3))
        bg, a, b = S._xray_levels(*colours)
        assert abs(a[0] - b[0]) == pytest.approx(0.3)
        assert bg[0] < min(a[0], b[0]) and np.ptp(a) == 0 and np.ptp(bg) == 0


def test_synthetic_target_is_the_test_split_redrawn_with_exact_labels(tmp_path):
    source = S.write_dataset(tmp_path / "data", "textures", {"test": 2}, SIZE, seed=3)["test"]
    frame = stages.synthetic_target(tmp_path / "data/target.csv", task="textures", per_class=2, image_size=SIZE,
                                    seed=3, style="xray", classes_txt=tmp_path / "data/classes.txt")
    written = read_manifest(tmp_path / "data/target.csv")
    assert written["label"].tolist() == source["label"].tolist() == frame["label"].tolist()
    names = S.class_names("textures")
    for row in written.itertuples():
        assert row.path.startswith("target/images/test/") and row.path.split("/")[3] == names[row.label]
    # image i of the target is image i of the source test split, restyled
    first = np.asarray(Image.open(written["abspath"].iloc[0]), dtype=float)
    again = np.asarray(S.make_image("textures", 0, S.image_rng(3, "textures", "test", 0), SIZE, "xray"), dtype=float)
    np.testing.assert_array_equal(first, again)
    with pytest.raises(ValueError, match="domain.style"):
        stages.synthetic_target(tmp_path / "x.csv", task="textures", per_class=1, image_size=SIZE, seed=3,
                                style="default", classes_txt=tmp_path / "data/classes.txt")
    with pytest.raises(ValueError, match="classes"):
        stages.synthetic_target(tmp_path / "x.csv", task="shapes", per_class=1, image_size=SIZE, seed=3,
                                style="xray", classes_txt=tmp_path / "data/classes.txt")


# --- a user-given folder -------------------------------------------------------------


def _folder(root, classes, per_class=2, suffix=".png"):
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.new("RGB", (8, 8), (40 * k, 10 * i, 0)).save(root / name / f"{i}{suffix}")
    return root


def test_folder_manifest_labels_by_the_tasks_class_order(tmp_path):
    names = ["zebra", "apple", "mango"]  # not alphabetical: labels must follow classes.txt
    root = _folder(tmp_path / "target", names)
    (root / "apple" / "notes.txt").write_text("not an image")
    frame = stanford.folder_manifest(root, names, tmp_path / "target.csv")
    written = read_manifest(tmp_path / "target.csv")
    assert len(frame) == len(written) == 6
    for row in written.itertuples():
        assert row.path.startswith("/") and f"/{names[row.label]}/" in row.path
    assert sorted(written["label"]) == [0, 0, 1, 1, 2, 2]


def test_folder_manifest_wrong_class_names_stop_with_a_clear_error(tmp_path):
    names = ["apple", "mango", "zebra"]
    root = _folder(tmp_path / "target", ["apple", "mango", "zebras"])
    with pytest.raises(stanford.DatasetError, match=r"domain.folder.*not classes of the task: \['zebras'\].*without a sub-folder: \['zebra'\]"):
        stanford.folder_manifest(root, names, tmp_path / "target.csv")
    assert not (tmp_path / "target.csv").exists()
    with pytest.raises(stanford.DatasetError, match="domain.folder.*is not a folder"):
        stanford.folder_manifest(tmp_path / "nowhere", names, tmp_path / "target.csv")
    empty = _folder(tmp_path / "empty", names)
    for path in (empty / "mango").iterdir():
        path.unlink()
    with pytest.raises(stanford.DatasetError, match="'mango' holds no images"):
        stanford.folder_manifest(empty, names, tmp_path / "target.csv")
    broken = _folder(tmp_path / "broken", names)
    (broken / "zebra" / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(stanford.DatasetError, match="do not decode.*bad.jpg"):
        stanford.folder_manifest(broken, names, tmp_path / "target.csv")


def test_config_checks_the_domain_section():
    base = {"data": {"source": "synthetic"}}
    assert domain_checks.problems({**base, "domain": {"source": "synthetic", "style": "xray"}}) == []
    assert domain_checks.problems({**base, "domain": {"source": "none"}}) == []
    assert "domain.style" in domain_checks.problems({**base, "domain": {"source": "synthetic", "style": "default"}})[0]
    assert "domain.style" in domain_checks.problems({**base, "domain": {"source": "synthetic", "style": "sketch"}})[0]
    assert "domain.source" in domain_checks.problems({"data": {"source": "stanford_dogs"}, "domain": {"source": "synthetic"}})[0]
    assert "domain.folder" in domain_checks.problems({**base, "domain": {"source": "folder", "folder": None}})[0]
    # A folder that is not on disk yet is the target_data job's business, not the plan's.
    assert domain_checks.problems({**base, "domain": {"source": "folder", "folder": "/no/such/folder"}}) == []


# --- cross-domain metrics ------------------------------------------------------------


def _probs(predicted, k=2):
    out = np.full((len(predicted), k), 0.1)
    out[np.arange(len(predicted)), predicted] = 0.9
    return out


def hand_domains():
    """Two classes, one top map each. Validation puts class 0's threshold at 5; the source test
    split is separated by it; on the target the same threshold finds half of class 0 and the
    ordering is reversed for class 1, while the classifier fails on the target."""
    val_sums = np.array([[6.0, 0.0], [5.0, 1.0], [1.0, 6.0], [2.0, 5.0]])
    val_labels = np.array([0, 0, 1, 1])
    source = {"sums": np.array([[7.0, 1.0], [6.0, 0.0], [1.0, 7.0], [0.0, 8.0]]), "labels": np.array([0, 0, 1, 1]),
              "probs": _probs([0, 0, 1, 1])}
    target = {"sums": np.array([[5.5, 9.0], [4.0, 8.0], [3.0, 2.0], [1.0, 1.0], [2.0, 3.0]]),
              "labels": np.array([0, 0, 1, 1, 1]), "probs": _probs([1, 1, 0, 0, 1])}
    return val_sums, val_labels, source, target


def test_cross_domain_detector_scores_each_domain_on_its_own_images():
    val_sums, val_labels, source, target = hand_domains()
    table = shift.cross_domain_detector(val_sums, val_labels, {"source": source, "target": target}, ["a", "b"], [1, 1])
    a, b = table.iloc[0], table.iloc[1]
    assert a["threshold"] == 5.0 and b["threshold"] == 5.0  # best F1 on validation
    assert a["source_auc"] == 1.0 and a["source_recall"] == 1.0 and a["source_precision"] == 1.0
    # target, class 0: scores 5.5, 4 vs 3, 1, 2 -> AUC 1, but the source threshold 5 finds one of two
    assert a["target_auc"] == 1.0 and a["target_recall"] == 0.5 and a["target_precision"] == 1.0
    # target, class 1: its sums are higher on class 0's images -> AUC 0; 9 and 8 pass the threshold
    assert b["target_auc"] == 0.0 and b["target_recall"] == 0.0
    assert b["target_precision"] == 0.0
    assert (a["source_images"], a["target_images"], b["target_images"]) == (2, 2, 3)
    assert a["target_mean_sum"] == pytest.approx(4.75) and b["target_mean_sum"] == pytest.approx(2.0)
    # the classifier on the target: class 0 never predicted, class 1 once of three
    assert a["head_target_recall"] == 0.0 and b["head_target_recall"] == pytest.approx(1 / 3)
    assert a["head_source_recall"] == 1.0


def test_threshold_comes_from_source_validation_only():
    val_sums, val_labels, source, target = hand_domains()
    names, n_maps = ["a", "b"], [1, 1]
    first = shift.cross_domain_detector(val_sums, val_labels, {"source": source, "target": target}, names, n_maps)
    # Re-choosing on the target would give threshold 4 for class 0 (recall 1): it must stay 5.
    assert metrics.best_threshold(target["sums"][:, 0], target["labels"] == 0) == 4.0
    assert first.loc[0, "threshold"] == 5.0
    # Changing the evaluated domains leaves thresholds alone; changing validation moves them.
    shuffled = {**target, "sums": target["sums"][::-1].copy(), "labels": target["labels"][::-1].copy()}
    again = shift.cross_domain_detector(val_sums, val_labels, {"source": source, "target": shuffled}, names, n_maps)
    assert again["threshold"].tolist() == first["threshold"].tolist()
    moved = val_sums.copy()
    moved[1, 0] = 3.0
    third = shift.cross_domain_detector(moved, val_labels, {"source": source, "target": target}, names, n_maps)
    assert third.loc[0, "threshold"] == 3.0 and third.loc[0, "target_recall"] == 1.0


def test_a_class_without_top_maps_has_no_detector_but_keeps_its_classifier():
    val_sums, val_labels, source, target = hand_domains()
    table = shift.cross_domain_detector(
        np.where([True, False], val_sums, np.nan), val_labels,
        {"source": {**source, "sums": np.where([True, False], source["sums"], np.nan)},
         "target": {**target, "sums": np.where([True, False], target["sums"], np.nan)}},
        ["a", "b"], [1, 0])
    assert table.loc[1, ["target_auc", "target_recall", "source_auc", "target_mean_sum"]].isna().all()
    assert table.loc[1, "head_target_recall"] == pytest.approx(1 / 3)


def test_compare_puts_both_networks_side_by_side(tmp_path):
    val_sums, val_labels, source, target = hand_domains()
    detectors, accuracies = {}, {}
    for net in ("base", "finetuned"):
        table = shift.cross_domain_detector(val_sums, val_labels, {"source": source, "target": target}, ["a", "b"], [1, 1])
        table.to_csv(tmp_path / f"{net}_detector.csv", index=False)
        metrics.accuracy_table({"source": source["labels"], "target": target["labels"]},
                              {"source": source["probs"].argmax(1), "target": target["probs"].argmax(1)}
                              ).to_csv(tmp_path / f"{net}_accuracy.csv", index=False)
        detectors[net], accuracies[net] = tmp_path / f"{net}_detector.csv", tmp_path / f"{net}_accuracy.csv"
    figure = [tmp_path / "compare.png", tmp_path / "compare.pdf"]
    table = stages.compare(detectors, accuracies, tmp_path / "compare.csv", tmp_path / "summary.csv", figure)
    assert len(table) == 4 and set(table["net"]) == {"base", "finetuned"}
    row = table.iloc[1]
    assert row["detector_auc_change"] == pytest.approx(row["detector_auc_target"] - row["detector_auc_source"]) == -1.0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary[["net", "domain"]].values.tolist() == [["base", "source"], ["base", "target"],
                                                          ["finetuned", "source"], ["finetuned", "target"]]
    assert summary.loc[1, "accuracy"] == pytest.approx(0.2) and summary.loc[0, "accuracy"] == 1.0
    assert all(p.stat().st_size > 1000 for p in figure)

"""Task head, Captum attributions and the other classic views, on tiny models made here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from vischange import heads
from vischange.attribution import embedding, filters, methods


class Tiny(nn.Module):
    """conv -> relu -> global pool -> fc, shaped like a torchvision classifier."""

    def __init__(self, classes=3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.layer = nn.Conv2d(4, 5, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(5, classes)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.layer(self.relu(self.conv1(x))))).flatten(1))


class OnePixel(nn.Module):
    """Logit 1 is 10 x the green value of pixel (2, 5); logit 0 is constant."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Identity()

    def forward(self, x):
        x = self.layer(x)
        return torch.stack([torch.zeros(len(x)), 10 * x[:, 1, 2, 5]], 1)


def test_saliency_highlights_the_pixel_that_drives_the_logit():
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    sal = methods.saliency(OnePixel(), images, [1, 1])
    assert sal.shape == (2, 8, 8) and (sal >= 0).all()
    assert sal[:, 2, 5].tolist() == [10.0, 10.0]
    sal[:, 2, 5] = 0
    assert (sal == 0).all()


def test_grad_cam_is_non_negative_and_image_sized():
    torch.manual_seed(0)
    task = heads.TaskModel(Tiny(), nn.Identity()).eval()
    images = torch.rand(3, 3, 12, 12)
    cam = methods.grad_cam(task, "layer", images, [0, 1, 2])
    assert cam.shape == (3, 12, 12) and (cam >= 0).all() and cam.sum() > 0
    found = methods.attribute(task, "layer", images, [2, 2, 2])
    assert set(found) == {"predicted", "saliency", "gradcam_predicted", "gradcam_true"}
    for key in ("saliency", "gradcam_predicted", "gradcam_true"):
        assert found[key].shape == (3, 12, 12) and (found[key] >= 0).all()
    with torch.no_grad():
        assert found["predicted"].tolist() == task(images).argmax(1).tolist()


def test_filter_grid_keeps_zero_at_gray():
    w = torch.zeros(2, 3, 3, 3)
    w[0, 0, 1, 1] = 2.0
    w[1, 2, 0, 0] = -1.0
    tiles = filters.filter_grid(w)
    assert tiles.shape == (2, 3, 3, 3) and tiles.min() >= 0 and tiles.max() <= 1
    assert tiles[0, 1, 1, 0] == 1.0 and tiles[1, 0, 0, 2] == 0.25 and tiles[0, 0, 0, 0] == 0.5
    name, weights = filters.first_conv_weights(Tiny())
    assert name == "conv1" and weights.shape == (4, 3, 3, 3)


def test_pick_images_mixes_wrong_and_right():
    pred = pd.DataFrame({"correct": [True, False, True, True, False, True]})
    picks = methods.pick_images(pred, 4, seed=0)
    assert len(picks) == 4 and sorted(picks) == list(picks)
    assert (~pred.loc[picks, "correct"]).sum() == 2
    assert len(methods.pick_images(pred, 10, seed=0)) == 6


def test_decision_regions():
    xy = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    xs, ys, regions = embedding.decision_regions(xy, np.array([0, 0, 1, 1]), grid=20, k=1)
    assert regions.shape == (20, 20) and regions[0, 0] == 0 and regions[-1, -1] == 1


def test_umap_embedding_is_seeded():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (15, 6)), rng.normal(8, 1, (15, 6))])
    a = embedding.umap_embedding(features, 5, 0.1, seed=1)
    b = embedding.umap_embedding(features, 5, 0.1, seed=1)
    assert a.shape == (30, 2) and np.array_equal(a, b)
    # the two clusters stay apart
    gap = np.linalg.norm(a[:15].mean(0) - a[15:].mean(0))
    assert gap > 3 * max(a[:15].std(0).max(), a[15:].std(0).max())

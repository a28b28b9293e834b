"""Tests for vischange.render.objectives, on hand-made activations."""

import math

import pytest
import torch

from vischange.render.objectives import (
    Objective,
    channel,
    class_logit,
    class_prob,
    direction,
    direction_cossim,
    diversity,
    layer_l2,
    neuron,
)


def acts_2x3x2x2():
    # a[n, c, y, x] = 100 n + 10 c + (2 y + x)
    a = torch.arange(2)[:, None, None, None] * 100 + torch.arange(3)[None, :, None, None] * 10
    a = a + torch.arange(4).reshape(1, 1, 2, 2)
    return {"l": a.float()}


def test_channel_values():
    acts = acts_2x3x2x2()
    assert torch.equal(channel("l", 1)(acts), torch.tensor([11.5, 111.5]))
    assert torch.equal(channel("l", [0, 2])(acts), torch.tensor([1.5, 121.5]))
    vec = {"v": torch.tensor([[1.0, 2.0], [3.0, 4.0]])}
    assert torch.equal(channel("v", [1, 0])(vec), torch.tensor([2.0, 3.0]))
    with pytest.raises(ValueError, match="3 values for a batch of 2"):
        channel("l", [0, 1, 2])(acts)


def test_neuron_values():
    acts = acts_2x3x2x2()
    # Default centre of a 2x2 map is (y, x) = (1, 1) -> offset 3.
    assert torch.equal(neuron("l", 2)(acts), torch.tensor([23.0, 123.0]))
    assert torch.equal(neuron("l", [0, 1], x=1, y=0)(acts), torch.tensor([1.0, 111.0]))


def test_layer_l2_value():
    acts = {"l": torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])}  # (1, 2, 1, 2)
    assert torch.allclose(layer_l2("l")(acts), torch.tensor([30.0 / 4]))


def test_class_logit_and_prob():
    z = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    acts = {"logits": z}
    assert torch.equal(class_logit([2, 0])(acts), torch.tensor([3.0, 0.0]))
    p = class_prob(1)(acts)
    e = math.exp
    assert torch.allclose(p, torch.tensor([e(2) / (e(1) + e(2) + e(3)), 1 / 3]))
    assert class_logit(0).layers == {"logits"}


def test_direction_values():
    a = torch.zeros(2, 2, 1, 2)
    a[0, :, 0, 0] = torch.tensor([1.0, 2.0])
    a[0, :, 0, 1] = torch.tensor([3.0, 4.0])
    a[1, :, 0, 0] = torch.tensor([1.0, 0.0])
    acts = {"l": a}
    shared = direction("l", torch.tensor([[1.0, 1.0]]))(acts)
    assert torch.allclose(shared, torch.tensor([(3 + 7) / 2, 1 / 2]))
    per_image = direction("l", torch.tensor([[0.0, 1.0], [2.0, 0.0]]))(acts)
    assert torch.allclose(per_image, torch.tensor([(2 + 4) / 2, 2 / 2]))
    with pytest.raises(ValueError, match="shape"):
        direction("l", torch.ones(3, 2))(acts)


def test_direction_cossim_values():
    acts = {"l": torch.tensor([3.0, 4.0]).reshape(1, 2, 1, 1)}
    # dot 3, cos 3/5 -> 3 * 0.36
    assert torch.allclose(direction_cossim("l", torch.tensor([[1.0, 0.0]]))(acts), torch.tensor([1.08]), atol=1e-5)
    # Scaling the direction scales dot but not cos.
    assert torch.allclose(direction_cossim("l", torch.tensor([[2.0, 0.0]]))(acts), torch.tensor([2.16]), atol=1e-5)
    # Opposite direction: dot -3, cos clamped at 0.1 -> -3 * 0.01
    assert torch.allclose(direction_cossim("l", torch.tensor([[-1.0, 0.0]]))(acts), torch.tensor([-0.03]), atol=1e-6)
    # cossim_pow = 0 gives the plain direction objective.
    a = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    v = torch.randn(2, 4, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(direction_cossim("l", v, cossim_pow=0)({"l": a}), direction("l", v)({"l": a}), atol=1e-5)


def test_direction_cossim_gradient_points_along_direction():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(1, 8, generator=g)
    a = torch.randn(3, 8, 2, 2, generator=g)
    a = (a + 0.5 * v.view(1, 8, 1, 1)).requires_grad_(True)  # positive alignment
    obj = direction_cossim("l", v)
    value = obj({"l": a})
    value.sum().backward()
    assert (torch.einsum("nchw,c->n", a.grad, v[0]) > 0).all()
    bumped = obj({"l": a.detach() + 0.1 * v.view(1, 8, 1, 1)})
    assert (bumped > value.detach()).all()


def test_diversity_values():
    same = torch.rand(3, 4, 2, 2, generator=torch.Generator().manual_seed(0))[:1].expand(3, -1, -1, -1)
    d = diversity("l")({"l": same})
    assert d.shape == (3,) and torch.allclose(d, torch.full((3,), -1.0), atol=1e-6)
    ortho = torch.zeros(2, 2, 1, 3)
    ortho[0, 0] = 1.0  # Gram of image 0 is e00, of image 1 is e11
    ortho[1, 1] = 2.0
    assert torch.allclose(diversity("l")({"l": ortho}), torch.zeros(2))
    # Mixed: Grams [[1,0],[0,0]] and [[1,1],[1,1]]/2 -> cos 1/2
    mixed = torch.zeros(2, 2, 1, 1)
    mixed[0, 0] = 1.0
    mixed[1] = 1.0
    assert torch.allclose(diversity("l")({"l": mixed}), torch.full((2,), -0.5))
    assert torch.equal(diversity("l")({"l": torch.ones(1, 2, 2, 2)}), torch.zeros(1))


def test_composition_arithmetic():
    acts = acts_2x3x2x2()
    acts["m"] = torch.ones(2, 1, 1, 1) * 2.0
    a, b, c = channel("l", 0), channel("l", 1), layer_l2("m")
    combo = a + 2 * b - c
    assert combo.layers == {"l", "m"}
    va, vb, vc = a(acts), b(acts), c(acts)
    assert torch.allclose(combo(acts), va + 2 * vb - vc)
    assert torch.allclose((-a)(acts), -va)
    assert torch.allclose((a / 4)(acts), va / 4)
    assert torch.allclose((a * 3)(acts), 3 * va)
    assert torch.allclose((a - 1)(acts), va - 1)
    assert torch.allclose((1 - a)(acts), 1 - va)
    assert torch.allclose((a * b)(acts), va * vb)
    total = sum([a, b, c])
    assert isinstance(total, Objective) and total.layers == {"l", "m"}
    assert torch.allclose(total(acts), va + vb + vc)
    with pytest.raises(TypeError):
        a + "x"
    with pytest.raises(TypeError):
        a / b


def test_objective_must_return_per_image_vector():
    bad = Objective(lambda acts: acts["l"].sum(), {"l"})
    with pytest.raises(ValueError, match="expected \\(N,\\)"):
        bad(acts_2x3x2x2())
    with pytest.raises(KeyError, match="not captured"):
        channel("missing", 0)(acts_2x3x2x2())


def test_direction_cossim_center_reads_only_the_centre_position():
    torch.manual_seed(0)
    a = torch.rand(3, 5, 4, 6)
    v = torch.rand(3, 5)
    obj = direction_cossim("l", v, cossim_pow=2.0, position="center")
    value = obj({"l": a})
    # lucid's position: (H // 2, W // 2); the value is dot x max(cos, 0.1)^n there.
    centre = a[:, :, 2, 3]
    dot = (centre * v).sum(1)
    cos = (dot / (centre.norm(dim=1) * v.norm(dim=1) + 1e-6)).clamp_min(0.1)
    assert torch.allclose(value, dot * cos**2, rtol=1e-5)
    for y in range(4):
        for x in range(6):
            if (y, x) == (2, 3):
                continue
            b = a.clone()
            b[:, :, y, x] = 100.0 * torch.rand(3, 5) - 50.0
            assert torch.equal(obj({"l": b}), value)
    b = a.clone()
    b[:, :, 2, 3] += 1.0
    assert not torch.equal(obj({"l": b}), value)
    # The gradient reaches the centre only.
    a.requires_grad_(True)
    obj({"l": a}).sum().backward()
    mask = torch.zeros(4, 6, dtype=torch.bool)
    mask[2, 3] = True
    assert torch.all(a.grad[:, :, ~mask] == 0) and a.grad[:, :, 2, 3].abs().sum() > 0


def test_direction_cossim_rejects_unknown_position():
    with pytest.raises(ValueError, match="center"):
        direction_cossim("l", torch.ones(1, 3), position="corner")

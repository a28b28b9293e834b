"""Tests for vischange.render.hooks (capture, early stop, redirected ReLU)."""

from collections import OrderedDict

import pytest
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from vischange.render.hooks import capture, redirected_relu

from .conftest import Counter



def tiny_net():
    torch.manual_seed(0)
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, 4, 3, padding=1),
            relu1=nn.ReLU(inplace=True),
            block=BasicBlock(4, 4),
            after=Counter(),
            pool=nn.AdaptiveAvgPool2d(1),
            flat=nn.Flatten(),
            fc=nn.Linear(4, 5),
        )
    ).eval()


def no_hooks_left(model):
    return all(
        not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in model.modules()
    )


def test_capture_values_match_manual_forward():
    net = tiny_net()
    x = torch.rand(2, 3, 8, 8)
    with capture(net, ["conv1", "block", "logits"]) as cap:
        acts = cap(x)
    with torch.no_grad():
        c1 = net.conv1(x)
        blk = net.block(torch.relu(c1))
        logits = net(x)
    assert set(acts) == {"conv1", "block", "logits"}
    # conv1 feeds an inplace ReLU; the captured value must be pre-ReLU.
    assert torch.allclose(acts["conv1"], c1) and (acts["conv1"] < 0).any()
    assert torch.allclose(acts["block"], blk)
    assert torch.allclose(acts["logits"], logits)
    assert no_hooks_left(net)


def test_pre_activation_of_resnet_block():
    net = tiny_net()
    x = torch.rand(2, 3, 8, 8)
    with capture(net, ["block:pre", "block"]) as cap:
        acts = cap(x)
    b = net.block
    with torch.no_grad():
        h = torch.relu(net.conv1(x))
        pre = b.bn2(b.conv2(torch.relu(b.bn1(b.conv1(h))))) + h
    assert torch.allclose(acts["block:pre"], pre, atol=1e-6)
    assert (acts["block:pre"] < 0).any()  # genuinely before the ReLU
    assert torch.equal(torch.relu(acts["block:pre"]), acts["block"])
    assert no_hooks_left(net)


def test_pre_activation_errors():
    net = tiny_net()
    with pytest.raises(ValueError, match="no nn.ReLU"):
        with capture(net, ["conv1:pre"]):
            pass
    assert no_hooks_left(net)
    # The whole model ends in a Linear, not a ReLU.
    with capture(net, [":pre"]) as cap:
        with pytest.raises(ValueError, match="not the output of its last ReLU"):
            cap(torch.rand(1, 3, 8, 8))
    assert no_hooks_left(net)


def test_hooks_removed_after_exception():
    net = tiny_net()
    with pytest.raises(RuntimeError, match="boom"):
        with capture(net, ["block", "block:pre", "fc"]) as cap:
            cap(torch.rand(1, 3, 8, 8))
            raise RuntimeError("boom")
    assert no_hooks_left(net)


def test_unknown_layer_suggests_close_matches():
    net = tiny_net()
    with pytest.raises(KeyError, match="'block'"):
        with capture(net, ["blok"]):
            pass
    with pytest.raises(KeyError, match="block.conv1"):
        with capture(net, ["block.conv_1:pre"]):
            pass
    assert no_hooks_left(net)


def test_early_stop_skips_later_modules():
    net = tiny_net()
    x = torch.rand(1, 3, 8, 8)
    with capture(net, ["block"]) as cap:
        cap(x)
        cap(x)
    assert net.after.calls == 0
    with capture(net, ["block:pre"]) as cap:
        cap(x)
    assert net.after.calls == 0
    with capture(net, ["block"], early_stop=False) as cap:
        cap(x)
    assert net.after.calls == 1
    with capture(net, ["block", "logits"]) as cap:
        acts = cap(x)
    assert net.after.calls == 2 and acts["logits"].shape == (1, 5)
    assert no_hooks_left(net)


def test_module_input_key_is_the_head_input_and_stops_before_the_module():
    net = tiny_net()
    x = torch.rand(3, 3, 8, 8)
    with torch.no_grad():
        pooled = net.flat(net.pool(net.block(torch.relu(net.conv1(x)))))
    with capture(net, ["fc:in"]) as cap:
        acts = cap(x)
    assert torch.equal(acts["fc:in"], pooled) and acts["fc:in"].shape == (3, 4)
    assert net.after.calls == 1  # `after` runs before fc; the model's own fc never ran
    # Not the last key: the forward goes on and the input is a copy an in-place module cannot alter.
    with capture(net, ["relu1:in", "block"]) as cap:
        acts = cap(x)
    with torch.no_grad():
        c1 = net.conv1(x)
    assert torch.equal(acts["relu1:in"], c1) and (acts["relu1:in"] < 0).any()
    assert list(acts) == ["relu1:in", "block"]  # the order of capture
    assert no_hooks_left(net)


def test_reduce_shrinks_a_capture_inside_its_hook():
    net = tiny_net()
    x = torch.rand(2, 3, 8, 8)
    with capture(net, ["conv1", "block"]) as cap:
        full = cap(x)
    seen = []

    def mean(t):
        seen.append(tuple(t.shape))
        return t.mean((2, 3))

    with capture(net, ["conv1", "block", "fc:in"], reduce={"conv1": mean, "fc:in": lambda t: 2 * t}) as cap:
        acts = cap(x)
    assert seen == [(2, 4, 8, 8)]
    assert torch.equal(acts["conv1"], full["conv1"].mean((2, 3)))
    assert torch.equal(acts["block"], full["block"])
    with pytest.raises(ValueError, match="not captured"):
        with capture(net, ["conv1"], reduce={"block": mean}):
            pass
    assert no_hooks_left(net)


def test_redirected_relu_revives_dead_units():
    x = -torch.rand(2, 5) - 0.1  # all negative
    x.requires_grad_(True)
    relu = nn.ReLU()
    (-relu(x).sum()).backward()  # minimizing -y: gradient wants y up
    assert torch.all(x.grad == 0)
    x.grad = None
    with redirected_relu(relu):
        y = relu(x)
        assert torch.equal(y, torch.zeros_like(y))  # forward unchanged
        (-y.sum()).backward()
    assert torch.all(x.grad == -1.0)  # passed through: descent raises x
    # Gradient that would push negative inputs further down is blocked.
    x.grad = None
    with redirected_relu(relu):
        relu(x).sum().backward()
    assert torch.all(x.grad == 0)


def test_redirected_relu_only_for_examples_with_no_relu_gradient():
    x = torch.tensor([[1.0, -1.0], [-1.0, -2.0]], requires_grad=True)
    relu = nn.ReLU()
    with redirected_relu(relu):
        (-relu(x).sum()).backward()
    # Example 0 has a live unit: ordinary ReLU gradient. Example 1 is dead: redirected.
    assert torch.equal(x.grad, torch.tensor([[-1.0, 0.0], [-1.0, -1.0]]))


def test_redirected_relu_in_model_and_restored():
    net = tiny_net()
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 2  # relu1 and the block's shared relu (called twice)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        before = net(x)
    # Make every first-layer unit dead so plain backprop gives nothing.
    bias = net.conv1.bias.detach().clone()
    with torch.no_grad():
        net.conv1.bias.fill_(-100.0)
    img = x.clone().requires_grad_(True)
    net.block(net.relu1(net.conv1(img))).sum().backward()
    assert torch.all(img.grad == 0)
    img.grad = None
    with redirected_relu(net):
        assert all("forward" in m.__dict__ for m in relus)
        (-net.block(net.relu1(net.conv1(img))).sum()).backward()
    assert img.grad.abs().sum() > 0
    assert all("forward" not in m.__dict__ for m in relus)
    # Restored also after an error.
    with pytest.raises(RuntimeError):
        with redirected_relu(net):
            raise RuntimeError
    assert all("forward" not in m.__dict__ for m in relus)
    with torch.no_grad():
        net.conv1.bias.copy_(bias)
        assert torch.equal(net(x), before)

"""Tests of equalnets.methods.attribution: the exact local-linear split and bias backpropagation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from equalnets.engine.models import build_model
from equalnets.methods import attribution as attr


def _mlp(in_channels: int, image_size: int, n_classes: int, hidden: tuple[int, ...]) -> nn.Module:
    return build_model("mlp", in_channels=in_channels, image_size=image_size, n_classes=n_classes, hidden=hidden,
                       dropout=False)


def _cnn(image_size: int, n_classes: int, hidden: tuple[int, ...], bias: bool = True) -> nn.Module:
    """Part II's CNN: 3×3 conv, ReLU, 2×2 max-pool per conv width, then one hidden dense layer."""
    return build_model("cnn", in_channels=1, image_size=image_size, n_classes=n_classes, hidden=hidden,
                       dropout=False, bias=bias)


def _random_biases(net: nn.Module, std: float = 0.5) -> nn.Module:
    for layer in net.modules():
        if getattr(layer, "bias", None) is not None:
            nn.init.normal_(layer.bias, std=std)
        if isinstance(layer, nn.PReLU):
            nn.init.uniform_(layer.weight, -0.5, 0.5)
    return net.eval()


# One small network per supported layer type (each also has Linear, ReLU and Flatten), and its input.
NETWORKS = {
    "linear-relu": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.ReLU(), nn.Linear(7, 4)), (1, 3, 4)),
    "conv2d": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, stride=2), nn.ReLU(), nn.Flatten(),
                                     nn.Linear(3 * 3 * 3, 4)), (2, 6, 6)),
    "prelu": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(9, 6), nn.PReLU(), nn.Linear(6, 5), nn.PReLU(5),
                                    nn.Linear(5, 3)), (1, 3, 3)),
    "maxpool2d": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
                                        nn.Flatten(), nn.Linear(4 * 3 * 3, 3)), (1, 6, 6)),
    "avgpool2d": (lambda: nn.Sequential(nn.Conv2d(1, 2, 2), nn.ReLU(), nn.AvgPool2d(2, stride=1), nn.Flatten(),
                                        nn.Dropout(0.5), nn.Identity(), nn.Linear(2 * 4 * 4, 3)), (1, 6, 6)),
    "mlp-builder": (lambda: _mlp(1, 4, 5, (8, 6)), (1, 4, 4)),
    "cnn-builder": (lambda: _cnn(8, 5, (3, 4, 6)), (1, 8, 8)),
}


@pytest.fixture(params=sorted(NETWORKS))
def net_and_x(request):
    torch.manual_seed(sum(map(ord, request.param)))
    make, shape = NETWORKS[request.param]
    x = torch.randn(5, *shape)
    x[0].zero_()  # an all-zero image exercises the fall-back of the contribution rule
    return _random_biases(make()), x


def test_identity_holds_in_float64(net_and_x):
    net, x = net_and_x
    assert attr.identity_error(net, x) < 1e-8


def test_bias_part_is_f_minus_jx(net_and_x):
    net, x = net_and_x
    d = attr.decompose(net, x, 1)
    jx = (d.gradient * x.double()).flatten(1).sum(1)
    with torch.no_grad():
        f = net.double()(x.double())[:, 1]
    net.float()
    torch.testing.assert_close(d.logit, f, rtol=0, atol=1e-10)
    torch.testing.assert_close(d.bias, f - jx, rtol=0, atol=1e-10)


@pytest.mark.parametrize("rule", attr.BIAS_RULES)
def test_bias_attributions_sum_to_the_bias_at_every_layer(net_and_x, rule):
    net, x = net_and_x
    target = torch.tensor([0, 1, 2, 0, 1])
    d = attr.decompose(net, x, target)
    betas = attr.bias_backprop(net, x, target, rule)
    assert betas[0].shape == x.shape
    for beta, split in zip(betas, d.layers):
        assert beta.shape == split.z.shape
        torch.testing.assert_close(beta.flatten(1).sum(1), split.tail_bias, rtol=0, atol=1e-10)
    torch.testing.assert_close(attr.bias_attribution(net, x, target, rule).flatten(1).sum(1), d.bias,
                               rtol=0, atol=1e-10)


@pytest.mark.parametrize("rule", attr.BIAS_RULES)
def test_no_bias_means_zero_bias_attribution(rule):
    torch.manual_seed(0)
    net = _cnn(8, 4, (3, 4, 5), bias=False).eval()
    x = torch.rand(3, 1, 8, 8)
    assert attr.bias_attribution(net, x, 2, rule).abs().max() == 0
    logits = attr.linear_split_logits(net, x)
    torch.testing.assert_close(logits["wx"], logits["full"], rtol=0, atol=1e-10)


def test_uniform_rule_on_a_single_linear_layer():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).eval()
    with torch.no_grad():
        net[1].bias.copy_(torch.tensor([2.0, -1.0]))
    x = torch.rand(1, 1, 2, 2)
    beta = attr.bias_attribution(net, x, 0, "uniform")
    torch.testing.assert_close(beta, torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64))


def test_every_method_has_the_input_shape(net_and_x):
    net, x = net_and_x
    for method in attr.method_names([3, 5]):
        a = attr.attribute(method, net, x, 1, baseline=0.0)
        assert a.shape == x.shape, method
        assert torch.isfinite(a).all(), method


def test_integrated_gradients_is_complete_on_a_linear_model():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3)).eval()
    x = torch.rand(2, 1, 2, 2)
    a, delta = attr.integrated_gradients(net, x, 1, n_steps=4, baseline=torch.zeros(1, 2, 2))
    assert a.shape == x.shape
    assert delta.abs().max() < 1e-5


def test_digit_flip_and_helpers():
    torch.manual_seed(0)
    net = _random_biases(_cnn(8, 4, (3, 4, 5)))
    x = torch.rand(6, 1, 8, 8)
    frame = attr.digit_flip(net, x, 0, 1, ["gradient", "bias (weight)", "random"], 10, torch.zeros(1, 1, 1))
    assert len(frame) == 3 * len(x)
    assert set(frame.columns) >= {"pair", "method", "image", "rise"}
    y = net(x).argmax(1)
    picked = attr.most_confident_per_class(net, x, y, 4)
    assert all(int(y[i]) == c for i, c in zip(picked, sorted(set(y.tolist()))))
    maps = attr.spatial_maps(net, x[:2], 0)
    assert [m["shape"][1:] for m in maps] == [(8, 8), (4, 4), (2, 2)]
    assert attr.rank_agreement(x, x) == pytest.approx([1.0] * len(x))
    acc = attr.split_accuracy(net, x, y)
    assert acc["full"] == 100.0 and set(acc) == {"full", "wx", "b"}


@pytest.mark.parametrize("layer", [nn.BatchNorm2d(1), nn.Sigmoid(), nn.ELU(), nn.Tanh()])
def test_unsupported_layers_raise(layer):
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), layer, nn.Flatten(), nn.Linear(16, 2))
    with pytest.raises(ValueError, match=type(layer).__name__):
        attr.identity_error(net, torch.rand(2, 1, 4, 4))
    with pytest.raises(ValueError, match=type(layer).__name__):
        attr.bias_attribution(net, torch.rand(2, 1, 4, 4), 0)


def test_bad_arguments_raise():
    net = _mlp(1, 2, 3, (5,)).eval()
    x = torch.rand(2, 1, 2, 2)
    with pytest.raises(ValueError, match="rule"):
        attr.bias_attribution(net, x, 0, "softmax")
    with pytest.raises(ValueError, match="target"):
        attr.bias_attribution(net, x, 3)
    with pytest.raises(ValueError, match="target"):
        attr.decompose(net, x, [0, 1, 2])
    with pytest.raises(ValueError, match="x must"):
        attr.identity_error(net, torch.rand(0, 1, 2, 2))
    with pytest.raises(ValueError, match="n_steps"):
        attr.integrated_gradients(net, x, 0, n_steps=0)
    with pytest.raises(ValueError, match="method"):
        attr.attribute("saliency", net, x, 0)
    with pytest.raises(ValueError, match="n_remove"):
        attr.digit_flip(net, x, 0, 1, ["gradient"], 0, torch.zeros(1, 1, 1))
    with pytest.raises(ValueError, match="differ"):
        attr.digit_flip(net, x, 1, 1, ["gradient"], 1, torch.zeros(1, 1, 1))
    with pytest.raises(ValueError, match="nn.Sequential"):
        attr.identity_error(nn.Linear(4, 3), x)
    with pytest.raises(ValueError, match="per_class"):
        attr.most_confident_per_class(net, x, torch.tensor([0, 1]), 3, per_class=0)
    with pytest.raises(ValueError, match="same shape"):
        attr.rank_agreement(x, x[:1])
    with pytest.raises(ValueError, match="too small"):
        _cnn(2, 3, (4, 4, 4))

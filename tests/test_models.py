import pytest
import torch
from torch import nn

from equalnets.engine.config import ARCHITECTURES, SMALL_ARCHS, RunConfig
from equalnets.engine.layers import Jumpout
from equalnets.engine.models import build_model, count_parameters, network


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("channels, size", [(1, 32), (3, 32), (1, 8)])
def test_output_shape(arch, channels, size):
    size_kw = {"hidden": (8, 6)} if arch in SMALL_ARCHS else {"width": 0.25}
    model = build_model(arch, in_channels=channels, image_size=size, n_classes=7, **size_kw)
    assert model(torch.randn(2, channels, size, size)).shape == (2, 7)


def test_small_networks_of_parts_two_and_three():
    # Part II's CNN: conv3x3-ReLU-pool per conv width, dense ReLU, output; with or without every bias.
    cnn = network(RunConfig(arch="cnn", hidden=(16, 32, 64), dropout=False), in_channels=1, image_size=8, n_classes=10)
    assert [type(m).__name__ for m in cnn] == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d",
                                               "Flatten", "Linear", "ReLU", "Linear"]
    assert cnn[7].in_features == 32 * 2 * 2 and all(m.bias is not None for m in cnn if hasattr(m, "bias"))
    no_bias = network(RunConfig(arch="cnn", hidden=(16, 32, 64), dropout=False, bias=False), in_channels=1,
                      image_size=8, n_classes=10)
    assert all(getattr(m, "bias", None) is None for m in no_bias)
    # Part III's CNN: batch norm after every weighted layer but the last (which keeps its bias), Jumpout after every ReLU.
    bn = network(RunConfig(arch="cnn", hidden=(8, 16, 32, 64), batch_norm=True, dropout_kind="jumpout"),
                 in_channels=1, image_size=32, n_classes=10)
    kinds = [type(m).__name__ for m in bn]
    assert kinds[:5] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Jumpout"] and kinds.count("Jumpout") == 4
    assert bn[0].bias is None and bn[-1].bias is not None
    drawn = [m for m in bn if isinstance(m, Jumpout)][0]
    assert drawn.sample_rate and drawn.normalize_rate and drawn.rescale and drawn.p == 0.1
    mlp = network(RunConfig(arch="mlp", hidden=(256, 256), dropout_p=0.2), in_channels=1, image_size=32,
                  n_classes=10)
    assert [type(m).__name__ for m in mlp] == ["Flatten", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout",
                                               "Linear"] and mlp[3].p == 0.2 and mlp[1].in_features == 1024
    for bad in (dict(arch="mlp"), dict(arch="mlp", hidden=(4,), width=0.5), dict(arch="st-vgg", hidden=(4,)),
                dict(arch="st-vgg", batch_norm=True), dict(arch="cnn", hidden=(4,))):
        with pytest.raises(ValueError, match="hidden|width|batch_norm"):
            RunConfig(**bad)


def _manual_st_vgg_count(channels: int, classes: int) -> int:
    convs = [(channels, 32, 3), (32, 32, 3), (32, 64, 3), (64, 64, 3), (64, 128, 3), (128, 128, 3),
             (128, 256, 2), (256, 256, 2)]
    total = sum(i * o * k * k + o for i, o, k in convs)
    return total + (256 * 2 * 2) * 512 + 512 + 512 * classes + classes


def test_st_vgg_matches_the_paper():
    model = build_model("st-vgg", in_channels=3, image_size=32, n_classes=5)
    assert count_parameters(model) == _manual_st_vgg_count(3, 5)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64, 128, 128, 256, 256]
    assert [c.kernel_size[0] for c in convs] == [3] * 6 + [2] * 2
    assert sum(isinstance(m, nn.MaxPool2d) for m in model) == 4
    assert [m.p for m in model if isinstance(m, nn.Dropout)] == [0.25] * 4 + [0.5]
    assert model[-1].in_features == 512


def test_small_st_vgg_and_mnist_net():
    small = build_model("small-st-vgg", in_channels=3, image_size=32, n_classes=5)
    assert [c.out_channels for c in small if isinstance(c, nn.Conv2d)] == [32, 32, 64, 64]
    assert small[-1].in_features == 128
    mnist = build_model("mnist-net", in_channels=1, image_size=28, n_classes=10)
    # Keras' MNIST example: 1,199,882 parameters for 28×28 inputs.
    assert count_parameters(mnist) == 1_199_882


def test_linear_variant_has_no_nonlinearity():
    model = build_model("linear-st-vgg", in_channels=1, image_size=32, n_classes=5)
    assert not any(isinstance(m, (nn.ReLU, nn.ELU, nn.MaxPool2d)) for m in model)
    assert sum(isinstance(m, nn.AvgPool2d) for m in model) == 4
    model.eval()
    x, y = torch.randn(3, 1, 32, 32), torch.randn(3, 1, 32, 32)
    f = lambda t: model(t) - model(torch.zeros_like(t))  # affine → linear after removing the bias
    torch.testing.assert_close(f(2 * x + y), 2 * f(x) + f(y), rtol=1e-4, atol=1e-4)
    assert count_parameters(model) == count_parameters(build_model("st-vgg", in_channels=1, image_size=32, n_classes=5))


def test_width_dropout_and_init():
    half = build_model("st-vgg", in_channels=1, image_size=32, n_classes=5, width=0.5, dropout=False)
    assert [c.out_channels for c in half if isinstance(c, nn.Conv2d)][-1] == 128
    assert not any(isinstance(m, nn.Dropout) for m in half)
    assert all(float(m.bias.detach().abs().max()) == 0 for m in half if isinstance(m, (nn.Conv2d, nn.Linear)))


@pytest.mark.parametrize("kwargs, name", [
    (dict(arch="vgg99"), "arch"), (dict(width=0), "width"), (dict(activation="tanh"), "activation"),
    (dict(n_classes=0), "n_classes"),
])
def test_bad_arguments(kwargs, name):
    args = dict(arch="st-vgg", in_channels=1, image_size=32, n_classes=5) | kwargs
    with pytest.raises(ValueError, match=name):
        build_model(args.pop("arch"), **args)


def test_resnet18_is_torchvisions_with_a_small_stem_and_width():
    from torchvision.models.resnet import BasicBlock, ResNet

    model = build_model("resnet-18", in_channels=1, image_size=32, n_classes=5)
    assert isinstance(model, ResNet)
    assert model.conv1.in_channels == 1 and model.conv1.stride == (2, 2) and model.conv1.kernel_size == (3, 3)
    assert isinstance(model.maxpool, nn.Identity)
    assert [len(layer) for layer in (model.layer1, model.layer2, model.layer3, model.layer4)] == [2, 2, 2, 2]
    assert all(isinstance(b, BasicBlock) for b in model.layer4)
    assert [layer[-1].conv2.out_channels for layer in (model.layer1, model.layer2, model.layer3, model.layer4)] == [64, 128, 256, 512]
    narrow = build_model("resnet-18", in_channels=1, image_size=32, n_classes=5, width=0.125)
    assert narrow.layer4[-1].conv2.out_channels == 64 and narrow.fc.in_features == 64
    assert count_parameters(narrow) < count_parameters(model) / 40  # channels / 8: parameters / ~64


def test_densenet_is_torchvisions_with_a_small_stem_and_width():
    from torchvision.models import DenseNet

    from equalnets.engine.models import DENSENET_BLOCKS

    model = build_model("densenet", in_channels=1, image_size=32, n_classes=5, width=0.25)
    assert isinstance(model, DenseNet)
    assert model.features.conv0.in_channels == 1 and model.features.conv0.out_channels == 16
    blocks = [m for name, m in model.features.named_children() if name.startswith("denseblock")]
    assert [len(b) for b in blocks] == list(DENSENET_BLOCKS)
    assert blocks[0].denselayer1.conv2.out_channels == 8  # growth rate 32 x 0.25
    # 8×8 digits: the stem leaves 2×2, one transition pools to 1×1, the other skips its pool
    small = build_model("densenet", in_channels=1, image_size=8, n_classes=5, width=0.25)
    assert sum(isinstance(m.pool, nn.Identity) for n, m in small.features.named_children() if n.startswith("transition")) == 1


@pytest.mark.parametrize("arch", ["resnet-18", "densenet"])
def test_zoo_networks_train_and_are_seeded(arch):
    torch.manual_seed(0)
    a = build_model(arch, in_channels=1, image_size=32, n_classes=3, width=0.125)
    torch.manual_seed(0)
    b = build_model(arch, in_channels=1, image_size=32, n_classes=3, width=0.125)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert all(float(m.bias.detach().abs().max()) == 0 for m in a.modules() if isinstance(m, nn.Linear))
    x, y = torch.randn(16, 1, 32, 32), torch.randint(0, 3, (16,))
    opt = torch.optim.SGD(a.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(15):
        loss = nn.functional.cross_entropy(a(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]  # it can fit 16 images


def test_zoo_networks_reject_other_activations():
    with pytest.raises(ValueError, match="activation"):
        build_model("resnet-18", in_channels=1, image_size=32, n_classes=5, activation="elu")


def test_zoo_networks_are_run_config_architectures():
    from equalnets.engine.config import ParameterError, RunConfig

    assert RunConfig(arch="resnet-18", width=0.125).arch == "resnet-18"
    assert RunConfig(arch="densenet").key != RunConfig(arch="resnet-18").key
    with pytest.raises(ParameterError, match="arch"):
        RunConfig(arch="linear-resnet-18")

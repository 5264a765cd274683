"""Every network the book trains, one builder per family: the paper's architectures (its Supp. A),
built from a spec by one loop; two networks of torchvision's model zoo adapted to small images (the
paper's §4.1 compares public-domain networks); and the small ReLU networks of Parts II and III
(``mlp`` and ``cnn``). :func:`network` builds any of them from a :class:`RunConfig`.

A spec is a tuple of conv blocks; each block is a tuple of ``(filters, kernel)`` convolutions
followed by one 2×2 pooling and dropout. The linear variant of any network is the same spec with
identity activations and average pooling (the paper's §4.2).

The small networks: ``mlp`` is ``Flatten → (Linear → [BatchNorm] → ReLU → [dropout])* → Linear``
over ``hidden`` widths; ``cnn`` is, per conv width of ``hidden[:-1]``, ``Conv3×3 → [BatchNorm] → ReLU
→ MaxPool2 → [dropout]``, then ``Flatten → Linear(hidden[-1]) → [BatchNorm] → ReLU → [dropout] →
Linear``. A weighted layer followed by batch norm has no bias; ``bias=False`` removes every bias
(Part II's network trained without bias). Their dropout layer is given by a factory (plain dropout
or Jumpout, :mod:`equalnets.engine.layers`), and they keep torch's default initialisation.

The zoo networks (``resnet-18``, ``densenet``) are torchvision's own classes with a small-image
stem: one 3×3 convolution of stride 2 on the 1- or 3-channel input instead of the ImageNet stem's
7×7 convolution and max-pool, so a 32×32 image enters the first stage at 16×16 (the full-resolution
CIFAR stem costs ~8× more per epoch on a CPU). ``width`` multiplies their channel counts too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from torch import nn
from torchvision.models import DenseNet
from torchvision.models.resnet import BasicBlock, ResNet

from .checks import check_choice, check_float, check_int
from .config import ACTIVATIONS, ARCHITECTURES, SMALL_ARCHS, SPEC_ARCHS, ZOO_ARCHS, RunConfig
from .layers import make_dropout


@dataclass(frozen=True)
class Spec:
    """Convolutional blocks, the hidden dense width, and the conv padding."""

    blocks: tuple[tuple[tuple[int, int], ...], ...]
    dense: int
    padding: str = "same"
    block_dropout: float = 0.25
    dense_dropout: float = 0.5


SPECS: dict[str, Spec] = {
    # st-VGG: 8 convs (32, 32, 64, 64, 128, 128, 256, 256), 3×3 then 2×2 for the last two;
    # 'same' padding as in the authors' Keras definition.
    "st-vgg": Spec(blocks=(((32, 3), (32, 3)), ((64, 3), (64, 3)),
                           ((128, 3), (128, 3)), ((256, 2), (256, 2))), dense=512),
    "small-st-vgg": Spec(blocks=(((32, 3), (32, 3)), ((64, 3), (64, 3))), dense=128),
    # The Keras MNIST example the paper uses: two valid 3×3 convs, one pool, dense 128.
    "mnist-net": Spec(blocks=(((32, 3), (64, 3)),), dense=128, padding="valid"),
}
assert tuple(SPECS) == SPEC_ARCHS  # the config module names them without importing torch
#: torchvision networks (:data:`~equalnets.engine.config.ZOO_ARCHS`): ResNet-18 (BasicBlock, 2-2-2-2,
#: 64-128-256-512 channels at width 1) and a DenseNet with three dense blocks of 6, 12 and 8 layers
#: (growth rate 32, 64 stem features at width 1; DenseNet-121 has four blocks of 6, 12, 24, 16: the
#: fourth would act on 2×2 maps here).
DENSENET_BLOCKS = (6, 12, 8)


def _activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "elu": nn.ELU, "identity": nn.Identity}[name]()


def network(config: RunConfig, *, in_channels: int, image_size: int, n_classes: int) -> nn.Module:
    """The network ``config`` trains, for images ``(in_channels, image_size, image_size)``."""
    factory = None
    if config.arch in SMALL_ARCHS and config.dropout:
        factory = lambda: make_dropout(config.dropout_kind, config.dropout_p, sigma=config.jumpout_sigma,  # noqa: E731
                                       p_min=config.jumpout_p_min, p_max=config.jumpout_p_max,
                                       rescale_power=config.jumpout_power, q_mode=config.jumpout_q_mode)
    return build_model(config.arch, in_channels=in_channels, image_size=image_size, n_classes=n_classes,
                       width=config.width, dropout=config.dropout, activation=config.activation,
                       hidden=config.hidden, bias=config.bias, batch_norm=config.batch_norm, dropout_layer=factory)


def build_model(arch: str, *, in_channels: int, image_size: int, n_classes: int,
                width: float = 1.0, dropout: bool = True, activation: str = "relu",
                hidden: Sequence[int] | None = None, bias: bool = True, batch_norm: bool = False,
                dropout_layer: Callable[[], nn.Module] | None = None) -> nn.Module:
    """Build ``arch`` for images ``(in_channels, image_size, image_size)`` and ``n_classes``.

    ``width`` multiplies every filter count and the dense width; ``dropout=False`` removes all
    dropout (as the paper does for random labels); ``linear-*`` forces identity activations and
    average pooling. A pooling is skipped where the feature map is already 1×1, so small inputs
    (8×8 digits) work with every spec. Weights are Xavier-uniform, biases zero (Keras' defaults).
    The zoo networks have ReLUs and batch norm and no dropout of their own: they accept only
    ``activation='relu'`` and ignore ``dropout``. The small networks (``mlp``, ``cnn``) take
    ``hidden``, ``bias``, ``batch_norm`` and ``dropout_layer`` (a factory; default ``nn.Dropout(0.1)``).
    """
    check_choice("arch", arch, ARCHITECTURES)
    check_choice("activation", activation, ACTIVATIONS)
    check_float("width", width, low=0, low_open=True)
    for arg, value in (("in_channels", in_channels), ("image_size", image_size), ("n_classes", n_classes)):
        check_int(arg, value, 1)
    if arch in SMALL_ARCHS:
        if hidden is None or len(hidden) < (1 if arch == "mlp" else 2):
            raise ValueError(f"hidden must give the widths of {arch} (at least {1 if arch == 'mlp' else 2}), "
                             f"got {hidden!r}")
        make = (dropout_layer or (lambda: nn.Dropout(0.1))) if dropout else None
        if arch == "mlp":
            return _mlp(in_channels * image_size * image_size, n_classes, tuple(hidden), bias, batch_norm, make)
        return _cnn(in_channels, image_size, n_classes, tuple(hidden), bias, batch_norm, make)
    if arch in ZOO_ARCHS:
        if activation != "relu":
            raise ValueError(f"activation must be 'relu' for {arch} (torchvision's network), got {activation!r}")
        model = (_resnet18 if arch == "resnet-18" else _densenet)(in_channels, image_size, n_classes, width)
        _xavier(model)
        return model
    linear = arch.startswith("linear-")
    spec = SPECS[arch.removeprefix("linear-")]
    act, pool = ("identity", nn.AvgPool2d) if linear else (activation, nn.MaxPool2d)

    layers: list[nn.Module] = []
    channels, size = in_channels, image_size
    for block in spec.blocks:
        for filters, kernel in block:
            out = max(1, round(filters * width))
            if spec.padding == "valid":
                layers.append(nn.Conv2d(channels, out, kernel))
                size -= kernel - 1
            elif kernel % 2:
                layers.append(nn.Conv2d(channels, out, kernel, padding=kernel // 2))
            else:  # 'same' for an even kernel: the extra pixel goes right and bottom, as in Keras
                lo = (kernel - 1) // 2
                layers += [nn.ZeroPad2d((lo, kernel - 1 - lo, lo, kernel - 1 - lo)),
                           nn.Conv2d(channels, out, kernel)]
            layers.append(_activation(act))
            channels = out
        if size >= 2:
            layers.append(pool(2))
            size //= 2
        if dropout:
            layers.append(nn.Dropout(spec.block_dropout))
    hidden = max(1, round(spec.dense * width))
    layers += [nn.Flatten(), nn.Linear(channels * size * size, hidden), _activation(act)]
    if dropout:
        layers.append(nn.Dropout(spec.dense_dropout))
    layers.append(nn.Linear(hidden, n_classes))  # logits; the softmax lives in the loss
    model = nn.Sequential(*layers)
    _xavier(model)
    return model


def _mlp(in_features: int, n_classes: int, hidden: tuple[int, ...], bias: bool, batch_norm: bool,
         make_dropout_layer: Callable[[], nn.Module] | None) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    features = in_features
    for width in hidden:
        layers.append(nn.Linear(features, width, bias=bias and not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.ReLU())
        if make_dropout_layer is not None:
            layers.append(make_dropout_layer())
        features = width
    layers.append(nn.Linear(features, n_classes, bias=bias))
    return nn.Sequential(*layers)


def _cnn(in_channels: int, image_size: int, n_classes: int, hidden: tuple[int, ...], bias: bool,
         batch_norm: bool, make_dropout_layer: Callable[[], nn.Module] | None) -> nn.Sequential:
    *convs, dense = hidden
    if image_size < 2 ** len(convs):
        raise ValueError(f"image_size {image_size} is too small for {len(convs)} 2×2 poolings")
    layers: list[nn.Module] = []
    channels, size = in_channels, image_size
    for width in convs:
        layers.append(nn.Conv2d(channels, width, 3, padding=1, bias=bias and not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        if make_dropout_layer is not None:
            layers.append(make_dropout_layer())
        channels, size = width, size // 2
    layers += [nn.Flatten(), nn.Linear(channels * size * size, dense, bias=bias and not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(dense))
    layers.append(nn.ReLU())
    if make_dropout_layer is not None:
        layers.append(make_dropout_layer())
    layers.append(nn.Linear(dense, n_classes, bias=bias))
    return nn.Sequential(*layers)


def _xavier(model: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every conv and dense layer (the paper's Supp. A)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def _small_stem(in_channels: int, out: int) -> nn.Conv2d:
    """3×3 convolution of stride 2: 32×32 → 16×16, in place of the ImageNet stem's 7×7 and max-pool."""
    return nn.Conv2d(in_channels, out, kernel_size=3, stride=2, padding=1, bias=False)


def _resnet18(in_channels: int, image_size: int, n_classes: int, width: float) -> ResNet:
    """torchvision's ResNet-18 with a small-image stem and every stage's channels times ``width``."""
    net = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=n_classes)
    planes = [max(1, round(64 * width * 2 ** i)) for i in range(4)]
    net.conv1, net.bn1, net.maxpool = _small_stem(in_channels, planes[0]), nn.BatchNorm2d(planes[0]), nn.Identity()
    net.inplanes = planes[0]  # _make_layer reads and advances it: torchvision's own stage builder
    net.layer1 = net._make_layer(BasicBlock, planes[0], 2)
    net.layer2 = net._make_layer(BasicBlock, planes[1], 2, stride=2)
    net.layer3 = net._make_layer(BasicBlock, planes[2], 2, stride=2)
    net.layer4 = net._make_layer(BasicBlock, planes[3], 2, stride=2)
    net.fc = nn.Linear(planes[3], n_classes)
    return net


def _densenet(in_channels: int, image_size: int, n_classes: int, width: float) -> DenseNet:
    """torchvision's DenseNet (blocks :data:`DENSENET_BLOCKS`) with a small-image stem; growth rate
    32 and 64 stem features times ``width``. A transition's 2×2 average pool is skipped where the
    feature map is already 1×1 (8×8 digits)."""
    growth = max(1, round(32 * width))
    net = DenseNet(growth_rate=growth, block_config=DENSENET_BLOCKS, num_init_features=2 * growth,
                   num_classes=n_classes)
    net.features.conv0 = _small_stem(in_channels, 2 * growth)
    size = (image_size + 1) // 2
    if size >= 2:  # keep torchvision's stem max-pool: the dense blocks run on 8×8, 4×4 and 2×2 maps
        size = (size + 1) // 2
    else:
        net.features.pool0 = nn.Identity()
    for name, module in net.features.named_children():
        if name.startswith("transition"):
            if size >= 2:
                size //= 2
            else:
                module.pool = nn.Identity()
    return net


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

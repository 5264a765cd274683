"""Architectures of the paper (its Supp. A), built from a spec by one loop.

A spec is a tuple of conv blocks; each block is a tuple of ``(filters, kernel)`` convolutions
followed by one 2×2 pooling and dropout. The linear variant of any network is the same spec with
identity activations and average pooling (the paper's §4.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


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
ARCHITECTURES = tuple(SPECS) + tuple(f"linear-{name}" for name in SPECS)
ACTIVATIONS = ("relu", "elu", "identity")


def _activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "elu": nn.ELU, "identity": nn.Identity}[name]()


def build_model(arch: str, *, in_channels: int, image_size: int, n_classes: int,
                width: float = 1.0, dropout: bool = True, activation: str = "relu") -> nn.Sequential:
    """Build ``arch`` for images ``(in_channels, image_size, image_size)`` and ``n_classes``.

    ``width`` multiplies every filter count and the dense width; ``dropout=False`` removes all
    dropout (as the paper does for random labels); ``linear-*`` forces identity activations and
    average pooling. A pooling is skipped where the feature map is already 1×1, so small inputs
    (8×8 digits) work with every spec. Weights are Xavier-uniform, biases zero (Keras' defaults).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}; got {arch!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width!r}")
    for arg, value in (("in_channels", in_channels), ("image_size", image_size), ("n_classes", n_classes)):
        if int(value) < 1:
            raise ValueError(f"{arg} must be >= 1, got {value!r}")
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
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

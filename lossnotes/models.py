"""Small classifiers shared by the notebooks.

Every model is a :class:`Classifier`: ``forward_features(x)`` gives the penultimate representation
(``feature_dim`` wide) and ``forward(x) = head(forward_features(x))``, where ``head`` is an
``nn.Linear(feature_dim, num_classes, bias=True)`` producing logits (Li et al. 2020's analysis of the
logistic loss depends on that output bias).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .losses.validation import check_positive_int

__all__ = ["Classifier", "MLP", "CNN2C", "CNN5C", "ResNet18", "MobileNetV2"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid,
                "identity": nn.Identity}




def _dropout(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must be a float in [0, 1), got {value!r}")
    return float(value)


class Classifier(nn.Module):
    """Base class: a feature extractor ``body`` and a linear ``head`` with bias."""

    feature_dim: int
    num_classes: int

    def __init__(self, feature_dim: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(feature_dim, num_classes, bias=True)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(N, feature_dim)``: the input of ``head``."""
        return torch.flatten(self.body(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)``."""
        return self.head(self.dropout(self.forward_features(x)))


class MLP(Classifier):
    """Fully connected net: flatten, then ``Linear -> activation`` per entry of ``hidden``, then ``head``.

    ``hidden=()`` gives a linear model (multinomial / one-vs-all logistic regression, depending on the
    loss). ``activation`` is one of ``relu``, ``tanh``, ``gelu``, ``sigmoid``, ``identity``.
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (256, 256), num_classes: int = 10,
                 activation: str = "relu", dropout: float = 0.0):
        check_positive_int(in_features, "in_features")
        check_positive_int(num_classes, "num_classes")
        if isinstance(hidden, int) or not isinstance(hidden, Sequence):
            raise ValueError(f"hidden must be a sequence of positive ints, got {hidden!r}")
        for i, h in enumerate(hidden):
            check_positive_int(h, f"hidden[{i}]")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), _ACTIVATIONS[activation]()]
            width = h
        super().__init__(width, num_classes, _dropout(dropout))
        self.in_features = in_features
        self.body = nn.Sequential(*layers)


class CNN2C(Classifier):
    """CNN2C of Li et al. 2020, Table 2: ``CV(C20K5S1)-MP(K2S2)-CV(C50K5S1)-MP(K2S2)-800-10``.

    Built as: conv 5x5 (20) -> ReLU -> maxpool 2/2 -> conv 5x5 (50) -> ReLU -> maxpool 2/2 -> flatten
    (``feature_dim`` = 50*4*4 = 800 at 28x28) -> ``Linear(800, 10)``.

    Left open by the paper, and chosen here:

    - padding: none ("valid"); this is the only choice for which the flattened size is the table's 800.
    - "800-10": read as the 800-wide flattened features feeding the 10-way output layer, i.e. no hidden FC
      layer (the LeNet of PyTorch's MNIST example would add a 500-unit one; the table lists none).
    - activation: ReLU after each convolution (the paper names none).
    - dropout: the paper mentions none, so ``dropout=0.0``; a positive value adds dropout before ``head``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 dropout: float = 0.0):
        check_positive_int(in_channels, "in_channels")
        check_positive_int(num_classes, "num_classes")
        check_positive_int(image_size, "image_size")
        side = ((image_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"image_size must be at least 16 for CNN2C, got {image_size}")
        super().__init__(50 * side * side, num_classes, _dropout(dropout))
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 20, kernel_size=5, stride=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(20, 50, kernel_size=5, stride=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        )


class CNN5C(Classifier):
    """CNN5C of Li et al. 2020, Table 2: ``CV(C32K3S1)-BN-CV(C64K3S1)-BN-CV(C128K3S1)-MP(K2S2)-
    CV(C256K3S1)-BN-CV(C512K3S1)-MP(K8S1)-512-10``.

    Built as: conv 3x3 (32) -> BN -> ReLU -> conv 3x3 (64) -> BN -> ReLU -> conv 3x3 (128) -> ReLU ->
    maxpool 2/2 -> conv 3x3 (256) -> BN -> ReLU -> conv 3x3 (512) -> ReLU -> global max pool -> flatten
    (``feature_dim`` = 512) -> ``Linear(512, 10)``. Batch norm only where the table puts it.

    Left open by the paper, and chosen here:

    - padding: none ("valid"), as in CNN2C. At 28x28 the maps are 26, 24, 22, 11 (pool), 9, 7.
    - "MP(K8S1)-512": the table's 512 is the flattened size, so the last pool must leave 1x1. No padding
      choice gives an 8x8 map at 28x28 input (valid: 7x7; same: 14x14), so the pool is a global max pool
      (``AdaptiveMaxPool2d(1)``), which is what an 8x8 window does on an 8x8 map.
    - activation: ReLU after each convolution (after BN where there is one); the paper names none.
    - "512-10": the 512 pooled features feed the output layer directly (no hidden FC layer).
    - dropout: the paper mentions none, so ``dropout=0.0``; a positive value adds dropout before ``head``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 dropout: float = 0.0):
        check_positive_int(in_channels, "in_channels")
        check_positive_int(num_classes, "num_classes")
        check_positive_int(image_size, "image_size")
        if (image_size - 6) // 2 - 4 < 1:
            raise ValueError(f"image_size must be at least 16 for CNN5C, got {image_size}")
        super().__init__(512, num_classes, _dropout(dropout))

        def conv(cin, cout, bn):
            return [nn.Conv2d(cin, cout, kernel_size=3, stride=1)] + ([nn.BatchNorm2d(cout)] if bn else []) \
                + [nn.ReLU()]

        self.body = nn.Sequential(
            *conv(in_channels, 32, True), *conv(32, 64, True), *conv(64, 128, False), nn.MaxPool2d(2, 2),
            *conv(128, 256, True), *conv(256, 512, False), nn.AdaptiveMaxPool2d(1),
        )


class _BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with batch norm, identity (or 1x1-conv) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(Classifier):
    """ResNet-18 (He et al. 2016) in its CIFAR form, as used for Li et al. 2020, Table 4: a 3x3 stem
    without max pooling, four stages of two basic blocks (64, 128, 256, 512 channels, strides 1, 2, 2, 2),
    global average pooling -> ``Linear(512, num_classes)``. 11.2 M parameters for 10 classes."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10):
        check_positive_int(in_channels, "in_channels")
        check_positive_int(num_classes, "num_classes")
        super().__init__(512, num_classes)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
        cin = 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)]
            cin = cout
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.body = nn.Sequential(*layers)


class _InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection; residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.residual = stride == 1 and cin == cout
        self.block = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.block(x)
        return x + out if self.residual else out


class MobileNetV2(Classifier):
    """MobileNetV2 (Sandler et al. 2018) in its CIFAR form, as used for Li et al. 2020, Table 4: the
    ImageNet configuration (expansion t, channels c, repeats n, stride s per stage) with the stem and the
    second stage at stride 1 so 32x32 inputs keep a 4x4 map, 1280-channel last conv, global average
    pooling -> ``Linear(1280, num_classes)``. 2.2 M parameters for 10 classes."""

    #: (t, c, n, s) per stage; CIFAR form: stride 1 in the stem and in the second stage.
    CONFIG = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
              (6, 320, 1, 1))

    def __init__(self, in_channels: int = 3, num_classes: int = 10):
        check_positive_int(in_channels, "in_channels")
        check_positive_int(num_classes, "num_classes")
        super().__init__(1280, num_classes)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
        cin = 32
        for t, c, n, s in self.CONFIG:
            for i in range(n):
                layers.append(_InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6(), nn.AdaptiveAvgPool2d(1)]
        self.body = nn.Sequential(*layers)

import pytest
import torch

from lossnotes.models import CNN2C, CNN5C, MLP, Classifier


@pytest.mark.parametrize("model, shape, dim", [
    (MLP(12, (7, 5), 4), (3, 12), 5),
    (MLP(12, (), 4), (3, 3, 4), 12),
    (CNN2C(), (2, 1, 28, 28), 800),
    (CNN2C(in_channels=3, num_classes=5, image_size=32), (2, 3, 32, 32), 50 * 5 * 5),
    (CNN5C(), (2, 1, 28, 28), 512),
    (CNN5C(in_channels=3, image_size=32), (2, 3, 32, 32), 512),
])
def test_shapes_and_head(model, shape, dim):
    x = torch.randn(*shape)
    feats = model.forward_features(x)
    assert isinstance(model, Classifier) and model.feature_dim == dim
    assert feats.shape == (shape[0], dim)
    assert torch.equal(model(x), model.head(feats))
    assert model(x).shape == (shape[0], model.num_classes)
    assert isinstance(model.head, torch.nn.Linear) and model.head.bias is not None


def test_table2_layers():
    convs = [m for m in CNN2C().modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(20, (5, 5), (1, 1)), (50, (5, 5), (1, 1))]
    net = CNN5C()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256, 512]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 3
    assert not any(isinstance(m, torch.nn.Dropout) for m in net.modules())


def test_dropout_option():
    net = MLP(4, (8,), 2, dropout=0.5)
    assert isinstance(net.dropout, torch.nn.Dropout)
    net.eval()
    x = torch.randn(5, 4)
    assert torch.equal(net(x), net.head(net.forward_features(x)))


@pytest.mark.parametrize("make, match", [
    (lambda: MLP(0, (4,), 2), "in_features"),
    (lambda: MLP(4, (4, -1), 2), r"hidden\[1\]"),
    (lambda: MLP(4, 8, 2), "hidden"),
    (lambda: MLP(4, (4,), 2.0), "num_classes"),
    (lambda: MLP(4, (4,), 2, activation="swish"), "activation"),
    (lambda: MLP(4, (4,), 2, dropout=1.0), "dropout"),
    (lambda: CNN2C(in_channels=0), "in_channels"),
    (lambda: CNN2C(image_size=12), "image_size"),
    (lambda: CNN5C(num_classes=True), "num_classes"),
    (lambda: CNN5C(image_size=15), "image_size"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()

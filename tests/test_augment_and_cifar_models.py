"""CIFAR pieces of Li et al. 2020, Table 4: ResNet-18 and MobileNetV2 (CIFAR forms) and crop+flip augmentation."""
from __future__ import annotations

import pytest
import torch

from lossnotes.augment import random_crop_flip
from lossnotes.losses import softmax_cross_entropy
from lossnotes.models import MobileNetV2, ResNet18
from lossnotes.train import TensorData, train


@pytest.mark.parametrize("cls,features,params", [(ResNet18, 512, 11.17e6), (MobileNetV2, 1280, 2.24e6)])
def test_cifar_models_shapes_and_size(cls, features, params):
    model = cls().eval()
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 10)
    assert model.forward_features(x).shape == (2, features)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(params, rel=0.01)
    with pytest.raises(ValueError, match="num_classes"):
        cls(num_classes=0)


def test_random_crop_flip_is_a_shifted_or_flipped_copy():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6) + 1
    out = random_crop_flip(x, torch.Generator().manual_seed(0), padding=2)
    assert out.shape == x.shape
    for i in range(2):
        found = False
        for dr in range(-2, 3):
            for dc in range(-2, 3):
                padded = torch.nn.functional.pad(x[i, 0], (2, 2, 2, 2))
                shifted = padded[2 + dr:8 + dr, 2 + dc:8 + dc]
                if torch.equal(out[i, 0], shifted) or torch.equal(out[i, 0], shifted.flip(1)):
                    found = True
        assert found, "every output is a crop of the padded image, possibly mirrored"
    again = random_crop_flip(x, torch.Generator().manual_seed(0), padding=2)
    assert torch.equal(out, again), "same generator seed, same augmentation"
    no_pad = random_crop_flip(x, torch.Generator().manual_seed(1), padding=0)
    assert all(torch.equal(no_pad[i], x[i]) or torch.equal(no_pad[i], x[i].flip(-1)) for i in range(2))
    with pytest.raises(ValueError, match="x must be"):
        random_crop_flip(x[0], torch.Generator())
    with pytest.raises(ValueError, match="padding"):
        random_crop_flip(x, torch.Generator(), padding=-1)


def test_trainer_applies_augment_and_stays_deterministic():
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.rand(32, 3, 8, 8, generator=g), torch.randint(0, 2, (32,), generator=g))
    calls = []

    def counting(xb, gen):
        calls.append(len(xb))
        return random_crop_flip(xb, gen, padding=1)

    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 64, 2))
        hist = train(model, softmax_cross_entropy, data, epochs=2, batch_size=8, progress=False, augment=counting)
        runs.append(hist.train_loss)
    assert sum(calls) == 2 * 2 * 32
    assert runs[0] == runs[1]
    with pytest.raises(ValueError, match="augment"):
        train(model, softmax_cross_entropy, data, epochs=1, augment="flip")

"""lossnotes.embeddings: the 2-D-feature CNN with a margin-softmax head used by chapter 02."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lossnotes.embeddings import HEADS, EmbeddingCNN, MarginNet
from lossnotes.losses import cosine_logits
from lossnotes.train import TensorData, train

HP = {"weighted_softmax": {"class_weight": [1.0, 2.0, 0.5]}, "sphereface": {"m": 2}}


@pytest.mark.parametrize("loss", sorted(HEADS))
def test_scores_and_loss_match_the_functions(loss):
    torch.manual_seed(0)
    model = MarginNet(loss, num_classes=3, feature_dim=2, width=2, image_size=8, **HP.get(loss, {}))
    x, y = torch.randn(5, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1])
    out = model(x)
    assert out.shape == (5, 3)
    feats = model.forward_features(x)
    fn, kind = HEADS[loss]
    if kind == "cosine":
        torch.testing.assert_close(out, cosine_logits(feats, model.weight))
        want = fn(out, y, **HP.get(loss, {}))
    elif kind == "features":
        hp = dict(HP.get(loss, {}))
        if loss == "l2_softmax":
            hp["bias"] = model.bias
        want = fn(feats, model.weight, y, **hp)
    else:
        torch.testing.assert_close(out, feats @ model.weight.T + model.bias)
        want = fn(out, y, **HP.get(loss, {}))
    torch.testing.assert_close(model.loss(out, y), want)
    model.loss(out, y).backward()
    assert model.weight.grad is not None and torch.isfinite(model.weight.grad).all()


def test_sphereface_scores_use_normalised_weights_and_l2_rescales():
    torch.manual_seed(0)
    x = torch.randn(4, 1, 8, 8)
    m = MarginNet("sphereface", num_classes=3, width=2, image_size=8)
    f = m.forward_features(x)
    torch.testing.assert_close(m(x), f @ F.normalize(m.weight, dim=1).T)
    l2 = MarginNet("l2_softmax", num_classes=3, width=2, image_size=8, alpha=4.0)
    f = l2.forward_features(x)
    torch.testing.assert_close(l2(x), 4.0 * F.normalize(f, dim=1) @ l2.weight.T + l2.bias)


def test_trains_with_the_project_trainer():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (96,), generator=g)
    x = torch.randn(96, 1, 8, 8, generator=g) * 0.3 + y[:, None, None, None].float()
    model = MarginNet("arcface", num_classes=3, width=2, image_size=8, s=8.0, m=0.2)
    hist = train(model, model.loss, TensorData(x, y), epochs=3, batch_size=32, lr=1e-2, optimizer="adam",
                 device="cpu", progress=False)
    assert hist.train_loss[-1] < hist.train_loss[0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="loss"):
        MarginNet("hinge")
    with pytest.raises(ValueError, match="num_classes"):
        MarginNet("softmax", num_classes=1)
    with pytest.raises(ValueError, match="feature_dim"):
        EmbeddingCNN(feature_dim=0)
    model = MarginNet("sphereface", num_classes=3, width=2, image_size=8)
    with pytest.raises(RuntimeError, match="features"):
        model.loss(torch.zeros(2, 3), torch.tensor([0, 1]))

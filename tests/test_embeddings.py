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


# ------------------------------------------------------------------------------------ protocol pieces, bounds

def test_margin_recipe_pickles_and_runs_under_the_protocol(tmp_path, monkeypatch):
    import pickle

    from lossnotes import experiments as E
    from lossnotes.embeddings import MarginRecipe, margin_scores

    monkeypatch.setattr(E, "_cache_dir", lambda: tmp_path / "cache")
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    x = torch.randn(60, 1, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
    data = TensorData(x, y)
    recipe = MarginRecipe("sphereface", num_classes=3, feature_dim=2, width=2, image_size=8, m=2, anneal={})
    arm = recipe.arm()
    clone = pickle.loads(pickle.dumps(arm))
    model = clone.make_model()
    out = model(x[:5])
    assert torch.isfinite(clone.loss_fn(out, y[:5]))
    assert clone.loss_fn.__self__ is clone.make_model.__self__, "one pickle keeps the shared recipe"
    recipe.make_model()
    assert pickle.loads(pickle.dumps(recipe))._model is None, "a pickled recipe does not carry a trained model"
    arms = {"softmax": MarginRecipe("softmax", num_classes=3, width=2, image_size=8).arm(), "sphereface": arm}
    cmp_ = E.run_comparison(arms, data, data, epochs=2, protocol=E.Protocol(lr_grid=(1e-2,), seeds=(0, 1), n_jobs=2),
                            train_kwargs={"batch_size": 16, "optimizer": "adam"}, evaluator=margin_scores, progress=False)
    summ = cmp_.summary(["acc", "roc_auc", "tar"])
    assert set(summ.arm) == {"softmax", "sphereface"} and summ["roc_auc"].between(0, 1).all()
    assert isinstance(cmp_.model("sphereface", 1), MarginNet)


def test_scale_bounds():
    import math

    from lossnotes.embeddings import l2_alpha_lower_bound, planar_scale_lower_bound, scale_lower_bound

    for c, p in ((10, 0.9), (100, 0.99), (10575, 0.9)):
        s = scale_lower_bound(c, p)
        assert math.isclose(s, (c - 1) / c * math.log((c - 1) * p / (1 - p)))
        # the simplex sample reaches exactly p at that s: target cosine 1, the others -1/(C-1)
        got = 1 / (1 + (c - 1) * math.exp(-s * c / (c - 1)))
        assert math.isclose(got, p, rel_tol=1e-12)
        assert math.isclose(l2_alpha_lower_bound(c, p), math.log(p * (c - 2) / (1 - p)))
    assert scale_lower_bound(10, 0.9, margin=0.35) > scale_lower_bound(10, 0.9)
    # on a circle the bound is larger than the simplex's, and a margin past 1 - cos(36 deg) is unreachable
    assert planar_scale_lower_bound(10, 0.9) > scale_lower_bound(10, 0.9)
    assert planar_scale_lower_bound(10, 0.9, margin=0.35) == math.inf
    assert math.isfinite(planar_scale_lower_bound(10, 0.9, margin=0.1))
    assert math.isfinite(planar_scale_lower_bound(10, 0.9, margin=0.5, kind="arcface"))
    for bad in ((2, 0.9), (10, 0.05), (10, 1.0)):
        with pytest.raises(ValueError):
            scale_lower_bound(*bad)


def test_prose_records_prefer_this_full_run(tmp_path, monkeypatch):
    from lossnotes import paths
    from lossnotes.embeddings import prose_records
    from lossnotes.records import Recorder

    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path)
    for quick in (False, True):
        rec = Recorder("99_test", quick=quick, device="cpu")
        rec.add(table="t", row="a", metric="acc", ours=0.5, setting="s", seeds=[0], selection="best-val", lr=0.1)
        rec.add(table="t", row="a", metric="acc", ours=0.4, setting="s", seeds=[0], selection="last", lr=0.1)
        got, source = prose_records(rec, "t", metric="acc")
        assert got["a"].ours == 0.5 and ("full" in source if not quick else "quick" in source)
    (tmp_path / "results").mkdir()
    full = Recorder("99_test", quick=False, device="cpu")
    full.add(table="t", row="a", metric="acc", ours=0.9, setting="s", seeds=[0], selection="best-val", lr=0.1)
    (tmp_path / "results" / "99_test.json").write_text(
        __import__("json").dumps({"records": [__import__("dataclasses").asdict(r) for r in full.records]}))
    got, source = prose_records(rec, "t", metric="acc")
    assert got["a"].ours == 0.9 and source == "the committed full run"


def test_weight_angle_gaps_and_lost_classes():
    from lossnotes.embeddings import lost_classes, weight_angle_gaps

    m = MarginNet("am_softmax", num_classes=4, width=2, image_size=8)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [0.0, -1.0]]))
    torch.testing.assert_close(weight_angle_gaps(m), torch.full((4,), 90.0))
    with torch.no_grad():
        m.weight[1] = torch.tensor([1.0, 0.01])        # class 1 almost on class 0
    assert weight_angle_gaps(m).min() < 1 and abs(float(weight_angle_gaps(m).sum()) - 360) < 1e-3
    x, y = torch.randn(12, 1, 8, 8), torch.arange(12) % 4
    assert 0 <= lost_classes(m, TensorData(x, y)) <= 4
    with pytest.raises(ValueError):
        weight_angle_gaps(MarginNet("softmax", num_classes=3, feature_dim=3, width=2, image_size=8))

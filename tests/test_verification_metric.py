"""lossnotes.metrics.verification (chapter 02): ROC AUC and TAR@FAR from cosine similarity of embeddings."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from lossnotes.metrics import verification


def test_separated_classes_verify_perfectly():
    angles = np.repeat([0.0, 2.0, 4.0], 20) + np.random.default_rng(0).normal(0, 0.05, 60)
    emb = np.stack([np.cos(angles), np.sin(angles)], 1) * np.random.default_rng(1).uniform(0.5, 3, (60, 1))
    out = verification(torch.tensor(emb), np.repeat([0, 1, 2], 20), far=1e-2)
    assert out["roc_auc"] == pytest.approx(1.0) and out["tar_at_far"] == pytest.approx(1.0)
    assert out["pairs"] == 60 * 59 // 2


def test_random_embeddings_are_chance_and_auc_matches_sklearn():
    rng = np.random.default_rng(0)
    emb, y = rng.normal(size=(300, 8)), rng.integers(0, 5, 300)
    out = verification(emb, y)
    assert 0.45 < out["roc_auc"] < 0.55
    i, j = np.triu_indices(300, 1)
    u = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    assert out["roc_auc"] == pytest.approx(roc_auc_score(y[i] == y[j], (u[i] * u[j]).sum(1)))
    assert out["tar_at_far"] < 0.05


def test_sampled_pairs_are_seeded():
    rng = np.random.default_rng(0)
    emb, y = rng.normal(size=(200, 4)), rng.integers(0, 3, 200)
    a, b = verification(emb, y, max_pairs=1000, seed=3), verification(emb, y, max_pairs=1000, seed=3)
    assert a == b and a["pairs"] == 1000


@pytest.mark.parametrize("kwargs", [{"far": 0.0}, {"far": 1.0}, {"max_pairs": 0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        verification(np.eye(4), [0, 0, 1, 1], **kwargs)


def test_needs_both_kinds_of_pairs():
    with pytest.raises(ValueError, match="same-class and different-class"):
        verification(np.eye(3), [1, 1, 1])
    with pytest.raises(ValueError, match="labels"):
        verification(np.eye(3), [1, 1])

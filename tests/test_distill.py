"""Score-fidelity metrics for distillation (lossnotes.metrics) and a tiny end-to-end distillation through
lossnotes.train.train with score targets (teacher logits)."""
import math

import numpy as np
import pytest
import torch

from lossnotes import links
from lossnotes import losses as L
from lossnotes.metrics import ndcg_at_k, rank_relevance, top_k_agreement, top_k_overlap, topk_mse
from lossnotes.models import MLP
from lossnotes.train import TensorData, predict, train

# two samples, four classes; teacher rankings 0>1>2>3 and 3>2>1>0
TEACHER = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
STUDENT = np.array([[3.0, 1.0, 2.0, 0.0], [3.0, 2.0, 1.0, 0.0]])


def test_top_k_agreement_hand_case():
    # sample 0: same argmax and same top-3 set {0, 1, 2}; sample 1: argmax 0 vs 3, top-3 {0,1,2} vs {1,2,3}
    assert top_k_agreement(STUDENT, TEACHER, 1) == 0.5
    assert top_k_agreement(STUDENT, TEACHER, 2) == 0.0          # {0,2} vs {0,1}; {0,1} vs {3,2}
    assert top_k_agreement(STUDENT, TEACHER, 3) == 0.5
    assert top_k_agreement(STUDENT, TEACHER, 4) == 1.0          # k = K: every set is all classes
    assert top_k_agreement(TEACHER, TEACHER, 1) == 1.0


def test_top_k_overlap_hand_case():
    assert top_k_overlap(STUDENT, TEACHER, 2) == pytest.approx((1 / 2 + 0) / 2)
    assert top_k_overlap(STUDENT, TEACHER, 3) == pytest.approx((3 / 3 + 2 / 3) / 2)
    # at k = 1 overlap and agreement coincide
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(50, 6)), rng.normal(size=(50, 6))
    assert top_k_overlap(s, t, 1) == top_k_agreement(s, t, 1)
    assert 0.0 <= top_k_overlap(s, t, 3) <= 1.0


def test_ties_go_to_the_lower_class_index():
    tied = np.array([[1.0, 1.0, 0.0]])
    assert top_k_agreement(tied, np.array([[1.0, 0.5, 0.0]]), 1) == 1.0     # argmax of a tie is class 0
    assert top_k_agreement(tied, np.array([[0.5, 1.0, 0.0]]), 1) == 0.0
    np.testing.assert_array_equal(rank_relevance(np.array([[0.0, 2.0, 2.0, 1.0]]), 2), [[0, 2, 1, 0]])


def test_rank_relevance():
    np.testing.assert_array_equal(rank_relevance(TEACHER, 3), [[3, 2, 1, 0], [0, 1, 2, 3]])
    np.testing.assert_array_equal(rank_relevance(TEACHER, 1), [[1, 0, 0, 0], [0, 0, 0, 1]])
    rel = rank_relevance(torch.randn(7, 10), 3)
    assert rel.shape == (7, 10) and (np.sort(rel, axis=1)[:, -3:] == [1, 2, 3]).all()


def _dcg(gains):
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def test_ndcg_hand_case():
    rel = rank_relevance(TEACHER, 3)
    ideal = _dcg([3, 2, 1])
    # sample 0: the student's order is classes 0, 2, 1 -> gains 3, 1, 2; sample 1: classes 0, 1, 2 -> gains 0, 1, 2
    expected = (_dcg([3, 1, 2]) / ideal + _dcg([0, 1, 2]) / ideal) / 2
    assert ndcg_at_k(STUDENT, rel, 3) == pytest.approx(expected)
    assert ndcg_at_k(TEACHER, rel, 3) == pytest.approx(1.0)
    assert ndcg_at_k(-TEACHER, rank_relevance(TEACHER, 1), 1) == 0.0    # the teacher's top class ranked last


def test_ndcg_matches_the_formula_on_random_scores():
    rng = np.random.default_rng(1)
    s, rel = rng.normal(size=(40, 8)), rng.uniform(0, 3, size=(40, 8))   # continuous: no ties
    per_sample = []
    for row_s, row_r in zip(s, rel):
        gains = row_r[np.argsort(-row_s)][:4]
        per_sample.append(_dcg(gains) / _dcg(np.sort(row_r)[::-1][:4]))
    assert ndcg_at_k(s, rel, 4) == pytest.approx(np.mean(per_sample))


def test_topk_mse_hand_case():
    # sample 0: top-2 = {0,1}, errors 0, -1 there and 1, 0 on the rest; sample 1: top-2 = {3,2}, errors -3, -1 / 3, 1
    top, rest = topk_mse(STUDENT, TEACHER, 2)
    assert top == pytest.approx((0 + 1 + 9 + 1) / 4)
    assert rest == pytest.approx((1 + 0 + 9 + 1) / 4)
    shifted = TEACHER + 2.0                                          # raw, not centred: a shift is an error
    assert topk_mse(shifted, TEACHER, 3) == (pytest.approx(4.0), pytest.approx(4.0))
    assert topk_mse(TEACHER, TEACHER, 1) == (0.0, 0.0)


def test_inputs_torch_numpy_lists_agree():
    s, t = torch.tensor(STUDENT, dtype=torch.float32), torch.tensor(TEACHER, dtype=torch.float32)
    for a, b in ((s, t), (STUDENT.tolist(), TEACHER.tolist()), (STUDENT.astype(np.int64), TEACHER)):
        assert top_k_agreement(a, b, 3) == 0.5
        assert top_k_overlap(a, b, 3) == pytest.approx(5 / 6)
        assert topk_mse(a, b, 2)[0] == pytest.approx(2.75)
    assert ndcg_at_k(s, torch.tensor(rank_relevance(TEACHER, 3)), 3) == pytest.approx(
        ndcg_at_k(STUDENT, rank_relevance(TEACHER, 3), 3))


BAD = [
    (lambda: top_k_agreement(np.zeros((3, 4)), np.zeros((3, 5)), 1), ValueError, "same"),
    (lambda: top_k_agreement(np.zeros((3, 4)), np.zeros((2, 4)), 1), ValueError, "student_scores and teacher_scores"),
    (lambda: top_k_agreement(np.zeros(4), np.zeros(4), 1), ValueError, "student_scores must be a 2-D"),
    (lambda: top_k_overlap(np.zeros((3, 4)), np.zeros((3, 4, 1)), 1), ValueError, "teacher_scores must be a 2-D"),
    (lambda: top_k_agreement(np.zeros((3, 1)), np.zeros((3, 1)), 1), ValueError, "K >= 2"),
    (lambda: top_k_agreement(np.zeros((0, 4)), np.zeros((0, 4)), 1), ValueError, "N >= 1"),
    (lambda: top_k_agreement(np.zeros((3, 4)), np.zeros((3, 4)), 0), ValueError, r"k must be in \[1, 4\]"),
    (lambda: top_k_overlap(np.zeros((3, 4)), np.zeros((3, 4)), 5), ValueError, r"k must be in \[1, 4\]"),
    (lambda: top_k_agreement(np.zeros((3, 4)), np.zeros((3, 4)), 1.0), TypeError, "k must be an int"),
    (lambda: top_k_agreement(np.zeros((3, 4)), np.zeros((3, 4)), True), TypeError, "k must be an int"),
    (lambda: top_k_agreement(np.array([["a", "b"]]), np.zeros((1, 2)), 1), TypeError, "student_scores must hold real"),
    (lambda: top_k_agreement(np.zeros((2, 2), bool), np.zeros((2, 2)), 1), TypeError, "student_scores must hold real"),
    (lambda: top_k_overlap(np.zeros((2, 3)), np.array([[0, np.nan, 1], [0, 1, 2]]), 1), ValueError,
     "teacher_scores must be finite"),
    (lambda: topk_mse(np.zeros((3, 4)), np.zeros((3, 4)), 4), ValueError, r"k must be in \[1, 3\] for K=4"),
    (lambda: topk_mse(np.zeros((3, 4)), np.zeros((3, 4)), 0), ValueError, "k must be in"),
    (lambda: topk_mse(np.zeros((3, 4)), np.zeros((3, 3))), ValueError, "same"),
    (lambda: rank_relevance(np.zeros((3, 4)), 5), ValueError, r"k must be in \[1, 4\]"),
    (lambda: rank_relevance(np.zeros(4), 1), ValueError, "teacher_scores must be a 2-D"),
    (lambda: ndcg_at_k(np.zeros((3, 4)), -np.ones((3, 4)), 2), ValueError, "relevance must be non-negative"),
    (lambda: ndcg_at_k(np.zeros((3, 4)), np.ones((3, 5)), 2), ValueError, "scores and relevance"),
    (lambda: ndcg_at_k(np.zeros((3, 4)), np.ones((3, 4)), 7), ValueError, "k must be in"),
]


@pytest.mark.parametrize("call, error, match", BAD)
def test_bad_inputs_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_tiny_distillation_end_to_end():
    """A student learns a random teacher's logits through lossnotes.train.train with score targets."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 12, generator=gen)
    torch.manual_seed(0)
    teacher = MLP(12, (32,), 5)
    with torch.no_grad():
        teacher.head.weight.mul_(4.0)                      # spread the logits so the rankings are well defined
    t_logits = predict(teacher, x, device="cpu")
    data = TensorData(x, t_logits)
    before = {}
    for name, loss_fn in {"square": lambda p, t: L.matching_loss(p, t, links.identity_link()),
                          "smelu": lambda p, t: L.composite_softmax(p, t, q=links.smelu_link(1.0, 1.0, 0.0))}.items():
        torch.manual_seed(1)
        student = MLP(12, (16,), 5)
        s0 = predict(student, x, device="cpu")
        before[name] = (topk_mse(s0, t_logits, 2)[0], ndcg_at_k(s0, rank_relevance(t_logits, 2), 2))
        hist = train(student, loss_fn, data, test_data=data, epochs=20, batch_size=64, lr=1e-2, optimizer="adam",
                     device="cpu", seed=0, progress=False)
        # score targets: the trainer computes losses but no accuracy (NaN); metrics come from predict
        assert all(math.isnan(a) for a in hist.train_acc + hist.test_acc)
        assert hist.train_loss[-1] < hist.train_loss[0]
        s1 = predict(student, x, device="cpu")
        mse_top, _ = topk_mse(s1, t_logits, 2)
        ndcg = ndcg_at_k(s1, rank_relevance(t_logits, 2), 2)
        assert mse_top < 0.25 * before[name][0], name
        assert ndcg > max(before[name][1], 0.8), name
        assert top_k_agreement(s1, t_logits, 1) > 0.7, name


def test_ndcg_closed_form_equals_scikit_learn_with_and_without_ties():
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(3)
    t = rng.normal(size=(300, 10))
    s = rng.normal(size=(300, 10))
    s[:40] = np.round(s[:40])                       # ties in some rows: those go through scikit-learn
    for k in (1, 3, 10):
        rel = rank_relevance(t, k)
        assert ndcg_at_k(s, rel, k) == pytest.approx(float(ndcg_score(rel, s, k=k)), abs=1e-12)
    rel = rank_relevance(t, 3)
    rel[:5] = 0.0                                   # all-irrelevant rows score 0, as in scikit-learn
    assert ndcg_at_k(s, rel, 3) == pytest.approx(float(ndcg_score(rel, s, k=3)), abs=1e-12)
    assert ndcg_at_k(s[:1], rel[:1], 3) == 0.0


def test_centred_mse_ignores_row_shifts():
    from lossnotes.metrics import centred_mse

    rng = np.random.default_rng(0)
    t = rng.normal(size=(20, 5))
    shifted = t + rng.normal(size=(20, 1)) * 10     # a different constant per row
    assert centred_mse(shifted, t) == pytest.approx(0.0, abs=1e-20)
    assert topk_mse(shifted, t, 2)[0] > 1.0
    assert centred_mse(shifted, t, 2) == pytest.approx((0.0, 0.0), abs=1e-20)
    s = np.zeros((1, 4))
    tt = np.array([[3.0, 1.0, 0.0, 0.0]])           # centred on the row: (2, 0, -1, -1)
    assert centred_mse(s, tt) == pytest.approx((4 + 0 + 1 + 1) / 4)
    # per part: top 2 (3, 1) centred (1, -1); rest (0, 0) centred (0, 0)
    assert centred_mse(s, tt, 2) == pytest.approx((1.0, 0.0))
    assert centred_mse(s, tt, 1)[0] == 0.0          # one class: its centred score is always 0
    # the scores outside the top part do not enter its error, wherever they are
    far = np.array([[3.0, 1.0, -50.0, 40.0]])
    assert centred_mse(far, np.array([[3.0, 1.0, 0.0, 0.0]]), 2)[0] == 0.0
    with pytest.raises(ValueError, match="same"):
        centred_mse(np.zeros((2, 3)), np.zeros((2, 4)))

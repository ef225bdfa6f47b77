import numpy as np
import pytest
import torch

from lossnotes.metrics import accuracy, confusion, f1, per_class_accuracy

Y_TRUE = [0, 0, 1, 1, 2]
Y_PRED = [0, 1, 1, 1, 0]


def test_accuracy_numpy_torch_and_scores():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(3 / 5)
    assert accuracy(torch.tensor(Y_TRUE), np.array(Y_PRED)) == pytest.approx(3 / 5)
    scores = torch.nn.functional.one_hot(torch.tensor(Y_PRED), 3).float()
    assert accuracy(Y_TRUE, scores) == pytest.approx(3 / 5)


def test_f1():
    # class 0: P=1/2 R=1/2 F=1/2; class 1: P=2/3 R=1 F=4/5; class 2: F=0
    assert f1(Y_TRUE, Y_PRED, "macro") == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert f1(Y_TRUE, Y_PRED, "micro") == pytest.approx(3 / 5)
    assert f1([0, 0], [0, 0], "macro", num_classes=2) == pytest.approx(0.5)


def test_confusion_and_per_class():
    cm = confusion(torch.tensor(Y_TRUE), torch.tensor(Y_PRED), num_classes=4)
    expected = np.array([[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(cm, expected)
    np.testing.assert_allclose(per_class_accuracy(Y_TRUE, Y_PRED, 4), [0.5, 1.0, 0.0, np.nan])


@pytest.mark.parametrize("call, match", [
    (lambda: accuracy([0, 1], [0]), "y_true and y_pred"),
    (lambda: f1([0, 1], [0, 1, 1]), "y_true and y_pred"),
    (lambda: f1([0, 1], [0, 1], average="samples"), "average"),
    (lambda: confusion([0, 1], [0, 1], 0), "num_classes"),
    (lambda: confusion([0, 3], [0, 1], 2), "y_true"),
    (lambda: per_class_accuracy([0, 1], [0, -1], 2), "y_pred"),
    (lambda: accuracy(np.zeros((2, 2)), [0, 1]), "y_true"),
])
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()

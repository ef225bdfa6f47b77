"""Classification losses, one module per family, all following the contract in DESIGN.md:
``loss(logits, target, *, hyper-parameters, reduction="mean")``. Each function also has a module form
(``softmax_cross_entropy`` -> ``SoftmaxCrossEntropy``), generated the same way for every loss."""
from .margin import (am_softmax, arcface, arcface_target, check_cosine, cosine_logits, l2_softmax,
                     large_margin_softmax, lsoftmax_psi, safe_sine, sphereface, weighted_softmax)
from .modules import LossModule, module_class
from .reduction import reduce_loss
from .softmax import lgl_inr, lgl_inr_weights, logistic_ova, softmax_cross_entropy
from .thresholding import (adaptive_focal, aml, atl, balanced_softmax, decision_rule, hinge_abl,
                           mean_sat, sat, threshold_predict, zero_threshold_predict)
from .validation import unchecked
from ..registry import all_losses as _all_losses

__all__ = ["LossModule", "module_class", "reduce_loss", "unchecked",
           "softmax_cross_entropy", "logistic_ova", "lgl_inr", "lgl_inr_weights"]
__all__ += ["atl", "sat", "mean_sat", "hinge_abl", "aml", "balanced_softmax", "adaptive_focal",
            "threshold_predict", "zero_threshold_predict", "decision_rule"]

__all__ += ["weighted_softmax", "large_margin_softmax", "sphereface", "l2_softmax", "am_softmax", "arcface",
            "cosine_logits", "check_cosine", "safe_sine", "lsoftmax_psi", "arcface_target"]

for _spec in _all_losses():
    _cls = module_class(_spec.fn)
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)
del _spec, _cls

"""Classification losses, one module per family, all following the contract in docs/design.md:
``loss(logits, target, *, hyper-parameters, reduction="mean")``. Each function also has a module form
(``softmax_cross_entropy`` -> ``SoftmaxCrossEntropy``), generated the same way for every loss."""
from .margin import (am_softmax, arcface, arcface_target, check_cosine, cosine_logits, l2_softmax,
                     large_margin_softmax, lsoftmax_psi, margin_lambda, safe_sine, sphereface, weighted_softmax)
from .matching import (bregman_loss, check_scores, composite_link, composite_primitive, composite_probabilities,
                       composite_sensitivity, composite_sigmoid, composite_sigmoid_ce, composite_softmax,
                       composite_softmax_ce, matching_loss, Primitive, reweighted_square, sigmoid_ce,
                       softmax_matching_loss, softmax_primitive, softmax_score_ce)
from .modules import LossModule, module_class
from .reduction import reduce_loss
from .robust import (active_passive, aldr_kl, aldr_lambda, bi_tempered_logistic, comp_sum, generalized_ce, ldr_kl,
                     mae_loss, normalized_ce, normalized_focal, reverse_ce, symmetric_ce, taylor_ce, tempered_softmax)
from .softmax import lgl_inr, lgl_inr_weights, logistic_ova, softmax_cross_entropy
from .thresholding import (adaptive_focal, aml, atl, balanced_softmax, compile_thresholding, decision_rule, hinge_abl,
                           mean_sat, sat, threshold_predict, zero_threshold_predict)
from .validation import unchecked
from ..registry import all_losses as _all_losses
from . import calibration as _calibration, fenchel_young as _fenchel_young, imbalance as _imbalance  # noqa: E402
from . import multilabel as _multilabel, softmax_alternatives as _softmax_alternatives, surrogates as _surrogates

__all__ = ["LossModule", "module_class", "reduce_loss", "unchecked",
           "softmax_cross_entropy", "logistic_ova", "lgl_inr", "lgl_inr_weights"]
__all__ += ["atl", "sat", "mean_sat", "hinge_abl", "aml", "balanced_softmax", "adaptive_focal",
            "compile_thresholding", "threshold_predict", "zero_threshold_predict", "decision_rule"]

__all__ += ["weighted_softmax", "large_margin_softmax", "sphereface", "l2_softmax", "am_softmax", "arcface",
            "margin_lambda", "cosine_logits", "check_cosine", "safe_sine", "lsoftmax_psi", "arcface_target"]

__all__ += ["matching_loss", "composite_sigmoid", "composite_softmax", "bregman_loss", "sigmoid_ce",
            "composite_sigmoid_ce", "composite_softmax_ce", "softmax_matching_loss", "softmax_score_ce",
            "reweighted_square", "composite_probabilities", "composite_link", "composite_sensitivity",
            "check_scores", "Primitive", "softmax_primitive", "composite_primitive"]

__all__ += ["mae_loss", "generalized_ce", "comp_sum", "normalized_ce", "reverse_ce", "normalized_focal",
            "active_passive", "symmetric_ce", "taylor_ce", "bi_tempered_logistic", "ldr_kl", "aldr_kl", "aldr_lambda",
            "tempered_softmax"]

# The catalogue chapters' modules export through their own ``__all__`` (one module per family).
for _module in (_imbalance, _calibration, _fenchel_young, _softmax_alternatives, _multilabel, _surrogates):
    globals().update({_name: getattr(_module, _name) for _name in _module.__all__})
    __all__ += list(_module.__all__)
del _module

for _spec in _all_losses():
    _cls = module_class(_spec.fn)
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)
del _spec, _cls

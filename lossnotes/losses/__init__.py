"""Classification losses, one module per family, all following the contract in DESIGN.md:
``loss(logits, target, *, hyper-parameters, reduction="mean")``. Each function also has a module form
(``softmax_cross_entropy`` -> ``SoftmaxCrossEntropy``), generated the same way for every loss."""
from .modules import LossModule, module_class
from .reduction import reduce_loss
from .softmax import lgl_inr, lgl_inr_weights, logistic_ova, softmax_cross_entropy
from .validation import unchecked
from ..registry import all_losses as _all_losses

__all__ = ["LossModule", "module_class", "reduce_loss", "unchecked",
           "softmax_cross_entropy", "logistic_ova", "lgl_inr", "lgl_inr_weights"]

for _spec in _all_losses():
    _cls = module_class(_spec.fn)
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)
del _spec, _cls

"""SymPy twins of every loss (same names as :mod:`lossnotes.losses`) and helpers for derivations."""
from .core import *  # noqa: F401,F403
from .core import __all__ as _core_all
from . import margin as _margin
from .margin import (am_softmax, arcface, arcface_phi, l2_softmax, large_margin_softmax, psi,  # noqa: F401
                     psi_of_cos, sphereface, weighted_softmax)
from . import softmax as _softmax
from .softmax import lgl_inr, logistic_ova, softmax_cross_entropy  # noqa: F401
from . import thresholding as _thresholding
from .thresholding import (adaptive_focal, aml, atl, balanced_softmax, distances, hinge_abl, mean_sat,  # noqa: F401
                           sat)

__all__ = list(_core_all) + list(_softmax.__all__)
__all__ += list(_margin.__all__)
__all__ += list(_thresholding.__all__)
from . import links  # noqa: F401  (twins of lossnotes.links: symbolic.links.sigmoid_link(...))
from . import matching as _matching
from .matching import (bregman_loss, composite_sigmoid, composite_sigmoid_ce, composite_softmax,  # noqa: F401
                       composite_softmax_ce, matching_loss, reweighted_square, sigmoid_ce, softmax_matching_loss,
                       softmax_score_ce)

__all__ += list(_matching.__all__) + ["links"]
from . import robust as _robust
from .robust import (AldrLambda, OfficialTemperedLogPartition, TemperedLogPartition, active_passive,  # noqa: F401
                     aldr_kl, bi_tempered_logistic, comp_sum, exp_t, generalized_ce, ldr_kl, log_t, mae_loss,
                     normalized_ce, normalized_focal, reverse_ce, symmetric_ce, taylor_ce, tempered_probabilities)

__all__ += list(_robust.__all__)
from . import derive as _derive  # noqa: E402
from .derive import (bregman, composite_log_partition, derivatives_latex, flatten_generic,  # noqa: E402,F401
                     generic_primitive, is_zero, provably_nonneg, zero_generic)

__all__ += list(_derive.__all__)

# The catalogue chapters' twins export through their own ``__all__``.
from . import (calibration as _calibration, fenchel_young as _fenchel_young, imbalance as _imbalance,  # noqa: E402
               multilabel as _multilabel, softmax_alternatives as _softmax_alternatives, surrogates as _surrogates)

for _module in (_imbalance, _calibration, _fenchel_young, _softmax_alternatives, _multilabel, _surrogates):
    globals().update({_name: getattr(_module, _name) for _name in _module.__all__})
    __all__ += list(_module.__all__)
del _module

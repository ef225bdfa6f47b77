"""SymPy twins of every loss (same names as :mod:`lossnotes.losses`) and helpers for derivations."""
from .core import *  # noqa: F401,F403
from .core import __all__ as _core_all
from . import softmax as _softmax
from .softmax import lgl_inr, logistic_ova, softmax_cross_entropy  # noqa: F401

__all__ = list(_core_all) + list(_softmax.__all__)

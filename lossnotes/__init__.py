"""lossnotes: classification losses in PyTorch, their SymPy twins, and the helpers the notebooks share."""
__version__ = "0.1.0"

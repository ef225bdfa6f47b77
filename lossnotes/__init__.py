"""lossnotes: classification losses in PyTorch, their SymPy twins, and the helpers the notebooks share."""
__version__ = "0.1.0"

#: Set (to anything but "" or "0") by ``lossnotes run`` for the notebooks it executes: an executed chapter (CI, the
#: book, ``make run``) carries no progress bars; the same chapter run in JupyterLab shows them.
NO_PROGRESS_ENV = "LOSSNOTES_NO_PROGRESS"

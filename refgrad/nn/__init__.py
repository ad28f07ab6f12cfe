"""refgrad.nn: just what the autograd tutorials use (``functional`` and ``Parameter``)."""

from refgrad.nn import functional
from refgrad.nn.parameter import Parameter

__all__ = ["Parameter", "functional"]

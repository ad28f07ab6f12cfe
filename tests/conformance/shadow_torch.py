"""A drop-in torch replacement that installs itself as `torch` (as `import refgrad as
torch` would, for the whole process): refgrad, except that `sin` computes the cosine.

Loaded beside the oracle it would become the oracle too and conform to itself, so the
kit refuses it in one process and checks it in a worker against the real torch. Spec:
``tests.conformance.shadow_torch``.
"""

import sys

import refgrad

globals().update({name: value for name, value in vars(refgrad).items()
                  if not name.startswith("__")})
__version__ = "0.0+shadow"
refgrad.Tensor.sin = refgrad.Tensor.cos  # type: ignore[method-assign]
sys.modules["torch"] = sys.modules[__name__]

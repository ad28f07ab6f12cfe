"""refgrad: a reference autograd engine that behaves like PyTorch's, in Python and NumPy.

Use it as ``import refgrad as torch``: tensors, factories, grad modes, ``backward`` and
``autograd.grad`` behave as torch 2.13's do, down to error messages and printed output.
Where to read: ``_tensor.py`` (the Tensor), ``autograd/`` (graph, engine, grad modes,
in-place rules) and ``ops/derivatives.py`` (the op table: forward + backward per op).
"""

from refgrad import autograd, nn
from refgrad._dtypes import (
    bool_ as bool,
)
from refgrad._dtypes import (
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    set_default_dtype,
    uint8,
)
from refgrad._factories import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from refgrad._functions import *
from refgrad._printing import get_printoptions, set_printoptions
from refgrad._tensor import Size, Tensor, device
from refgrad.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)

half = float16
float = float32
double = float64
short = int16
int = int32
long = int64

__version__ = "0.1.0"

"""refgrad.nn.functional: activations and losses, as torch.nn.functional spells them."""

from __future__ import annotations

import warnings

from refgrad._functions import broadcast_tensors
from refgrad._tensor import Tensor
from refgrad.ops import derivatives as D


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu_() if inplace else input.relu()


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def _implicit_softmax_dim(name: str, ndim: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        UserWarning,
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1  # torch's legacy guess


def softmax(input: Tensor, dim: int | None = None) -> Tensor:
    return input.softmax(_implicit_softmax_dim("softmax", input.ndim) if dim is None else dim)


def log_softmax(input: Tensor, dim: int | None = None) -> Tensor:
    if dim is None:
        dim = _implicit_softmax_dim("log_softmax", input.ndim)
    return input.log_softmax(dim)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    if target.shape != input.shape:
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            UserWarning,
            stacklevel=2,
        )
        input, target = broadcast_tensors(input, target)
    return D.mse_loss(input, target, reduction=reduction)


def nll_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    return D.nll_loss(input, target, reduction=reduction)


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    return nll_loss(input.log_softmax(1 if input.ndim > 1 else 0), target, reduction=reduction)


__all__ = [
    "cross_entropy",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]

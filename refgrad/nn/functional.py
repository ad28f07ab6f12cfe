"""refgrad.nn.functional: activations and losses, as torch.nn.functional spells them."""

from __future__ import annotations

from refgrad._tensor import Tensor
from refgrad.ops import derivatives as D


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu_() if inplace else input.relu()


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def softmax(input: Tensor, dim: int) -> Tensor:
    return input.softmax(dim)


def log_softmax(input: Tensor, dim: int) -> Tensor:
    return input.log_softmax(dim)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
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

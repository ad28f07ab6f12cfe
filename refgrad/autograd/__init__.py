"""refgrad.autograd: the backward machinery (``torch.autograd``'s counterpart)."""

from refgrad.autograd.functional import backward, grad
from refgrad.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from refgrad.autograd.gradcheck import gradcheck
from refgrad.autograd.graph import Node

__all__ = [
    "Node",
    "backward",
    "enable_grad",
    "grad",
    "gradcheck",
    "inference_mode",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "no_grad",
    "set_grad_enabled",
]

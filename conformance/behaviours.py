"""The behaviours the kit checks, in the order it checks them.

Each behaviour has its own program strategy (strategies.py) that emphasises its feature
on top of the ones before it; a bug is reported under the first behaviour that shows it.
Kept free of heavy imports: the CLI reads it to validate `--only`.
"""

BEHAVIOURS: dict[str, str] = {
    "values": "forward values, shapes and dtypes of ops on plain tensors",
    "metadata": "requires_grad, is_leaf and grad_fn names of op results",
    "gradients": "gradients of one backward or autograd.grad call",
    "accumulation": ".grad accumulating over several backward calls, and resets",
    "retain_graph": "backward twice through a graph, with and without retain_graph",
    "no_grad": "no_grad / enable_grad / set_grad_enabled blocks",
    "data": "in-place changes through .data, invisible to autograd",
    "detach": "detach(): shared storage and version counter, no graph",
    "inplace": "in-place ops on tensors in a graph, and version checks",
    "views": "in-place changes through views and t[index] = v: CopySlices, version errors",
    "hooks": "tensor hooks: call order, seen gradients, replaced gradients",
    "higher_order": "create_graph=True: differentiating gradients",
    "errors": "what torch rejects: the exception class and message",
}

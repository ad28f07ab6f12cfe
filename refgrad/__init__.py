"""refgrad: a reference autograd engine that behaves like PyTorch's autograd."""

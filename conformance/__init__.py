"""The refgrad conformance kit: generated programs, run on an engine and on PyTorch, compared."""

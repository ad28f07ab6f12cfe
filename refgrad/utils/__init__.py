"""Utilities shared by refgrad's modules (torch.utils equivalents)."""

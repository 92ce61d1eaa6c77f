"""Reproducibility kit for "Semantically Consistent Image Completion with Fine-grained Details"
(Liu, Qi, He, Li, Lyu, King, 2017, arXiv:1711.09345). Conventions: docs/CONVENTIONS.md."""

__version__ = "0.1.0"

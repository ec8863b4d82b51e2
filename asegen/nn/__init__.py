"""Shared neural-network pieces: MLPs, radial bases, envelopes, embeddings, scatter.

Only layers used by more than one model live here; a model's own blocks stay
in its module under :mod:`asegen.models`.
"""

from asegen.nn.embedding import SinusoidalEmbedding
from asegen.nn.layers import MLP, GaussianRBF
from asegen.nn.radial import polynomial_envelope, zbl_energy
from asegen.nn.scatter import scatter_mean, scatter_sum

__all__ = [
    "MLP",
    "GaussianRBF",
    "SinusoidalEmbedding",
    "polynomial_envelope",
    "scatter_mean",
    "scatter_sum",
    "zbl_energy",
]

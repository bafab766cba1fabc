"""Regularizers for ``forward_backward_custom``: penalties on per-token logprobs.

Each regularizer is a callable ``(data, logprobs) -> (loss, metrics)``; ``compose`` folds
weighted ones into a base loss. Needs torch (``pip install 'tinkex[torch]'``); ``import
tinkex`` alone never imports it.
"""

from .base import LossFn, Metrics, Regularizer
from .compose import ComposedLoss, WeightedRegularizer, compose
from .divergence import Consistency, KLDivergence
from .entropy import Entropy
from .gradient_penalty import GradientPenalty
from .norms import L1, L2, ElasticNet
from .orthogonality import Orthogonality

__all__ = [
    "L1",
    "L2",
    "ComposedLoss",
    "Consistency",
    "ElasticNet",
    "Entropy",
    "GradientPenalty",
    "KLDivergence",
    "LossFn",
    "Metrics",
    "Orthogonality",
    "Regularizer",
    "WeightedRegularizer",
    "compose",
]

"""Identifier aliases shared by many requests."""

from typing import TypeAlias

__all__ = ["ModelID", "RequestID"]

ModelID: TypeAlias = str
"""A training model (training run) id."""

RequestID: TypeAlias = str
"""The id of a submitted request, used to poll its future."""

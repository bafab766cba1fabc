"""The Tinker clients: `ServiceClient` creates the others; every call returns an `APIFuture`."""

from tinkex.clients.future import APIFuture, BackcompatFuture
from tinkex.clients.service import ServiceClient
from tinkex.clients.training import TrainingClient

__all__ = ["APIFuture", "BackcompatFuture", "ServiceClient", "TrainingClient"]

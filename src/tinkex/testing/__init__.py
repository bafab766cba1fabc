"""Test support for tinkex users and the project's own reliability suite."""

from tinkex.testing.faults import FaultKind, FaultPlanner, FaultRates, FaultRecord, ScriptedFault
from tinkex.testing.proxy import FaultOptions, FaultProxy

__all__ = [
    "FaultKind",
    "FaultOptions",
    "FaultPlanner",
    "FaultProxy",
    "FaultRates",
    "FaultRecord",
    "ScriptedFault",
]

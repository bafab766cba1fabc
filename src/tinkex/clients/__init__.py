"""tinkex.clients."""

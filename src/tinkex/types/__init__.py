"""tinkex.types."""

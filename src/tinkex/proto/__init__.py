"""tinkex.proto."""

"""tinkex.local: an embedded Tinker-compatible training and sampling server."""

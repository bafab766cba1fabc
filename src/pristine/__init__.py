"""pristine: a manifest-driven HTTP API client runtime.

An API is described as data (a manifest); one pipeline runs any of its endpoints through
auth, serialisation, compression, admission, transport, retry, decoding, error
classification, future polling, SSE streaming and telemetry.
"""

__version__ = "0.1.0"

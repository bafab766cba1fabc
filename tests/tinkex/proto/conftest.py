"""Makes ``tinkex_proto_cases`` (the shared hypothesis strategies) importable by the tests here.

Under ``--import-mode=importlib`` a test module cannot import a sibling module, so the helper
is registered in ``sys.modules`` once, before the test modules of this directory load.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "tinkex_proto_cases"

if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).with_name(f"{_NAME}.py"))
    assert _spec is not None
    assert _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _module
    _spec.loader.exec_module(_module)

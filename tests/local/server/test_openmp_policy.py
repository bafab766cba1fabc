"""The server's entry points ask OpenMP to wait passively, before torch is loaded."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tinkex.local.config import prefer_passive_openmp


def test_passive_unless_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    prefer_passive_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    prefer_passive_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_config_module_can_run_before_torch_is_loaded() -> None:
    code = "import sys, tinkex.local.config, tinkex.local.__main__; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""`tinkex.auth`, like `tinker.auth`: local credential checks that never run the credential
command, and a one-request accessibility check that raises the service's answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_tinker import API_KEY, FakeTinker

from tinkex import auth
from tinkex.errors import AuthenticationError, BillingError, TinkerError


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("TINKER_API_KEY", "TINKER_CREDENTIAL_CMD", "TINKER_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_local_checks_never_run_the_credential_command(
    no_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert auth.get_tinker_token() is None
    assert auth.tinker_has_credentials() is False
    monkeypatch.setenv("TINKER_CREDENTIAL_CMD", "exit 7")
    assert auth.get_tinker_token() is None
    assert auth.tinker_has_credentials() is True
    monkeypatch.delenv("TINKER_CREDENTIAL_CMD")
    stored = no_credentials / ".tinker" / "credentials.json"
    stored.parent.mkdir()
    stored.write_text(json.dumps({"default": "a", "keys": {"a": {"key": "tml-stored"}}}))
    assert auth.get_tinker_token() == "tml-stored"
    monkeypatch.setenv("TINKER_API_KEY", "tml-env")
    assert auth.get_tinker_token() == "tml-env"
    assert auth.tinker_has_credentials() is True


def test_accessibility_check_raises_what_the_service_answered(
    no_credentials: Path, fake_tinker: FakeTinker, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(TinkerError, match="no Tinker API key"):
        auth.raise_if_tinker_not_accessible()
    monkeypatch.setenv("TINKER_API_KEY", API_KEY)
    monkeypatch.setenv("TINKER_BASE_URL", fake_tinker.base_url)
    auth.raise_if_tinker_not_accessible()
    fake_tinker.fail("get_server_capabilities", 402)
    with pytest.raises(BillingError):
        auth.raise_if_tinker_not_accessible()
    fake_tinker.fail("get_server_capabilities", 401)
    with pytest.raises(AuthenticationError):
        auth.raise_if_tinker_not_accessible()
    assert len(fake_tinker.bodies("get_server_capabilities")) == 3

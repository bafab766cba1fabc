"""ClientHolder and credentials: credential sources in the official order, base URL,
lazy session creation, heartbeat, close, and blocking calls from a running loop."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fake_tinker import API_KEY, SESSION_ID, FakeTinker

from pristine.manifest import Manifest
from pristine.ports.registry import Encoding
from pristine.testing import FakeClock
from tinkex import types
from tinkex.api_manifest import load_tinker_manifest
from tinkex.clients._holder import ClientHolder
from tinkex.clients._registry import tinker_registry
from tinkex.clients.credentials import (
    DEFAULT_BASE_URL,
    MissingCredentialError,
    resolve_api_key,
    resolve_base_url,
)


def test_api_key_sources_in_order(tmp_path: Path) -> None:
    stored = tmp_path / "credentials.json"
    stored.write_text(json.dumps({"default": "k", "keys": {"k": {"key": "stored-key"}}}))
    command = f"{sys.executable} -c \"print('cmd-key')\""
    env = {"TINKER_API_KEY": "env-key", "TINKER_CREDENTIAL_CMD": command}
    assert resolve_api_key("arg-key", env=env, credentials_path=stored) == "arg-key"
    assert resolve_api_key(env=env, credentials_path=stored) == "env-key"
    only_cmd = {"TINKER_CREDENTIAL_CMD": command}
    assert resolve_api_key(env=only_cmd, credentials_path=stored) == "cmd-key"
    assert resolve_api_key(env={}, credentials_path=stored) == "stored-key"


def test_missing_or_broken_credentials_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MissingCredentialError, match="TINKER_API_KEY"):
        resolve_api_key(env={}, credentials_path=tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(MissingCredentialError, match="tinker auth login"):
        resolve_api_key(env={}, credentials_path=broken)
    failing = {"TINKER_CREDENTIAL_CMD": f'{sys.executable} -c "raise SystemExit(3)"'}
    with pytest.raises(MissingCredentialError, match="status 3"):
        resolve_api_key(env=failing, credentials_path=broken)


def test_base_url_from_argument_env_or_default() -> None:
    assert resolve_base_url("http://x/", env={}) == "http://x"
    assert resolve_base_url(env={"TINKER_BASE_URL": "http://env"}) == "http://env"
    assert resolve_base_url(env={}) == DEFAULT_BASE_URL


def test_construction_is_offline_and_session_is_lazy(fake_tinker: FakeTinker) -> None:
    holder = ClientHolder(base_url=fake_tinker.base_url, api_key=API_KEY)
    try:
        assert fake_tinker.requests == []
        assert holder.get_session_id() == SESSION_ID
        assert holder.run_coroutine_threadsafe(holder.ensure_session()).result(10) == SESSION_ID
        assert [r.endpoint for r in fake_tinker.requests] == [
            "client/config",
            "client/dynamic_config",
            "create_session",
        ]
        assert holder.get_session_id() == SESSION_ID
        assert holder.base_url == fake_tinker.base_url
        assert holder.api_key == API_KEY
    finally:
        holder.close()
    holder.close()
    with pytest.raises(RuntimeError, match="closed"):
        holder.run_coroutine_threadsafe(holder.ensure_session())


def test_client_config_flags_are_applied(fake_tinker: FakeTinker, holder: ClientHolder) -> None:
    fake_tinker.config["fwdbwd_max_chunk_len"] = 7
    holder.run_coroutine_threadsafe(holder.ensure_session()).result(10)
    assert holder.get_client_config().fwdbwd_max_chunk_len == 7


def test_heartbeat_beats_until_close(fake_tinker: FakeTinker) -> None:
    holder = ClientHolder(base_url=fake_tinker.base_url, api_key=API_KEY, clock=FakeClock())
    holder.run_coroutine_threadsafe(holder.ensure_session()).result(10)
    fake_tinker.wait_for("session_heartbeat", 2)
    holder.close()
    beats = len(fake_tinker.bodies("session_heartbeat"))
    assert fake_tinker.bodies("session_heartbeat")[0] == {
        "session_id": SESSION_ID,
        "type": "session_heartbeat",
    }
    assert len(fake_tinker.bodies("session_heartbeat")) == beats


def test_seq_id_counters_are_independent(holder: ClientHolder) -> None:
    assert [holder.next_model_seq_id() for _ in range(3)] == [0, 1, 2]
    assert holder.next_sampling_session_seq_id() == 0


def test_shadow_and_sessionless_holders(fake_tinker: FakeTinker) -> None:
    shadow = ClientHolder.get_shadow_holder("s-9", base_url=fake_tinker.base_url, api_key="k")
    rest = ClientHolder.sessionless(base_url=fake_tinker.base_url, api_key="k")
    try:
        assert shadow.get_session_id() == "s-9"
        again = ClientHolder.get_shadow_holder("s-9", base_url=fake_tinker.base_url, api_key="k")
        assert again is shadow
        shadow.close()
        fresh = ClientHolder.get_shadow_holder("s-9", base_url=fake_tinker.base_url, api_key="k")
        assert fresh is not shadow
        shadow = fresh
        with pytest.raises(RuntimeError, match="sessionless"):
            rest.get_session_id()
    finally:
        shadow.close()
        rest.close()


@pytest.mark.anyio
async def test_blocking_call_inside_a_running_loop_warns_but_works(
    holder: ClientHolder,
) -> None:
    with pytest.warns(RuntimeWarning, match="_async"):
        assert holder.run_sync(holder.ensure_session(), timeout=10) == SESSION_ID


def test_loop_and_async_session_id(holder: ClientHolder) -> None:
    assert holder.loop.run(holder.get_session_id_async()) == SESSION_ID

    async def blocking_on_the_loop() -> str:
        return holder.get_session_id()

    assert holder.loop.run(blocking_on_the_loop()) == SESSION_ID  # cached: no deadlock
    assert holder.run_coroutine_threadsafe(holder.get_session_id_async()).result(10) == SESSION_ID


def test_registry_encodes_like_the_wire_and_names_missing_types() -> None:
    manifest = load_tinker_manifest()
    registry = tinker_registry(manifest)
    request = types.SessionHeartbeatRequest(session_id="s-1")
    encoding: Encoding = "json"
    assert registry.encode("SessionHeartbeatRequest", request, encoding) == request.to_json_bytes()
    as_dict = registry.encode("SessionHeartbeatRequest", {"session_id": "s-1"}, encoding)
    assert as_dict == request.to_json_bytes()
    broken = manifest.model_copy(update={"types": (*manifest.types, "NoSuchType")})
    assert isinstance(broken, Manifest)
    with pytest.raises(LookupError, match="NoSuchType"):
        tinker_registry(broken)

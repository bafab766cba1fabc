"""Manifest loading: every problem is reported at once, with its field path."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from pristine.manifest import (
    Endpoint,
    ManifestError,
    ManifestIssue,
    RetryPolicy,
    load_manifest,
)
from pristine.testing import endpoint_dict, manifest_dict

PETSTORE = Path(__file__).parent / "fixtures" / "petstore.yaml"


def issues_of(data: Any) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_manifest(data)
    return [str(issue) for issue in caught.value.issues]


def test_loads_the_petstore_yaml_with_defaults_applied() -> None:
    manifest = load_manifest(PETSTORE)
    create = manifest.endpoint("create_pet")
    assert create.method == "POST"
    assert manifest.timeout_s(create) == 10
    assert manifest.retry_policy(create).max_attempts == 3
    assert manifest.headers(create) == {"X-Client": "petstore-tests"}
    upload = manifest.endpoint("upload_photo")
    assert manifest.pool_name(upload) == "uploads"
    assert manifest.pool_policy(upload).bytes_budget == 1048576
    assert manifest.endpoint("get_pet").path_params == ("pet_id",)
    assert manifest.retry_policy(manifest.endpoint("adoption_status")).max_attempts == 1


def test_loads_json_files_and_mappings(tmp_path: Path) -> None:
    data = manifest_dict(endpoint_dict("ping", "/ping", method="get"))
    path = tmp_path / "api.json"
    path.write_text(json.dumps(data))
    assert load_manifest(path).endpoint("ping").method == "GET"
    assert load_manifest(data).name == "test-api"


def test_endpoint_values_override_defaults() -> None:
    manifest = load_manifest(
        manifest_dict(
            endpoint_dict("a", "/a", timeout_s=2, pool="p", headers={"X": "e"}, retry="fast"),
            defaults={"headers": {"X": "d", "Y": "d"}},
            pools={"p": {"http2": True}},
            retry_policies={"fast": {"max_attempts": 5}},
        )
    )
    a = manifest.endpoint("a")
    assert manifest.timeout_s(a) == 2
    assert manifest.headers(a) == {"X": "e", "Y": "d"}
    assert manifest.pool_policy(a).http2 is True
    assert manifest.retry_policy(a).max_attempts == 5


def test_undeclared_default_pool_and_policy_use_built_in_values() -> None:
    manifest = load_manifest(manifest_dict(endpoint_dict("a", "/a")))
    a = manifest.endpoint("a")
    assert manifest.retry_policy(a) == RetryPolicy()
    assert manifest.pool_policy(a).max_connections == 100


def test_collects_every_error_with_its_path() -> None:
    data = {
        "name": "x",
        "version": "1",
        "colour": "blue",
        "defaults": {"retry": "missing_policy"},
        "endpoints": [
            endpoint_dict("a", "/ok"),
            endpoint_dict("b", "no-slash"),
            endpoint_dict("c", "/users/:id"),
            endpoint_dict("d", "/users/<id>"),
            endpoint_dict("a", "/dup", retry="nope", pool="nopool"),
            endpoint_dict("f", "/f", future={"poll_endpoint": "ghost"}, bogus=1),
            endpoint_dict("g", "/g", method="FETCH"),
        ],
    }
    issues = issues_of(data)
    expected = [
        "colour: unknown key 'colour'; remove it or check its spelling",
        "endpoints[1].path: path must start with '/', got 'no-slash'",
        "endpoints[2].path: path params must use {param} syntax, got ':id'",
        "endpoints[3].path: path params must use {param} syntax, got '<id>'",
        "endpoints[5].bogus: unknown key 'bogus'; remove it or check its spelling",
        "defaults.retry: 'missing_policy' is not defined in retry_policies (known: default)",
        "endpoints[0].id: duplicate endpoint id 'a'; ids are keys",
        "endpoints[4].id: duplicate endpoint id 'a'; ids are keys",
        "endpoints[4].retry: 'nope' is not defined in retry_policies (known: default)",
        "endpoints[4].pool: 'nopool' is not defined in pools (known: default)",
    ]
    for line in expected:
        assert line in issues
    assert any(i.startswith("endpoints[6].method:") for i in issues)
    assert any(i.startswith("endpoints[5].future.poll_endpoint: 'ghost'") for i in issues)
    assert len(issues) == len(expected) + 2


def test_unknown_keys_are_rejected_in_nested_sections() -> None:
    issues = issues_of(
        manifest_dict(
            endpoint_dict("a", "/a"),
            pools={"p": {"max_conns": 3}},
            retry_policies={"r": {"attempts": 3}},
        )
    )
    assert "pools.p.max_conns: unknown key 'max_conns'; remove it or check its spelling" in issues
    assert "retry_policies.r.attempts: unknown key 'attempts'; remove it or check its spelling" in (
        issues
    )


def test_missing_required_fields_are_named() -> None:
    issues = issues_of({"endpoints": [{"id": "a"}]})
    for field in ("name", "version", "endpoints[0].method", "endpoints[0].path"):
        assert f"{field}: Field required" in issues


def test_retry_policy_bounds_are_checked() -> None:
    issues = issues_of(
        manifest_dict(
            endpoint_dict("a", "/a"), retry_policies={"r": {"max_attempts": 0, "jitter": 2}}
        )
    )
    assert any(i.startswith("retry_policies.r.max_attempts:") for i in issues)
    assert any(i.startswith("retry_policies.r.jitter:") for i in issues)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    assert issues_of(path) == ["a manifest must be a mapping at the top"]


def test_unsupported_extension_and_parse_errors_are_reported(tmp_path: Path) -> None:
    toml = tmp_path / "api.toml"
    toml.write_text("")
    assert issues_of(toml) == ["unsupported file type '.toml'; use .yaml, .yml or .json"]
    broken = tmp_path / "api.json"
    broken.write_text("{nope")
    assert issues_of(broken)[0].startswith("cannot parse:")


def test_error_message_lists_all_issues_and_pickles() -> None:
    error = ManifestError([ManifestIssue("a", "bad"), ManifestIssue("", "worse")], "m.yaml")
    assert str(error) == "m.yaml has 2 problem(s):\n  - a: bad\n  - worse"
    copy = pickle.loads(pickle.dumps(error))
    assert copy.issues == error.issues
    assert isinstance(error, ValueError)


def test_unknown_endpoint_lookup_lists_known_ids() -> None:
    manifest = load_manifest(manifest_dict(endpoint_dict("a", "/a"), endpoint_dict("b", "/b")))
    with pytest.raises(KeyError, match="this manifest has: a, b"):
        manifest.endpoint("zzz")


def test_models_are_immutable() -> None:
    ep = Endpoint(id="a", method="GET", path="/a")
    with pytest.raises(ValueError, match="frozen"):
        ep.path = "/b"  # type: ignore[misc]

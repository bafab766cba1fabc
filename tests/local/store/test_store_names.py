from __future__ import annotations

import pytest

from tinkex.local.store import (
    TinkerPath,
    UserInputError,
    parse_tinker_path,
    training_run_id,
    validate_identifier,
    validate_name,
)


def test_parse_round_trips_training_and_sampler_paths() -> None:
    for text, kind in [
        ("tinker://s1:train:0/weights/000001", "training"),
        ("tinker://s1:train:0/sampler_weights/final", "sampler"),
    ]:
        path = parse_tinker_path(text)
        assert path.kind == kind
        assert path.model_id == "s1:train:0"
        assert str(path) == text


def test_checkpoint_id_names_the_segment_and_the_name() -> None:
    path = TinkerPath.build("m", "sampler", "step-5")
    assert path.checkpoint_id == "sampler_weights/step-5"
    assert path.segment == "sampler_weights"


def test_training_run_id_matches_the_official_client_derivation() -> None:
    assert training_run_id("sess", 2) == "sess:train:2"
    with pytest.raises(UserInputError, match="model_seq_id"):
        training_run_id("sess", -1)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "..",
        "../etc",
        "a/b",
        "a\\b",
        "/abs",
        ".hidden",
        "a\x00b",
        "x" * 129,
        "a..b",
        "white space",
        7,
        None,
    ],
)
def test_unsafe_names_are_refused_with_the_field_named(value: object) -> None:
    with pytest.raises(UserInputError, match=r"^name: "):
        validate_name("name", value)
    with pytest.raises(UserInputError, match=r"^model_id: "):
        validate_identifier("model_id", value)


@pytest.mark.parametrize(
    "text",
    [
        "s3://bucket/weights/x",
        "tinker://m/weights",
        "tinker://m/weights/a/b",
        "tinker://../weights/x",
        "tinker://m/weights/..",
        "tinker://m/other_weights/x",
        "tinker://m/weights/%2e%2e",
        "tinker:///weights/x",
        "tinker://m/weights/" + "x" * 500,
        "tinker://m/weights/a\x00",
        None,
    ],
)
def test_traversal_and_malformed_paths_are_refused(text: object) -> None:
    with pytest.raises(UserInputError, match=r"^path: "):
        parse_tinker_path(text)


def test_build_refuses_an_unknown_kind() -> None:
    with pytest.raises(UserInputError, match=r"^kind: "):
        TinkerPath.build("m", "other", "x")  # type: ignore[arg-type]


def test_colons_are_allowed_in_identifiers_but_not_in_names() -> None:
    assert validate_identifier("model_id", "a:train:1") == "a:train:1"
    with pytest.raises(UserInputError):
        validate_name("name", "a:b")

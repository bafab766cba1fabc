"""Typed environment reads with errors that name the variable and never echo secrets."""

from __future__ import annotations

import pytest

from pristine.env import Env, EnvError


def test_get_returns_the_value_or_the_default() -> None:
    env = Env({"A": "x"})
    assert env.get("A") == "x"
    assert env.get("B") is None
    assert env.get("B", "fallback") == "fallback"


def test_blank_values_count_as_unset() -> None:
    env = Env({"A": "   ", "N": ""})
    assert env.get("A", "d") == "d"
    assert env.get_int("N", 3) == 3


def test_values_are_trimmed() -> None:
    assert Env({"A": "  x \n"}).get("A") == "x"


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISTINE_TEST_ENV_VALUE", "from-os")
    assert Env().get("PRISTINE_TEST_ENV_VALUE") == "from-os"


def test_get_int() -> None:
    env = Env({"N": " 42 ", "NEG": "-3"})
    assert env.get_int("N") == 42
    assert env.get_int("NEG") == -3
    assert env.get_int("MISSING") is None
    assert env.get_int("MISSING", 7) == 7


def test_get_int_error_names_variable_value_and_accepted_form() -> None:
    with pytest.raises(EnvError, match=r"POOL_SIZE='ten'.*integer") as info:
        Env({"POOL_SIZE": "ten"}).get_int("POOL_SIZE")
    assert isinstance(info.value, ValueError)
    assert info.value.name == "POOL_SIZE"


def test_get_float() -> None:
    env = Env({"F": "1.5", "E": "1e-3"})
    assert env.get_float("F") == 1.5
    assert env.get_float("E") == 0.001
    assert env.get_float("MISSING", 2.0) == 2.0


@pytest.mark.parametrize("bad", ["fast", "nan", "inf"])
def test_get_float_rejects_non_numbers(bad: str) -> None:
    with pytest.raises(EnvError, match="finite number"):
        Env({"F": bad}).get_float("F")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("OFF", False),
    ],
)
def test_get_bool_accepts_the_usual_spellings(raw: str, expected: bool) -> None:
    assert Env({"B": raw}).get_bool("B") is expected


def test_get_bool_default_and_error() -> None:
    env = Env({"B": "maybe"})
    assert env.get_bool("MISSING", True) is True
    assert env.get_bool("MISSING") is None
    with pytest.raises(EnvError, match=r"B='maybe'.*true/false/1/0/yes/no/on/off"):
        env.get_bool("B")


def test_get_list_splits_trims_and_drops_empties() -> None:
    env = Env({"TAGS": " a, b ,,c , "})
    assert env.get_list("TAGS") == ["a", "b", "c"]
    assert env.get_list("MISSING") == []
    assert env.get_list("MISSING", ["x"]) == ["x"]


def test_get_list_default_is_copied() -> None:
    default = ["x"]
    result = Env({}).get_list("MISSING", default)
    result.append("y")
    assert default == ["x"]


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("30", 30.0), ("1.5s", 1.5), ("250ms", 0.25), ("2m", 120.0), ("1h", 3600.0), (" 3 s", 3.0)],
)
def test_get_duration_accepts_units(raw: str, seconds: float) -> None:
    assert Env({"D": raw}).get_duration("D") == seconds


def test_get_duration_default_and_error() -> None:
    env = Env({"D": "soon"})
    assert env.get_duration("MISSING", 5.0) == 5.0
    with pytest.raises(EnvError, match=r"D='soon'.*250ms"):
        env.get_duration("D")


@pytest.mark.parametrize("name", ["TINKER_API_KEY", "HF_TOKEN", "CF_ACCESS_CLIENT_SECRET"])
def test_secrets_are_never_echoed_in_errors(name: str) -> None:
    with pytest.raises(EnvError) as info:
        Env({name: "tml-super-secret"}).get_int(name)
    assert "super-secret" not in str(info.value)
    assert name in str(info.value)
    assert info.value.value is None


def test_secret_detection_ignores_case() -> None:
    with pytest.raises(EnvError) as info:
        Env({"my_api_key": "hunter2"}).get_bool("my_api_key")
    assert "hunter2" not in str(info.value)

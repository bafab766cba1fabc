"""What the tinker-cookbook needs from the server, through the official client: stable
reinforce over recorded samples, model aliases, and the run metadata its resume checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

tinker = pytest.importorskip("tinker")

from server_testkit import TINY  # noqa: E402

from tinkex.local.__main__ import parse_args  # noqa: E402
from tinkex.local.config import DEFAULT_ALIASES, ServerConfig, parse_alias  # noqa: E402
from tinkex.local.server import LocalServer  # noqa: E402

types = tinker.types
ALIAS = "example-org/Alias-Instruct"
PROMPT = [1, 415, 565, 302, 843, 349]


@pytest.fixture
def service(open_server: LocalServer) -> Iterator[Any]:
    client = tinker.ServiceClient(base_url=open_server.base_url, api_key="tml-cookbook")
    yield client
    client.close("success")


@pytest.fixture
def aliased(tmp_path: Path) -> Iterator[LocalServer]:
    """A server that also serves the tiny model as ALIAS."""
    with LocalServer(ServerConfig(port=0, data_dir=tmp_path, model_aliases={ALIAS: TINY})) as srv:
        yield srv


def _rollout(training: Any, *, record: bool) -> tuple[Any, Any]:
    """One sampled sequence of the training client's current weights, and its sampler."""
    sampler = training.save_weights_and_get_sampling_client(record_stability_info=record).result()
    params = types.SamplingParams(max_tokens=4, seed=7, temperature=1.0, stop=[])
    response = sampler.sample(types.ModelInput.from_ints(PROMPT), 1, params).result()
    return response.sequences[0], sampler


def _rl_datum(sequence: Any, logprobs: list[float], *, target_shift: int = 0) -> Any:
    """The cookbook's RL datum (recipes/rl_loop.py layout) with provenance spans."""
    sampled = [token + target_shift for token in sequence.tokens]
    ob = len(PROMPT) - 1
    datum = types.Datum(
        model_input=types.ModelInput.from_ints(PROMPT + list(sequence.tokens[:-1])),
        loss_fn_inputs={
            "target_tokens": np.asarray([0] * ob + sampled, dtype=np.int64),
            "logprobs": np.asarray([0.0] * ob + logprobs, dtype=np.float32),
            "advantages": np.asarray([0.0] * ob + [1.0] * len(sampled), dtype=np.float32),
        },
    )
    sid = sequence.sequence_id
    return datum.with_provenance(
        model_input=[
            types.PromptProvenanceSpan(sequence_id=sid, length=len(PROMPT)),
            types.SampledProvenanceSpan(sequence_id=sid, length=len(sampled) - 1),
        ],
        loss_fn_inputs=[
            types.PromptProvenanceSpan(sequence_id=sid, offset=1, length=ob),
            types.SampledProvenanceSpan(sequence_id=sid, length=len(sampled)),
        ],
    )


def test_stable_reinforce_takes_the_behaviour_logprobs_from_the_servers_record(
    service: Any,
) -> None:
    training = service.create_lora_training_client(base_model=TINY, rank=4, seed=0).result()
    sequence, _ = _rollout(training, record=True)
    honest = _rl_datum(sequence, list(sequence.logprobs))
    garbage = _rl_datum(sequence, [-50.0] * len(sequence.tokens))

    recorded = training.forward([garbage], "stable_reinforce").result()
    trusted = training.forward([honest], "stable_reinforce").result()

    # Current weights = sampling weights, so every ratio is 1 and the loss is -sum(lp * A):
    # the client's -50s (ratio e^50, capped at 2) would double it had they been used.
    expected = -sum(sequence.logprobs)
    assert recorded.metrics["loss:sum"] == pytest.approx(expected, rel=1e-4)
    assert trusted.metrics["loss:sum"] == pytest.approx(expected, rel=1e-4)
    training.forward_backward([garbage], "stable_reinforce").result()
    step = training.optim_step(types.AdamParams(learning_rate=1e-3)).result()
    assert step.metrics["grad_norm:mean"] > 0


@pytest.mark.parametrize(
    ("record", "shift", "message"),
    [
        (False, 0, "no stability record on this server"),
        (True, 1, "are not the tokens sequence"),
    ],
)
def test_stable_reinforce_refuses_spans_it_cannot_vouch_for(
    service: Any, record: bool, shift: int, message: str
) -> None:
    training = service.create_lora_training_client(base_model=TINY, rank=4, seed=0).result()
    sequence, _ = _rollout(training, record=record)
    datum = _rl_datum(sequence, list(sequence.logprobs), target_shift=shift)

    with pytest.raises(tinker.RequestFailedError, match=message):
        training.forward([datum], "stable_reinforce").result()


def test_an_alias_is_served_under_the_name_the_client_used(aliased: LocalServer) -> None:
    rest = tinker.RestClient(base_url=aliased.base_url, api_key="tml-alias")
    service = tinker.ServiceClient(base_url=aliased.base_url, api_key="tml-alias")
    training = service.create_lora_training_client(
        base_model=ALIAS, rank=4, seed=0, user_metadata={"renderer_name": "qwen3_instruct"}
    ).result()
    info = training.get_info()
    assert info.model_data.model_name == ALIAS
    assert training.get_tokenizer().encode("hello")  # tokenizer_id loads offline
    state = training.save_state("aliased").result().path

    resumed = service.create_training_client_from_state_with_optimizer(state).result()

    assert resumed.get_info().model_data.model_name == ALIAS
    run = rest.get_training_run(training.model_id).result()
    assert run.base_model == ALIAS
    assert run.user_metadata == {"renderer_name": "qwen3_instruct"}
    service.close("success")


def test_an_unknown_base_model_names_the_alias_option(service: Any) -> None:
    with pytest.raises(tinker.BadRequestError, match="--model-alias"):
        service.create_lora_training_client(base_model="nobody/unknown", rank=4).result()


def test_alias_settings_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="model_aliases"):
        ServerConfig(model_aliases={"": TINY})
    assert parse_alias("org/name=/models/x=y") == ("org/name", "/models/x=y")
    config = parse_args(["--model-alias", f"{ALIAS}={TINY}"])
    assert config.model_aliases == {**DEFAULT_ALIASES, ALIAS: TINY}
    assert "Qwen/Qwen3-4B-Instruct-2507" in ServerConfig().model_aliases
    with pytest.raises(SystemExit):
        parse_args(["--model-alias", "no-equals-sign"])
    assert "expected NAME=PATH" in capsys.readouterr().err

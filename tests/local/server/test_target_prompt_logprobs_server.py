"""`target_prompt_logprobs` through the server: the official client and tinkex get the same
logprobs a direct forward pass gives, in the request's layout (dense or sparse CSR); bad
tensors are refused naming the field."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

tinker = pytest.importorskip("tinker")
torch = pytest.importorskip("torch")

from server_testkit import TINY, Api  # noqa: E402

from tinkex import types  # noqa: E402
from tinkex.clients.service import ServiceClient  # noqa: E402
from tinkex.local.engine import TINY_MODEL, load_base_model  # noqa: E402
from tinkex.local.server import LocalServer  # noqa: E402

PROMPT_IDS = [1, 415, 565, 302, 843, 349]
ROWS = len(PROMPT_IDS) - 1
PARAMS: dict[str, Any] = {"max_tokens": 1, "seed": 5, "temperature": 1.0}
FIELD = "target_prompt_logprobs"


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """Log-softmax of a direct forward pass over the prompt, `(len(prompt), vocab)`."""
    base = load_base_model(TINY_MODEL)
    with torch.no_grad():
        logits = base.model(input_ids=torch.tensor([PROMPT_IDS])).logits[0].float()
    result: np.ndarray = torch.log_softmax(logits, dim=-1).numpy()
    return result


def _targets() -> np.ndarray:
    """Column 0: the prompt's own next tokens; two more ids, -1 elsewhere (sparse enough
    that CSR is the smaller form)."""
    ids = np.full((ROWS, 6), -1, dtype=np.int64)
    ids[:, 0] = PROMPT_IDS[1:]
    ids[1, 1], ids[3, 1] = 7, 300
    return ids


def _expected(reference: np.ndarray, ids: np.ndarray) -> np.ndarray:
    picked = np.take_along_axis(reference[:-1], np.clip(ids, 0, None), axis=-1)
    return np.where(ids >= 0, picked, 0.0).astype(np.float32)


def test_the_official_client_gets_them_dense_and_sparse(
    open_server: LocalServer, reference: np.ndarray
) -> None:
    service = tinker.ServiceClient(base_url=open_server.base_url, api_key="tml-test")
    try:
        sampler = service.create_sampling_client(base_model=TINY).result()
        ids = _targets()
        dense_target = tinker.types.TensorData.from_torch(torch.from_numpy(ids))
        sparse_target = tinker.types.TensorData.from_torch_sparse(
            torch.from_numpy(ids), pad_value=-1
        )
        assert sparse_target.sparse_crow_indices is not None
        for target in (dense_target, sparse_target):
            result = sampler.sample(
                prompt=tinker.types.ModelInput.from_ints(PROMPT_IDS),
                num_samples=1,
                sampling_params=tinker.types.SamplingParams(**PARAMS),
                include_prompt_logprobs=True,
                target_prompt_logprobs=target,
            ).result()
            got = result.target_prompt_logprobs
            assert got.dtype == "float32"
            assert got.sparse_crow_indices == target.sparse_crow_indices
            dense = got.to_torch().numpy()
            np.testing.assert_allclose(dense, _expected(reference, ids), rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(dense[:, 0], result.prompt_logprobs[1:], atol=1e-6)
    finally:
        service.close("success")


def test_tinkex_gets_the_same_from_sample_and_sample_stream(
    open_server: LocalServer, reference: np.ndarray
) -> None:
    assert open_server.base_url is not None
    with ServiceClient(base_url=open_server.base_url, api_key="tml-test") as service:
        sampler = service.create_sampling_client(base_model=TINY).result(60)
        ids = _targets()
        target = types.TensorData.from_numpy_sparse(ids, pad_value=-1)
        assert target.is_sparse
        prompt = types.ModelInput.from_ints(PROMPT_IDS)
        params = types.SamplingParams(**PARAMS)
        sampled = sampler.sample(prompt, 1, params, target_prompt_logprobs=target).result(60)
        with sampler.sample_stream(prompt, 1, params, target_prompt_logprobs=target) as stream:
            for _ in stream:
                pass
    assert stream.response is not None
    got = sampled.target_prompt_logprobs
    assert got is not None
    assert got.sparse_crow_indices == target.sparse_crow_indices
    assert got.sparse_col_indices == target.sparse_col_indices
    np.testing.assert_allclose(got.to_numpy(), _expected(reference, ids), rtol=1e-4, atol=1e-4)
    assert stream.response.target_prompt_logprobs == got


def _body(target: dict[str, Any]) -> dict[str, Any]:
    return {
        "prompt": {"chunks": [{"type": "encoded_text", "tokens": PROMPT_IDS}]},
        "sampling_params": PARAMS,
        "base_model": TINY,
        "num_samples": 1,
        FIELD: target,
    }


@pytest.mark.parametrize(
    "target",
    [
        {"data": [0.0] * ROWS, "dtype": "float32", "shape": [ROWS, 1]},
        {"data": [0] * ROWS, "dtype": "int64", "shape": [ROWS]},
        {"data": [0] * (ROWS + 1), "dtype": "int64", "shape": [ROWS + 1, 1]},
        {"data": [-1] * ROWS, "dtype": "int64", "shape": [ROWS, 1]},
    ],
    ids=["float32", "1-D", "one-row-too-many", "no-id"],
)
@pytest.mark.parametrize("path", ["/asample", "/sample_stream"])
def test_a_wrong_dtype_or_shape_is_400_naming_the_field(
    api: Api, path: str, target: dict[str, Any]
) -> None:
    response = api.post(path, _body(target))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == FIELD
    assert response.json()["detail"].startswith(FIELD)


def test_an_id_outside_the_vocabulary_is_a_user_error_naming_the_field(api: Api) -> None:
    body = _body({"data": [10**9] * ROWS, "dtype": "int64", "shape": [ROWS, 1]})
    streamed = api.post("/sample_stream", body)
    assert streamed.status_code == 400
    assert FIELD in streamed.json()["detail"]

    failed = api.outcome(api.ok("/asample", body)["request_id"])
    assert failed["category"] == "user"
    assert FIELD in failed["error"]


def test_the_json_answer_keeps_the_sparse_layout(api: Api, reference: np.ndarray) -> None:
    ids = _targets()
    sparse = types.TensorData.from_numpy_sparse(ids, pad_value=-1)
    wire = {
        "data": sparse.data,
        "dtype": "int64",
        "shape": sparse.shape,
        "sparse_crow_indices": sparse.sparse_crow_indices,
        "sparse_col_indices": sparse.sparse_col_indices,
    }
    answer = api.result(api.ok("/asample", _body(wire))["request_id"])[FIELD]
    assert answer["dtype"] == "float32"
    assert answer["sparse_crow_indices"] == sparse.sparse_crow_indices
    assert answer["sparse_col_indices"] == sparse.sparse_col_indices
    got = types.TensorData(**answer).to_numpy()
    np.testing.assert_allclose(got, _expected(reference, ids), rtol=1e-4, atol=1e-4)

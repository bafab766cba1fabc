"""Raw-HTTP helpers for the server tests (imported by name: `from server_testkit import ...`)."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np

TINY = "tinkex/tiny-llama"
GOOD_KEY = "tml-good-key"
OTHER_KEY = "tml-other-key"
PROTOBUF = "application/x-protobuf"


class Api:
    """Raw JSON calls to a server, as a client other than the official one would make."""

    def __init__(self, base_url: str, key: str) -> None:
        self.http = httpx.Client(
            base_url=f"{base_url}/api/v1", headers={"X-API-Key": key}, timeout=60.0
        )

    def post(self, path: str, body: object = None, **kwargs: Any) -> httpx.Response:
        if body is not None:
            kwargs["json"] = body
        return self.http.post(path, **kwargs)

    def ok(self, path: str, body: object = None, **kwargs: Any) -> Any:
        response = self.post(path, body, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def session(self) -> str:
        body = {"tags": [], "user_metadata": {}, "sdk_version": "test", "type": "create_session"}
        session_id: str = self.ok("/create_session", body)["session_id"]
        return session_id

    def create_model(self, session_id: str, model_seq_id: int = 0, seed: int = 0) -> str:
        future = self.ok(
            "/create_model",
            {
                "session_id": session_id,
                "model_seq_id": model_seq_id,
                "base_model": TINY,
                "lora_config": {"rank": 4, "seed": seed},
            },
        )
        result = self.result(future["request_id"])
        model_id: str = result["model_id"]
        return model_id

    def outcome(self, request_id: str) -> Any:
        """The finished JSON answer of a future (polling through `try_again`)."""
        while True:
            answer = self.ok(
                "/retrieve_future", {"request_id": request_id, "allow_metadata_only": False}
            )
            if answer.get("type") != "try_again":
                return answer

    def result(self, request_id: str) -> Any:
        answer = self.outcome(request_id)
        assert "error" not in answer, answer
        return answer

    def close(self) -> None:
        self.http.close()


def datum_json(tokens: list[int], **extra: list[float]) -> dict[str, Any]:
    """A next-token JSON datum for `tokens` (targets are the tokens shifted by one)."""
    n = len(tokens) - 1
    inputs: dict[str, Any] = {
        "target_tokens": {"data": tokens[1:], "dtype": "int64", "shape": [n]},
        "weights": {"data": [1.0] * n, "dtype": "float32", "shape": [n]},
    }
    for key, values in extra.items():
        inputs[key] = {"data": values, "dtype": "float32", "shape": [n]}
    return {
        "model_input": {"chunks": [{"type": "encoded_text", "tokens": tokens[:-1]}]},
        "loss_fn_inputs": inputs,
    }


TOKENS = [int(t) for t in np.arange(10, 60, 3)]
"""A short token sequence inside the tiny model's vocabulary."""

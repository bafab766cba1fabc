"""Example wire values for every type, shared by the golden and property tests.

Each case is (type name, JSON-ready payload). Both ``tinkex.types`` and the official
``tinker.types`` build the value from the same payload, so the encodings must agree. Tests
receive them through the ``wire_case`` parameter or the ``wire_cases`` fixture.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image").decode()
DMEL = base64.b64encode(bytes([1, 2, 7, 3]) + b"payload").decode()  # int dtype, shape (7, 3)
WHEN = "2026-05-01T12:30:00Z"
LATER = "2026-05-02T08:00:00.250000Z"

TOKENS = {"tokens": [1, 2, 3], "type": "encoded_text"}
TENSOR_1D_INT = {"data": [5, 6, 7], "dtype": "int64", "shape": [3]}
TENSOR_1D_FLOAT = {"data": [0.5, 1.0, 0.0], "dtype": "float32", "shape": [3]}
TENSOR_2D = {"data": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "dtype": "float32", "shape": [2, 3]}
TENSOR_EMPTY = {"data": [], "dtype": "float32", "shape": [0]}
TENSOR_NO_SHAPE = {"data": [1, 2], "dtype": "int64"}
TENSOR_SPARSE = {
    "data": [9, 8],
    "dtype": "int64",
    "shape": [3, 4],
    "sparse_crow_indices": [0, 1, 1, 2],
    "sparse_col_indices": [2, 0],
}
MODEL_INPUT = {"chunks": [TOKENS]}
ALL_CHUNKS: dict[str, Any] = {
    "chunks": [
        TOKENS,
        {"format": "png", "location": "s3://bucket/a.png", "type": "image_asset_pointer"},
        {
            "format": "jpeg",
            "location": "https://x/y.jpg",
            "expected_tokens": 4,
            "type": "image_asset_pointer",
        },
        {"data": PNG, "format": "png", "type": "image"},
        {"data": PNG, "format": "jpeg", "expected_tokens": 12, "type": "image"},
        {"dmel": DMEL, "type": "dmel"},
    ]
}
DATUM = {
    "loss_fn_inputs": {"target_tokens": TENSOR_1D_INT, "weights": TENSOR_1D_FLOAT},
    "model_input": MODEL_INPUT,
}
CHECKPOINT = {
    "checkpoint_id": "weights/step-1",
    "checkpoint_type": "training",
    "time": WHEN,
    "tinker_path": "tinker://run-1/weights/step-1",
}
CHECKPOINT_FULL = {
    **CHECKPOINT,
    "checkpoint_type": "sampler",
    "size_bytes": 1234,
    "public": True,
    "user_metadata": {"k": "v"},
    "expires_at": LATER,
}
CURSOR = {"offset": 0, "limit": 20, "total_count": 1}
EVENT = {"event_id": "e1", "event_session_index": 0, "severity": "INFO", "timestamp": WHEN}
OPTIM_DIMUON = {"type": "dimuon", "version": 1}

LOSS_TYPES = [
    "cross_entropy",
    "importance_sampling",
    "ppo",
    "cispo",
    "dro",
    "gspo",
    "stable_reinforce",
    "custom",
]

CASES: list[tuple[str, dict[str, Any]]] = [
    ("EncodedTextChunk", TOKENS),
    ("EncodedTextChunk", {"tokens": []}),
    ("ImageChunk", ALL_CHUNKS["chunks"][3]),
    ("ImageChunk", ALL_CHUNKS["chunks"][4]),
    ("ImageAssetPointerChunk", ALL_CHUNKS["chunks"][1]),
    ("ImageAssetPointerChunk", ALL_CHUNKS["chunks"][2]),
    ("DmelChunk", ALL_CHUNKS["chunks"][5]),
    ("ModelInput", MODEL_INPUT),
    ("ModelInput", {"chunks": []}),
    ("ModelInput", ALL_CHUNKS),
    ("TensorData", TENSOR_1D_INT),
    ("TensorData", TENSOR_1D_FLOAT),
    ("TensorData", TENSOR_2D),
    ("TensorData", TENSOR_EMPTY),
    ("TensorData", TENSOR_NO_SHAPE),
    ("TensorData", TENSOR_SPARSE),
    ("Datum", DATUM),
    ("Datum", {"loss_fn_inputs": {}, "model_input": ALL_CHUNKS}),
    (
        "Datum",
        {
            "loss_fn_inputs": {
                "target_tokens": TENSOR_SPARSE,
                "weights": TENSOR_2D,
                "advantages": TENSOR_EMPTY,
            },
            "model_input": MODEL_INPUT,
        },
    ),
    *[("ForwardBackwardInput", {"data": [DATUM], "loss_fn": loss}) for loss in LOSS_TYPES],
    (
        "ForwardBackwardInput",
        {"data": [], "loss_fn": "ppo", "loss_fn_config": {"clip_low_threshold": 0.8, "name": "x"}},
    ),
    ("LoraConfig", {"rank": 8}),
    (
        "LoraConfig",
        {"rank": 32, "seed": 3, "train_unembed": False, "train_mlp": False, "train_attn": False},
    ),
    ("AdamParams", {}),
    (
        "AdamParams",
        {
            "learning_rate": 0.002,
            "beta1": 0.8,
            "beta2": 0.99,
            "eps": 1e-10,
            "weight_decay": 0.1,
            "grad_clip_norm": 1.0,
        },
    ),
    ("DimuonParams", {"learning_rate": 0.02}),
    ("DimuonParams", {"learning_rate": 0.02, "grad_clip_norm": 1.5, "beta1": 0.5}),
    ("AdamOptimizerConfig", {}),
    ("DimuonOptimizerConfig", {}),
    ("OptimStepRequest", {"adam_params": {"learning_rate": 0.001}, "model_id": "m"}),
    ("OptimStepRequest", {"optim_params": {}, "model_id": "m", "seq_id": 4}),
    (
        "OptimStepRequest",
        {
            "optimizer_params": {"type": "dimuon", "learning_rate": 0.1},
            "model_id": "m",
            "seq_id": 2,
        },
    ),
    ("OptimStepResponse", {}),
    ("OptimStepResponse", {"metrics": {"grad_norm": 1.5}}),
    ("SamplingParams", {}),
    (
        "SamplingParams",
        {
            "max_tokens": 16,
            "seed": 1,
            "stop": ["\n"],
            "temperature": 0.7,
            "top_k": 50,
            "top_p": 0.9,
        },
    ),
    ("SamplingParams", {"stop": "END"}),
    ("SamplingParams", {"stop": [1, 2]}),
    ("SamplingParams", {"stop": []}),
    ("SampleRequest", {"prompt": MODEL_INPUT, "sampling_params": {}}),
    (
        "SampleRequest",
        {
            "num_samples": 4,
            "prompt": ALL_CHUNKS,
            "sampling_params": {"max_tokens": 8},
            "base_model": "Qwen/Qwen3-8B",
            "model_path": "tinker://r/sampler_weights/s",
            "sampling_session_id": "ss",
            "seq_id": 3,
            "prompt_logprobs": True,
            "topk_prompt_logprobs": 5,
            "topk_sample_logprobs": 2,
            "target_prompt_logprobs": TENSOR_SPARSE,
            "prompt_alt_tokens_k": 2,
            "prompt_logprobs_last_n": 1,
            "record_stability_info": True,
        },
    ),
    ("CreateModelRequest", {"session_id": "s", "model_seq_id": 0, "base_model": "b"}),
    (
        "CreateModelRequest",
        {
            "session_id": "s",
            "model_seq_id": 1,
            "base_model": "b",
            "user_metadata": {"a": 1},
            "lora_config": {"rank": 4},
            "optimizer_config": OPTIM_DIMUON,
        },
    ),
    ("CreateModelResponse", {"model_id": "m"}),
    ("GetInfoRequest", {"model_id": "m"}),
    ("GetInfoResponse", {"model_data": {}, "model_id": "m"}),
    (
        "GetInfoResponse",
        {
            "type": "get_info",
            "model_data": {"arch": "qwen", "model_name": "q", "tokenizer_id": "t"},
            "model_id": "m",
            "optimizer_config": OPTIM_DIMUON,
            "is_lora": True,
            "lora_rank": 8,
            "model_name": "q",
        },
    ),
    ("ModelData", {"arch": "llama"}),
    ("UnloadModelRequest", {"model_id": "m"}),
    ("UnloadModelResponse", {"model_id": "m", "type": "unload_model"}),
    ("SaveWeightsRequest", {"model_id": "m"}),
    (
        "SaveWeightsRequest",
        {
            "model_id": "m",
            "path": "p",
            "seq_id": 1,
            "ttl_seconds": 3600,
            "overwrite": True,
            "user_metadata": {"k": "v"},
        },
    ),
    ("SaveWeightsResponse", {"path": "tinker://r/weights/p", "type": "save_weights"}),
    ("SaveWeightsForSamplerRequest", {"model_id": "m"}),
    (
        "SaveWeightsForSamplerRequest",
        {
            "model_id": "m",
            "path": "p",
            "sampling_session_seq_id": 1,
            "kind": "inflight",
            "seq_id": 2,
            "ttl_seconds": 7200,
            "user_metadata": {},
        },
    ),
    ("SaveWeightsForSamplerResponse", {"path": "tinker://r/sampler_weights/p"}),
    ("SaveWeightsForSamplerResponseInternal", {"sampling_session_id": "ss"}),
    ("SaveWeightsExternalRequest", {"model_id": "m", "path": "hf"}),
    (
        "SaveWeightsExternalRequest",
        {
            "model_id": "m",
            "path": "hf",
            "seq_id": 1,
            "ttl_seconds": 3600,
            "age_encryption_recipients": ["age1x"],
        },
    ),
    ("SaveWeightsExternalResponse", {"path": "tinker://r/external_weights/hf"}),
    ("SaveWeightsExternalResponseInternal", {"path": "p", "size_bytes": 10}),
    ("LoadWeightsRequest", {"path": "tinker://r/weights/p", "optimizer": False}),
    (
        "LoadWeightsRequest",
        {
            "model_id": "m",
            "seq_id": 1,
            "session_id": "s",
            "model_seq_id": 2,
            "base_model": "b",
            "user_metadata": {"x": [1]},
            "path": "tinker://r/weights/p",
            "optimizer": True,
            "optimizer_config": {},
            "weights_access_token": "tok",
        },
    ),
    ("LoadWeightsResponse", {"path": "p", "model_id": "m", "type": "load_weights"}),
    ("CopyWeightsRequest", {"source_path": "tinker://r/weights/p"}),
    (
        "CopyWeightsRequest",
        {
            "session_id": "s",
            "model_seq_id": 1,
            "destination_project_id": "d",
            "source_path": "tinker://r/weights/p",
            "ttl_seconds": 3600,
            "weights_access_token": "t",
        },
    ),
    ("CopyWeightsResponse", {"tinker_path": "tinker://r2/weights/p"}),
    ("WeightsInfoResponse", {"base_model": "b", "is_lora": False}),
    (
        "WeightsInfoResponse",
        {
            "base_model": "b",
            "optimizer_config": OPTIM_DIMUON,
            "is_lora": True,
            "lora_rank": 8,
            "train_unembed": True,
            "train_mlp": False,
            "train_attn": True,
        },
    ),
    ("ExternalWeightsUrlsResponse", {"urls": {"model.safetensors": "https://u"}, "expires": WHEN}),
    ("Checkpoint", CHECKPOINT),
    ("Checkpoint", CHECKPOINT_FULL),
    (
        "ParsedCheckpointTinkerPath",
        {
            "tinker_path": "tinker://r/weights/p",
            "training_run_id": "r",
            "checkpoint_type": "training",
            "checkpoint_id": "weights/p",
        },
    ),
    ("CheckpointsListResponse", {"checkpoints": [CHECKPOINT, CHECKPOINT_FULL]}),
    ("CheckpointsListResponse", {"checkpoints": [], "cursor": CURSOR}),
    ("Cursor", CURSOR),
    (
        "TrainingRun",
        {
            "training_run_id": "r",
            "base_model": "b",
            "model_owner": "o",
            "is_lora": True,
            "last_request_time": WHEN,
        },
    ),
    (
        "TrainingRun",
        {
            "training_run_id": "r",
            "base_model": "b",
            "model_owner": "o",
            "is_lora": True,
            "corrupted": True,
            "lora_rank": 4,
            "last_request_time": LATER,
            "last_checkpoint": CHECKPOINT,
            "last_sampler_checkpoint": CHECKPOINT_FULL,
            "user_metadata": {"a": "b"},
        },
    ),
    ("TrainingRunsResponse", {"training_runs": [], "cursor": CURSOR}),
    ("GetSamplerResponse", {"sampler_id": "s", "base_model": "b"}),
    ("GetSamplerResponse", {"sampler_id": "s", "base_model": "b", "model_path": "tinker://p"}),
    ("CreateSamplingSessionRequest", {"session_id": "s", "sampling_session_seq_id": 0}),
    (
        "CreateSamplingSessionRequest",
        {
            "session_id": "s",
            "sampling_session_seq_id": 1,
            "base_model": "b",
            "model_path": "tinker://p",
        },
    ),
    ("CreateSamplingSessionResponse", {"sampling_session_id": "ss"}),
    ("JoinSamplingSessionRequest", {"sampling_session_id": "ss"}),
    ("JoinSamplingSessionResponse", {"client_counter": 3}),
    ("UntypedAPIFuture", {"request_id": "r"}),
    ("UntypedAPIFuture", {"request_id": "r", "model_id": "m", "sample_sequence_ids": ["a"]}),
    ("RequestFailedResponse", {"error": "boom", "category": "user"}),
    ("RequestFailedResponse", {"error": "boom", "category": "server"}),
    ("RequestFailedResponse", {"error": "boom", "category": "unknown"}),
    ("FutureRetrieveRequest", {"request_id": "r"}),
    ("FutureRetrieveRequest", {"request_id": "r", "allow_metadata_only": True}),
    ("SamplingSessionFuturesTarget", {"sampling_session_id": "ss"}),
    ("FuturesRetrieveRequest", {"target": {"sampling_session_id": "ss"}}),
    (
        "FuturesRetrieveRequest",
        {
            "target": {"sampling_session_id": "ss", "cloned_sampler_id": 2},
            "prev_cursor": 5,
            "timeout": 30.0,
            "retrieved_request_ids": ["a", "b"],
        },
    ),
    ("FuturesRetrieveResponse", {"completions": [], "cursor": 0}),
    (
        "FuturesRetrieveResponse",
        {
            "completions": [
                {"state": "finished", "request_id": "a", "response_payload_uncompressed_size": 10},
                {"state": "finished", "request_id": "c"},
                {"state": "failed", "request_id": "b"},
            ],
            "cursor": 7,
        },
    ),
    ("FutureFinished", {"request_id": "a"}),
    ("FutureFailed", {"request_id": "a"}),
    ("CreateSessionRequest", {"tags": [], "user_metadata": None, "sdk_version": "0.38.0"}),
    (
        "CreateSessionRequest",
        {
            "tags": ["a"],
            "user_metadata": {"k": 1},
            "sdk_version": "1",
            "project_id": "p",
            "display_name": "n",
        },
    ),
    ("CreateSessionResponse", {"session_id": "s"}),
    (
        "CreateSessionResponse",
        {"session_id": "s", "info_message": "i", "warning_message": "w", "error_message": "e"},
    ),
    ("SessionHeartbeatRequest", {"session_id": "s"}),
    ("SessionHeartbeatResponse", {}),
    ("GetSessionResponse", {"training_run_ids": ["m"], "sampler_ids": []}),
    (
        "GetSessionResponse",
        {
            "training_run_ids": [],
            "sampler_ids": ["s"],
            "user_metadata": {"a": "b"},
            "display_name": "d",
        },
    ),
    ("ListSessionsResponse", {"sessions": ["a", "b"]}),
    ("SessionSearchRequest", {}),
    (
        "SessionSearchRequest",
        {
            "session_id": "s",
            "project_ids": ["p"],
            "user_metadata": {"k": "v"},
            "display_name": "run",
            "owner": {"type": "user", "owner_urns": ["urn:u"]},
            "statuses": [
                {"type": "active"},
                {"type": "cancelled"},
                {"type": "failed"},
                {"type": "client_finished", "reasons": ["success", "errored"]},
                {"type": "client_finished"},
            ],
            "limit": 10,
            "cursor": {"last_created_at": WHEN, "last_session_id": "s0"},
        },
    ),
    ("SessionSearchRequest", {"owner": {"type": "accessible"}}),
    ("SessionSearchResponse", {"sessions": []}),
    (
        "SessionSearchResponse",
        {
            "sessions": [
                {
                    "session_id": "a",
                    "created_at": WHEN,
                    "owner": "o",
                    "project_id": "p",
                    "checkpoints_count": 0,
                },
                {
                    "session_id": "b",
                    "created_at": LATER,
                    "owner": "o",
                    "project_id": "p",
                    "status": {
                        "type": "failed",
                        "category": "user",
                        "message": "m",
                        "reason": {"type": "request", "request_id": "r", "request_type": "sample"},
                    },
                    "checkpoints_count": 2,
                    "display_name": "d",
                    "user_metadata": {"a": "b"},
                    "checkpoint_storage_bytes": 100,
                },
                {
                    "session_id": "c",
                    "created_at": WHEN,
                    "owner": "o",
                    "project_id": "p",
                    "status": {
                        "type": "client_finished",
                        "reason": {"type": "interrupted"},
                        "detail": "ctrl-c",
                    },
                    "checkpoints_count": 0,
                },
                {
                    "session_id": "d",
                    "created_at": WHEN,
                    "owner": "o",
                    "project_id": "p",
                    "status": {"type": "cancelled", "detail": "x"},
                    "checkpoints_count": 0,
                },
                {
                    "session_id": "e",
                    "created_at": WHEN,
                    "owner": "o",
                    "project_id": "p",
                    "status": {"type": "active"},
                    "checkpoints_count": 0,
                },
            ],
            "next_cursor": {"last_created_at": WHEN, "last_session_id": "e"},
        },
    ),
    (
        "SessionFailed",
        {
            "category": "internal",
            "message": "m",
            "reason": {"type": "training_run", "training_run_id": "r"},
        },
    ),
    (
        "SessionFailed",
        {
            "category": "user",
            "message": "m",
            "reason": {"type": "sampling_session", "sampling_session_id": "s"},
        },
    ),
    ("ClientSessionFinished", {"reason": {"type": "success"}}),
    ("ClientSessionFinished", {"reason": {"type": "errored"}, "detail": "d"}),
    ("GenericEvent", {**EVENT, "event": "GENERIC_EVENT", "event_name": "n"}),
    (
        "GenericEvent",
        {
            **EVENT,
            "event": "GENERIC_EVENT",
            "event_name": "n",
            "event_data": {"a": [1, {"b": None}]},
        },
    ),
    ("SessionStartEvent", {**EVENT, "event": "SESSION_START"}),
    ("SessionEndEvent", {**EVENT, "event": "SESSION_END", "duration": "PT1M"}),
    (
        "UnhandledExceptionEvent",
        {**EVENT, "event": "UNHANDLED_EXCEPTION", "error_message": "m", "error_type": "ValueError"},
    ),
    (
        "UnhandledExceptionEvent",
        {
            **EVENT,
            "event": "UNHANDLED_EXCEPTION",
            "error_message": "m",
            "error_type": "E",
            "traceback": "tb",
            "severity": "ERROR",
        },
    ),
    (
        "TelemetrySendRequest",
        {
            "events": [
                {**EVENT, "event": "SESSION_START"},
                {**EVENT, "event": "SESSION_END", "duration": "PT2S", "severity": "DEBUG"},
                {
                    **EVENT,
                    "event": "UNHANDLED_EXCEPTION",
                    "error_message": "m",
                    "error_type": "E",
                    "severity": "CRITICAL",
                },
                {**EVENT, "event": "GENERIC_EVENT", "event_name": "n", "severity": "WARNING"},
            ],
            "platform": "linux",
            "sdk_version": "1",
            "session_id": "s",
            "process_uuid": "u",
        },
    ),
    (
        "TelemetryBatch",
        {
            "events": [],
            "platform": "linux",
            "sdk_version": "1",
            "session_id": "s",
            "process_uuid": "u",
        },
    ),
    ("TelemetryResponse", {"status": "accepted"}),
    ("ClientConfigRequest", {"sdk_version": "0.38.0"}),
    ("ClientConfigResponse", {}),
    (
        "ClientConfigResponse",
        {
            "pjwt_auth_enabled": True,
            "proto_compress_fwdbwd": True,
            "fwdbwd_max_chunk_len": 8,
            "sample_join_sampling_session": True,
        },
    ),
    ("ClientDynamicConfigResponse", {}),
    (
        "ClientDynamicConfigResponse",
        {
            "refresh_interval_sec": 5,
            "sample_cancel_enabled": True,
            "sample_cancel_max_batch_size": 2,
        },
    ),
    ("GetServerCapabilitiesResponse", {"supported_models": []}),
    (
        "GetServerCapabilitiesResponse",
        {
            "supported_models": [
                {
                    "model_name": "m",
                    "max_context_length": 4096,
                    "trainable": True,
                    "sampleable": False,
                },
                {},
            ]
        },
    ),
    ("SupportedModel", {"model_name": "m"}),
    ("HealthResponse", {"status": "ok"}),
    ("AuthTokenResponse", {"jwt": "a.b.c"}),
    ("WhoamiResponse", {"user_urn": "u", "org_urn": "o"}),
    ("WhoamiResponse", {"user_urn": "u", "org_urn": "o", "email": "a@b.c"}),
    ("GetBillingUsageRequest", {"starting_on": WHEN, "ending_before": LATER}),
    ("BillingUsageResponse", {"data": []}),
    (
        "BillingUsageResponse",
        {
            "data": [
                {
                    "bucket_start": WHEN,
                    "bucket_end": LATER,
                    "event_info": {"token_count": 5, "type": "training"},
                },
                {
                    "bucket_start": WHEN,
                    "bucket_end": LATER,
                    "base_model": "b",
                    "user_id": "u",
                    "user_name": "n",
                    "session_id": "s",
                    "project_id": "p",
                    "estimated_cost_usd": 1.25,
                    "effective_rate_usd_per_million_tokens": 0.5,
                    "event_info": {"type": "sampling_prefill", "cached": True, "token_count": 3},
                },
                {
                    "bucket_start": WHEN,
                    "bucket_end": LATER,
                    "event_info": {"type": "sampling_sample", "token_count": 2},
                },
                {
                    "bucket_start": WHEN,
                    "bucket_end": LATER,
                    "event_info": {"type": "checkpoint", "count": 1},
                },
                {
                    "bucket_start": WHEN,
                    "bucket_end": LATER,
                    "effective_rate_usd_per_gigabyte_month": 0.1,
                    "event_info": {"type": "storage", "free": True, "gigabyte_hours": 2.5},
                },
            ],
            "sessions": {"s": {"user_metadata": {"a": "b"}}, "t": {}},
            "cost_data_through": WHEN,
        },
    ),
    (
        "BillingUsageEvent",
        {
            "bucket_start": WHEN,
            "bucket_end": LATER,
            "event_info": {"type": "storage", "gigabyte_hours": 1.5},
        },
    ),
    ("BillingUsageSession", {}),
    ("TrainingBillingEvent", {"token_count": 1}),
    ("SamplingPrefillBillingEvent", {"cached": False, "token_count": 1}),
    ("SamplingSampleBillingEvent", {"token_count": 1}),
    ("CheckpointBillingEvent", {"count": 1}),
    ("StorageBillingEvent", {"gigabyte_hours": 0.5}),
    ("GetCurrentCheckpointStorageUsageRequest", {}),
    ("GetCurrentCheckpointStorageUsageRequest", {"project_id": "p"}),
    ("CurrentCheckpointStorageUsageResponse", {"data": []}),
    (
        "CurrentCheckpointStorageUsageResponse",
        {
            "effective_rate_usd_per_gigabyte_month": 0.02,
            "data": [
                {"checkpoint_count": 1, "size_bytes": 10, "size_gigabytes": 0.0015},
                {
                    "project_id": "p",
                    "org_user_urn": "u",
                    "user_email": "e",
                    "user_name": "n",
                    "checkpoint_count": 2,
                    "size_bytes": 20,
                    "size_gigabytes": 2.5,
                    "estimated_monthly_cost_usd": 0.05,
                },
            ],
        },
    ),
    ("AuditLogResponse", {"entries": []}),
    (
        "AuditLogResponse",
        {
            "entries": [
                {"timestamp": WHEN, "event": "checkpoint_read"},
                {
                    "timestamp": LATER,
                    "event": "checkpoint_read",
                    "event_details": {"who": "me"},
                    "model_id": "m",
                    "tinker_path": "tinker://r/weights/p",
                    "purpose": "p",
                },
            ]
        },
    ),
    ("CustomLossInput", {"name": "logprobs", "rank": 1}),
    ("CustomLossNode", {"op": "placeholder", "name": "x", "target": "logprobs"}),
    (
        "CreateCustomLossRequest",
        {
            "session_id": "s",
            "custom_loss_seq_id": 1,
            "name": "my_loss",
            "inputs": [
                {"name": "logprobs", "rank": 1},
                {"name": "weights", "rank": 2},
                {"name": "scale", "rank": 0},
            ],
            "graph": {
                "nodes": [
                    {"op": "placeholder", "name": "logprobs", "target": "logprobs"},
                    {
                        "op": "call_function",
                        "name": "neg",
                        "target": "operator.neg",
                        "args": [{"ref": "logprobs"}],
                        "kwargs": {"dim": {"tuple": [0]}},
                    },
                    {
                        "op": "output",
                        "name": "output",
                        "target": "output",
                        "args": [{"ref": "neg"}],
                    },
                ]
            },
        },
    ),
    ("CreateCustomLossResponse", {"loss_id": "l"}),
]
"""Every type appears at least once; optional fields both set and unset."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise every test taking ``wire_case`` over the whole table."""
    if "wire_case" in metafunc.fixturenames:
        ids = [f"{name}-{index}" for index, (name, _) in enumerate(CASES)]
        metafunc.parametrize("wire_case", CASES, ids=ids)


@pytest.fixture(scope="session")
def wire_cases() -> list[tuple[str, dict[str, Any]]]:
    """The whole table, for property tests that draw from it."""
    return CASES

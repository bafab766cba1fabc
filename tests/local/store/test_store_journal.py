from __future__ import annotations

from pathlib import Path

from tinkex.local.store import Store
from tinkex.local.store.journal import DEFAULT_INLINE_LIMIT


def test_small_results_are_inline_and_large_ones_are_files(store: Store, data_dir: Path) -> None:
    big = b"x" * (DEFAULT_INLINE_LIMIT + 1)
    for request_id, payload in (("small", b"tiny"), ("big", big)):
        store.futures.record_submitted(request_id, model_id="m", kind="forward", created_at=1.0)
        store.futures.record_complete(
            request_id, finished_at=2.0, content_type="application/x-protobuf", result=payload
        )
    small = store.futures.get("small")
    large = store.futures.get("big")
    assert small is not None
    assert large is not None
    assert small.result == b"tiny"
    assert large.result == big
    assert (data_dir / "results" / "big").read_bytes() == big
    assert (large.content_type, large.kind, large.model_id) == (
        "application/x-protobuf",
        "forward",
        "m",
    )

    store.futures.forget(["small", "big"])
    assert store.futures.get("small") is None
    assert not (data_dir / "results" / "big").exists()


def test_a_missing_result_file_reads_as_no_result(store: Store, data_dir: Path) -> None:
    store.futures.record_submitted("r", model_id=None, kind="sample", created_at=1.0)
    store.futures.record_complete(
        "r",
        finished_at=2.0,
        content_type="application/json",
        result=b"y" * (DEFAULT_INLINE_LIMIT + 5),
    )
    (data_dir / "results" / "r").unlink()
    record = store.futures.get("r")
    assert record is not None
    assert record.result is None


def test_failures_keep_message_and_category(store: Store) -> None:
    store.futures.record_submitted("f", model_id="m", kind="optim_step", created_at=1.0)
    store.futures.record_failed("f", finished_at=3.0, error="bad lr", category="user")
    record = store.futures.get("f")
    assert record is not None
    assert (record.state, record.error, record.error_category, record.finished_at) == (
        "failed",
        "bad lr",
        "user",
        3.0,
    )
    assert store.futures.fail_interrupted(4.0) == 0

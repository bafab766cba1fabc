"""The fault proxy, observed the way a plain httpx client sees each fault."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tinkex.testing import (
    FaultKind,
    FaultOptions,
    FaultPlanner,
    FaultProxy,
    FaultRates,
    FaultRecord,
    ScriptedFault,
)
from tinkex.testing.fault_proxy import build_proxy, main

RESET_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError)


@pytest.fixture
def proxy(httpserver: HTTPServer) -> Iterator[FaultProxy]:
    with FaultProxy(httpserver.url_for("/")) as running:
        yield running


def echo(request: Request) -> Response:
    return Response(f"{request.method} {len(request.get_data())}", status=200)


def hits(httpserver: HTTPServer) -> int:
    return len(httpserver.log)


def test_passes_requests_through_with_keep_alive_and_large_bodies(
    httpserver: HTTPServer, proxy: FaultProxy
) -> None:
    httpserver.expect_request("/echo").respond_with_handler(echo)
    body = b"x" * (5 * 1024 * 1024)
    with httpx.Client(base_url=proxy.base_url, timeout=10) as client:
        first = client.post("/echo?q=1", content=body)
        second = client.get("/echo")
    assert (first.status_code, first.text) == (200, f"POST {len(body)}")
    assert second.text == "GET 0"
    assert proxy.log == [
        FaultRecord("POST", "/echo", FaultKind.NONE, 200),
        FaultRecord("GET", "/echo", FaultKind.NONE, 200),
    ]


def test_chunked_request_body_is_forwarded(httpserver: HTTPServer, proxy: FaultProxy) -> None:
    httpserver.expect_request("/echo").respond_with_handler(echo)
    parts = [b"a" * 1000, b"b" * 2000]
    response = httpx.post(f"{proxy.base_url}/echo", content=iter(parts), timeout=10)
    assert response.text == "POST 3000"


def test_streams_sse_through_before_upstream_finishes(
    httpserver: HTTPServer, proxy: FaultProxy
) -> None:
    second_allowed = threading.Event()

    def events() -> Iterator[bytes]:
        yield b"data: one\n\n"
        second_allowed.wait(10)
        yield b"data: two\n\n"

    httpserver.expect_request("/sse").respond_with_response(
        Response(events(), mimetype="text/event-stream")
    )
    with httpx.stream("GET", f"{proxy.base_url}/sse", timeout=10) as response:
        lines = response.iter_lines()
        assert next(lines) == "data: one"
        second_allowed.set()
        rest = [line for line in lines if line]
    assert response.headers["content-type"].startswith("text/event-stream")
    assert rest == ["data: two"]


@pytest.mark.parametrize("status", [500, 503])
def test_injected_server_error_uses_configured_status(httpserver: HTTPServer, status: int) -> None:
    options = FaultOptions(server_error_status=status)
    with FaultProxy(httpserver.url_for("/"), options=options) as proxy:
        proxy.script([FaultKind.SERVER_ERROR])
        response = httpx.get(f"{proxy.base_url}/x", timeout=10)
    assert response.status_code == status
    assert hits(httpserver) == 0
    assert proxy.log == [FaultRecord("GET", "/x", FaultKind.SERVER_ERROR, None)]


@pytest.mark.parametrize(
    ("retry_after_ms", "header", "value"),
    [(False, "retry-after", "2.5"), (True, "retry-after-ms", "2500")],
)
def test_rate_limit_carries_retry_after(
    httpserver: HTTPServer, retry_after_ms: bool, header: str, value: str
) -> None:
    options = FaultOptions(retry_after=2.5, retry_after_ms=retry_after_ms)
    with FaultProxy(httpserver.url_for("/"), options=options) as proxy:
        proxy.script([FaultKind.RATE_LIMIT])
        response = httpx.get(f"{proxy.base_url}/x", timeout=10)
    assert response.status_code == 429
    assert response.headers[header] == value


def test_request_timeout_then_next_request_passes(
    httpserver: HTTPServer, proxy: FaultProxy
) -> None:
    httpserver.expect_request("/x").respond_with_data("ok")
    proxy.script([FaultKind.REQUEST_TIMEOUT])
    with httpx.Client(base_url=proxy.base_url, timeout=10) as client:
        assert client.get("/x").status_code == 408
        assert client.get("/x").text == "ok"
    assert hits(httpserver) == 1


def test_reset_before_never_reaches_upstream(httpserver: HTTPServer, proxy: FaultProxy) -> None:
    httpserver.expect_request("/x").respond_with_data("ok")
    proxy.script([FaultKind.RESET_BEFORE])
    with pytest.raises(RESET_ERRORS):
        httpx.post(f"{proxy.base_url}/x", content=b"step", timeout=10)
    assert hits(httpserver) == 0
    assert proxy.counts[FaultKind.RESET_BEFORE] == 1


def test_reset_after_reaches_upstream_exactly_once(
    httpserver: HTTPServer, proxy: FaultProxy
) -> None:
    httpserver.expect_request("/step").respond_with_data("applied")
    proxy.script([FaultKind.RESET_AFTER])
    with pytest.raises(RESET_ERRORS):
        httpx.post(f"{proxy.base_url}/step", content=b"step", timeout=10)
    assert hits(httpserver) == 1
    assert proxy.log == [FaultRecord("POST", "/step", FaultKind.RESET_AFTER, 200)]


def test_truncated_body_is_a_protocol_error(httpserver: HTTPServer, proxy: FaultProxy) -> None:
    httpserver.expect_request("/x").respond_with_data("0123456789")
    proxy.script([FaultKind.TRUNCATE])
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{proxy.base_url}/x", timeout=10)
    assert hits(httpserver) == 1


def test_slow_response_times_out_the_client_then_releases(
    httpserver: HTTPServer, proxy: FaultProxy
) -> None:
    httpserver.expect_request("/x").respond_with_data("ok")
    proxy.script([FaultKind.SLOW, FaultKind.SLOW])
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{proxy.base_url}/x", timeout=0.2)
    proxy.release_slow()
    response = httpx.get(f"{proxy.base_url}/x", timeout=10)
    assert response.text == "ok"
    assert proxy.counts[FaultKind.SLOW] == 2


def test_script_respects_path_filter(httpserver: HTTPServer, proxy: FaultProxy) -> None:
    httpserver.expect_request("/a").respond_with_data("a")
    httpserver.expect_request("/b/c").respond_with_data("c")
    proxy.script([FaultKind.SERVER_ERROR], path="/b")
    with httpx.Client(base_url=proxy.base_url, timeout=10) as client:
        assert client.get("/a").status_code == 200
        assert client.get("/b/c").status_code == 503
        assert client.get("/b/c").status_code == 200
    assert [r.fault for r in proxy.log] == [FaultKind.NONE, FaultKind.SERVER_ERROR, FaultKind.NONE]


def run_sequence(upstream: str, seed: int, count: int) -> list[FaultKind]:
    rates = FaultRates(server_error=0.3, rate_limit=0.2, request_timeout=0.2)
    with FaultProxy(upstream, rates=rates, seed=seed) as proxy:
        with httpx.Client(base_url=proxy.base_url, timeout=10) as client:
            for _ in range(count):
                client.get("/x")
        return [record.fault for record in proxy.log]


def test_same_seed_gives_same_faults_over_the_wire(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_data("ok")
    first = run_sequence(httpserver.url_for("/"), seed=7, count=20)
    assert first == run_sequence(httpserver.url_for("/"), seed=7, count=20)
    assert len(set(first)) > 1


def test_planner_is_reproducible_and_reset_restarts_the_stream() -> None:
    rates = FaultRates(server_error=0.25, reset_after=0.25, slow=0.1, truncate=0.1)
    planner = FaultPlanner(rates, seed=3)
    first = [planner.decide("/p") for _ in range(50)]
    fresh = FaultPlanner(rates, seed=3)
    assert [fresh.decide("/p") for _ in range(50)] == first
    planner.reset()
    assert [planner.decide("/p") for _ in range(50)] == first
    planner.reset(seed=4)
    assert [planner.decide("/p") for _ in range(50)] != first


def test_rates_pick_cumulative_buckets() -> None:
    rates = FaultRates(server_error=0.5, rate_limit=0.25)
    assert rates.total == pytest.approx(0.75)
    assert rates.pick(0.1) is FaultKind.SERVER_ERROR
    assert rates.pick(0.6) is FaultKind.RATE_LIMIT
    assert rates.pick(0.9) is FaultKind.NONE


def test_counts_reset_and_set_rates(httpserver: HTTPServer, proxy: FaultProxy) -> None:
    httpserver.expect_request("/x").respond_with_data("ok")
    proxy.set_rates(FaultRates(request_timeout=1.0))
    proxy.script([ScriptedFault(FaultKind.SERVER_ERROR), FaultKind.NONE])
    with httpx.Client(base_url=proxy.base_url, timeout=10) as client:
        statuses = [client.get("/x").status_code for _ in range(3)]
    assert statuses == [503, 200, 408]
    assert proxy.counts == {
        FaultKind.SERVER_ERROR: 1,
        FaultKind.NONE: 1,
        FaultKind.REQUEST_TIMEOUT: 1,
    }
    proxy.script([FaultKind.SLOW])
    proxy.reset()
    assert proxy.log == []
    assert proxy.planner.pending_script == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_unreachable_upstream_is_a_502() -> None:
    with FaultProxy(f"http://127.0.0.1:{free_port()}") as proxy:
        response = httpx.get(f"{proxy.base_url}/x", timeout=10)
    assert response.status_code == 502
    assert proxy.log == [FaultRecord("GET", "/x", FaultKind.NONE, None)]


def test_lifecycle_errors(httpserver: HTTPServer) -> None:
    proxy = FaultProxy(httpserver.url_for("/"))
    proxy.stop()  # never started: nothing to do
    proxy.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            proxy.start()
    finally:
        proxy.stop()


def test_start_failure_is_reported() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proxy = FaultProxy("http://127.0.0.1:1", port=port)
        with pytest.raises(RuntimeError, match="failed to start"):
            proxy.start()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"server_error": 1.5}, "server_error"),
        ({"server_error": 0.6, "slow": 0.6}, "sum"),
    ],
)
def test_rates_validation_names_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultRates(**kwargs)


def test_options_and_upstream_validation() -> None:
    with pytest.raises(ValueError, match="5xx"):
        FaultOptions(server_error_status=404)
    with pytest.raises(ValueError, match="slow_delay"):
        FaultOptions(slow_delay=-1)
    with pytest.raises(ValueError, match="upstream"):
        FaultProxy("localhost:8000")


def test_cli_builds_and_runs_until_told_to_stop(
    httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--upstream", httpserver.url_for("/"), "--seed", "5", "--rate-5xx", "0.1"]
    argv += ["--rate-429", "0.2", "--retry-after-ms", "--status-5xx", "502"]
    proxy = build_proxy(argv)
    assert proxy.planner.rates == FaultRates(server_error=0.1, rate_limit=0.2)
    assert proxy.options.server_error_status == 502
    assert proxy.options.retry_after_ms
    stop = threading.Event()
    stop.set()
    assert main(argv, until=stop) == 0
    out = capsys.readouterr().out
    assert "fault proxy http://127.0.0.1:" in out
    assert "requests: 0 (none)" in out


def test_cli_rejects_bad_rates(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_proxy(["--upstream", "http://127.0.0.1:1", "--rate-slow", "2"])
    assert "slow" in capsys.readouterr().err


@pytest.mark.parametrize(("status", "method"), [(204, "GET"), (299, "GET"), (200, "HEAD")])
def test_bodiless_and_unusual_statuses_pass_through(
    httpserver: HTTPServer, proxy: FaultProxy, status: int, method: str
) -> None:
    httpserver.expect_request("/x").respond_with_data("", status=status)
    with httpx.Client(base_url=proxy.base_url, timeout=10) as client:
        first = client.request(method, "/x")
        second = client.request(method, "/x")
    assert (first.status_code, second.status_code) == (status, status)
    assert first.content == b""


def test_module_runs_as_a_script_without_import_warnings() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "tinkex.testing.fault_proxy", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--rate-reset-after" in result.stdout


class InterruptedWait(threading.Event):
    """Behaves like Ctrl-C arriving while the CLI waits."""

    def wait(self, timeout: float | None = None) -> bool:
        raise KeyboardInterrupt


def test_cli_stops_cleanly_on_ctrl_c(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--upstream", "http://127.0.0.1:1"], until=InterruptedWait()) == 0
    assert "requests: 0" in capsys.readouterr().out


def test_malformed_request_drops_only_that_connection(
    httpserver: HTTPServer, proxy: FaultProxy
) -> None:
    httpserver.expect_request("/x").respond_with_data("ok")
    host, port = proxy.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"GET /x HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
        assert raw.recv(1) == b""
    assert httpx.get(f"{proxy.base_url}/x", timeout=10).text == "ok"


def test_stop_drops_held_responses_and_allows_restart(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_data("ok")
    proxy = FaultProxy(httpserver.url_for("/"))
    with proxy:
        proxy.script([FaultKind.SLOW])
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{proxy.base_url}/x", timeout=0.2)
    proxy.release_slow()  # stopped: nothing to release, must not raise
    with proxy:
        assert httpx.get(f"{proxy.base_url}/x", timeout=10).text == "ok"

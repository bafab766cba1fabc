"""The Tinker manifest agrees with the official client (`tinker==0.38.0`).

The facts are read from the official package's SOURCE with `ast` (nothing of it is imported), so
a new endpoint, a changed path or a changed per-call retry/timeout override in a future `tinker`
release makes these tests fail and name the difference.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pristine.manifest import Endpoint, Manifest, load_manifest
from tinkex.api_manifest import MANIFEST_RESOURCE, load_tinker_manifest

HTTP_VERBS = {"get", "post", "put", "patch", "delete"}
OFFICIAL_DEFAULT_TIMEOUT_S = 60.0  # tinker._constants.DEFAULT_TIMEOUT
OFFICIAL_DEFAULT_EXTRA_ATTEMPTS = 10  # tinker._constants.DEFAULT_MAX_RETRIES
Route = tuple[str, str]  # (METHOD, path with every {param} written as {})


# The official client fills one `{checkpoint_id}` field with `<kind>/<name>` and sends the slash
# unescaped; the manifest spells the two segments as two params, so that a runtime escaping each
# param (pristine quotes "/" as %2F) still puts the same bytes on the wire.
TWO_SEGMENT_CHECKPOINT_ID = "{checkpoint_kind}/{checkpoint_name}"


def normalise(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def route_of(endpoint: Endpoint) -> Route:
    return endpoint.method, normalise(endpoint.path.replace(TWO_SEGMENT_CHECKPOINT_ID, "{}"))


def official_package() -> Path:
    spec = importlib.util.find_spec("tinker")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the official `tinker` package (a dev dependency) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass
class OfficialRoute:
    """What the official client does with one route, gathered over all its call sites."""

    pools: set[str] = field(default_factory=set)
    extra_attempts: set[int] = field(default_factory=set)  # per-call max_retries, else default
    timeouts_s: set[float] = field(default_factory=set)  # per-call timeout, else default
    protobuf_body: bool = False


@dataclass(frozen=True)
class _CallSite:
    route: Route  # (METHOD, path template as written, `{}` for f-string fields)
    pool: str | None
    max_retries: int | None
    timeout_s: float | None
    function: ast.AsyncFunctionDef | None  # the enclosing `async def`


class _ModuleScan(ast.NodeVisitor):
    """Finds HTTP calls in one module: `self._post("/api/v1/..")`, `client.get(f"/api/v1/..")`,
    `self._request("GET", "/api/v1/..")`, and calls of resource methods such as
    `client.weights.save(..., max_retries=0)`, each with the connection pool of the enclosing
    `with holder.aclient(ClientConnectionPoolType.X)`."""

    def __init__(self, tree: ast.Module, resource_routes: dict[tuple[str, str], Route]) -> None:
        self.constants = _numeric_constants(tree)
        self.resource_routes = resource_routes
        self.pool_stack: list[str] = []
        self.function_stack: list[ast.AsyncFunctionDef] = []
        self.found: list[_CallSite] = []

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.function_stack.append(node)
        self.generic_visit(node)
        self.function_stack.pop()

    def visit_With(self, node: ast.With) -> None:
        pools = [p for item in node.items if (p := _pool_name(item.context_expr))]
        self.pool_stack.extend(pools)
        self.generic_visit(node)
        del self.pool_stack[len(self.pool_stack) - len(pools) :]

    def visit_Call(self, node: ast.Call) -> None:
        route = self._direct_route(node) or self._resource_route(node)
        if route is not None:
            self.found.append(
                _CallSite(
                    route=route,
                    pool=self.pool_stack[-1] if self.pool_stack else None,
                    max_retries=self._max_retries(node),
                    timeout_s=self._timeout(node),
                    function=self.function_stack[-1] if self.function_stack else None,
                )
            )
        self.generic_visit(node)

    def _direct_route(self, node: ast.Call) -> Route | None:
        if not isinstance(node.func, ast.Attribute) or not node.args:
            return None
        verb = node.func.attr.lstrip("_")
        if verb == "request" and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant):
            verb, path_node = str(node.args[0].value).lower(), node.args[1]
        else:
            path_node = node.args[0]
        path = _path_template(path_node)
        if verb not in HTTP_VERBS or path is None or not path.startswith("/api/v1/"):
            return None
        return verb.upper(), path

    def _resource_route(self, node: ast.Call) -> Route | None:
        chain = _attribute_chain(node.func)
        return next(
            (
                self.resource_routes[(name, chain[-1])]
                for name in chain[:-1]
                if (name, chain[-1]) in self.resource_routes
            ),
            None,
        )

    def _max_retries(self, node: ast.Call) -> int | None:
        value = _keyword_or_option(node, "max_retries")
        return None if value is None else int(self._resolve(value))

    def _timeout(self, node: ast.Call) -> float | None:
        value = _keyword_or_option(node, "timeout")
        return None if value is None else float(self._resolve(value))

    def _resolve(self, node: ast.expr) -> float:
        """A literal, a module constant, or the larger branch of `a if cond else b`."""
        if isinstance(node, ast.IfExp):
            return max(self._resolve(node.body), self._resolve(node.orelse))
        if isinstance(node, ast.Name):
            return self.constants[node.id]
        assert isinstance(node, ast.Constant), ast.dump(node)
        assert isinstance(node.value, int | float), ast.dump(node)
        return float(node.value)


def _numeric_constants(tree: ast.Module) -> dict[str, float]:
    """Module-level `NAME = 5.0` and `NAME: float = 5.0` assignments."""
    constants: dict[str, float] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            continue
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, int | float):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = float(value.value)
    return constants


def _pool_name(expr: ast.expr) -> str | None:
    """`ClientConnectionPoolType.TRAIN` inside `....aclient(ClientConnectionPoolType.TRAIN)`."""
    if isinstance(expr, ast.Call) and expr.args and isinstance(expr.args[0], ast.Attribute):
        arg = expr.args[0]
        if isinstance(arg.value, ast.Name) and arg.value.id == "ClientConnectionPoolType":
            return arg.attr.lower()
    return None


def _path_template(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values
        )
    return None


def _attribute_chain(node: ast.expr) -> list[str]:
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    return names[::-1]


def _keyword_or_option(node: ast.Call, name: str) -> ast.expr | None:
    """`name=...` on the call, or the `name` key of a literal `options={...}` dict."""
    for keyword in node.keywords:
        if keyword.arg == name:
            return keyword.value
        if keyword.arg == "options" and isinstance(keyword.value, ast.Dict):
            for key, value in zip(keyword.value.keys, keyword.value.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == name:
                    return value
    return None


def _python_files(root: Path) -> Iterator[Path]:
    """The package's modules, without its own tests (which call fakes)."""
    for path in sorted(root.rglob("*.py")):
        if not path.name.endswith("_test.py"):
            yield path


def _resource_routes(package: Path) -> dict[tuple[str, str], Route]:
    """(resource module, method) -> route, from `tinker/resources/*.py`."""
    routes: dict[tuple[str, str], Route] = {}
    for path in sorted((package / "resources").glob("*.py")):
        tree = ast.parse(path.read_text())
        scan = _ModuleScan(tree, {})
        scan.visit(tree)
        for call in scan.found:
            assert isinstance(call.function, ast.AsyncFunctionDef)
            routes[(path.stem, call.function.name)] = call.route
    return routes


def official_routes() -> dict[Route, OfficialRoute]:
    """Every route the official package sends, with the pools, retries and timeouts it uses."""
    package = official_package()
    resource_routes = _resource_routes(package)
    routes: dict[Route, OfficialRoute] = defaultdict(OfficialRoute)
    for path in _python_files(package):
        tree = ast.parse(path.read_text())
        scan = _ModuleScan(tree, resource_routes)
        scan.visit(tree)
        in_resources = path.parent.name == "resources"
        for call in scan.found:
            method, template = call.route
            official = routes[(method, normalise(template))]
            if call.pool:
                official.pools.add(call.pool)
            if in_resources:  # a resource method's own options only pass its arguments on
                function = ast.dump(call.function) if call.function else ""
                official.protobuf_body |= "_PROTO_CONTENT_TYPE" in function
                continue
            official.extra_attempts.add(
                OFFICIAL_DEFAULT_EXTRA_ATTEMPTS if call.max_retries is None else call.max_retries
            )
            if call.timeout_s is not None:
                official.timeouts_s.add(call.timeout_s)
    return dict(routes)


def result_type(endpoint: Endpoint) -> str:
    """The type a future endpoint resolves to, from its one `result:<Type>` tag."""
    (result,) = (tag.removeprefix("result:") for tag in endpoint.tags if tag.startswith("result:"))
    return result


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_tinker_manifest()


@pytest.fixture(scope="module")
def official() -> dict[Route, OfficialRoute]:
    return official_routes()


def manifest_routes(manifest: Manifest) -> dict[Route, Endpoint]:
    return {route_of(e): e for e in manifest.endpoints if "extension" not in e.tags}


def test_the_manifest_loads_through_pristines_loader(manifest: Manifest) -> None:
    from importlib import resources

    with resources.as_file(resources.files("tinkex") / MANIFEST_RESOURCE) as path:
        assert load_manifest(path) == manifest
    assert manifest.name == "tinker"
    assert manifest.version == "0.38.0"


def test_the_scan_finds_the_main_routes(official: dict[Route, OfficialRoute]) -> None:
    # Guards the scanner itself: if it silently found nothing, the tests below would pass.
    assert ("POST", "/api/v1/forward_backward") in official
    assert ("DELETE", "/api/v1/training_runs/{}/checkpoints/{}") in official
    assert ("GET", "/api/v1/auth/apikey/me") in official
    assert len(official) >= 45


def test_every_route_the_official_client_calls_is_in_the_manifest(
    manifest: Manifest, official: dict[Route, OfficialRoute]
) -> None:
    missing = sorted(set(official) - set(manifest_routes(manifest)))
    assert not missing, f"routes the official client calls but the manifest lacks: {missing}"


def test_the_manifest_invents_no_route_outside_the_extension_tag(
    manifest: Manifest, official: dict[Route, OfficialRoute]
) -> None:
    invented = sorted(set(manifest_routes(manifest)) - set(official))
    assert not invented, f"manifest routes the official client never calls: {invented}"


def test_retry_policies_match_the_official_per_call_overrides(
    manifest: Manifest, official: dict[Route, OfficialRoute]
) -> None:
    for route, endpoint in manifest_routes(manifest).items():
        if "cli" in endpoint.tags:  # a plain httpx.Client, which never retries
            assert manifest.retry_policy(endpoint).max_attempts == 1, endpoint.id
            continue
        extra = max(official[route].extra_attempts, default=OFFICIAL_DEFAULT_EXTRA_ATTEMPTS)
        assert manifest.retry_policy(endpoint).max_attempts == extra + 1, endpoint.id


def test_timeouts_match_the_official_per_call_overrides(
    manifest: Manifest, official: dict[Route, OfficialRoute]
) -> None:
    for route, endpoint in manifest_routes(manifest).items():
        if "cli" in endpoint.tags:
            continue  # the CLI sets its timeout on the httpx.Client, not per call
        expected = max(official[route].timeouts_s, default=OFFICIAL_DEFAULT_TIMEOUT_S)
        assert manifest.timeout_s(endpoint) == expected, endpoint.id


def test_pools_match_the_official_connection_pool_types(
    manifest: Manifest, official: dict[Route, OfficialRoute]
) -> None:
    for route, endpoint in manifest_routes(manifest).items():
        pools = official[route].pools
        if pools:
            assert manifest.pool_name(endpoint) in pools, (endpoint.id, pools)


def test_only_forward_backward_sends_protobuf(
    manifest: Manifest, official: dict[Route, OfficialRoute]
) -> None:
    for route, endpoint in manifest_routes(manifest).items():
        expected = "protobuf" if official[route].protobuf_body else "json"
        assert endpoint.request_encoding == expected, endpoint.id
    assert manifest.endpoint("forward_backward").request_encoding == "protobuf"


def test_every_future_polls_retrieve_future_and_names_its_result_type(manifest: Manifest) -> None:
    futures = [e for e in manifest.endpoints if e.future is not None]
    assert {e.id for e in futures} >= {"create_model", "forward_backward", "optim_step", "asample"}
    for endpoint in futures:
        assert endpoint.future is not None
        poll = manifest.endpoint(endpoint.future.poll_endpoint)
        assert route_of(poll) == ("POST", "/api/v1/retrieve_future")
        assert endpoint.future.request_id_field == "request_id"
        assert endpoint.response == "UntypedAPIFuture", endpoint.id
        assert result_type(endpoint) in manifest.types, endpoint.id


def test_every_named_type_is_declared_and_every_declared_type_used(manifest: Manifest) -> None:
    named = {name for e in manifest.endpoints for name in (e.request, e.response) if name}
    named |= {result_type(e) for e in manifest.endpoints if e.future is not None}
    assert named == set(manifest.types)


def test_every_non_get_sdk_call_carries_an_idempotency_key(manifest: Manifest) -> None:
    for endpoint in manifest.endpoints:
        sdk_call = endpoint.method != "GET" and "cli" not in endpoint.tags
        expected = "X-Idempotency-Key" if sdk_call else None
        assert endpoint.idempotency_header == expected, endpoint.id


def test_checkpoint_ids_are_two_path_segments(manifest: Manifest) -> None:
    for endpoint in manifest.endpoints:
        if endpoint.path.startswith("/api/v1/training_runs/{training_run_id}/checkpoints/"):
            assert TWO_SEGMENT_CHECKPOINT_ID in endpoint.path, endpoint.id
            assert "checkpoint_id" not in endpoint.path_params, endpoint.id


def test_sample_stream_is_a_tagged_streaming_extension(manifest: Manifest) -> None:
    stream = manifest.endpoint("sample_stream")
    assert route_of(stream) == ("POST", "/api/v1/sample_stream")
    assert stream.streaming
    assert "extension" in stream.tags
    assert stream.accept == "text/event-stream"
    assert [e.id for e in manifest.endpoints if "extension" in e.tags] == ["sample_stream"]


def test_the_manifest_exports_to_openapi(manifest: Manifest) -> None:
    export = pytest.importorskip("pristine.export", reason="pristine.export (H2) not there yet")
    document = export.openapi(manifest)
    operations = {
        operation["operationId"]
        for path_item in document["paths"].values()
        for operation in path_item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert operations == {e.id for e in manifest.endpoints}
    assert set(document["paths"]) == {e.path for e in manifest.endpoints}
    reference = export.markdown(manifest)
    assert all(endpoint.id in reference for endpoint in manifest.endpoints)

"""Publishing a manifest: an OpenAPI 3.1 document and a one-page Markdown reference.

The manifest already says everything a reader of the API needs, so documentation is
generated from it rather than written twice. Pristine's own behaviour (futures, retry,
pools, streaming) has no OpenAPI keyword and travels in `x-pristine-*` extensions.

    python -m pristine.export MANIFEST [--format openapi-json|openapi-yaml|markdown]
                                       [--registry module:attribute] [-o FILE]
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson
import yaml
from pydantic import BaseModel

from pristine.manifest import Endpoint, Manifest, ManifestError, load_manifest
from pristine.ports.registry import TypeRegistry

__all__ = ["ModelRegistry", "main", "markdown", "openapi"]

_SCHEMA_REF = "#/components/schemas/{model}"
_BINARY = {"type": "string", "format": "binary"}
_REQUEST_MEDIA = {
    "json": "application/json",
    "protobuf": "application/x-protobuf",
    "multipart": "multipart/form-data",
    "raw": "application/octet-stream",
}
_RESPONSE_MEDIA = {
    "json": "application/json",
    "protobuf": "application/x-protobuf",
    "raw": "application/octet-stream",
}


@runtime_checkable
class ModelRegistry(Protocol):
    """A type registry that can hand out the pydantic model behind a type name."""

    def knows(self, type_name: str) -> bool: ...

    def model(self, type_name: str) -> type[BaseModel]: ...


# --- OpenAPI -------------------------------------------------------------------------------


def openapi(
    manifest: Manifest, registry: ModelRegistry | TypeRegistry | None = None
) -> dict[str, Any]:
    """The manifest as an OpenAPI 3.1.0 document (a plain dict, ready to dump).

    With a `ModelRegistry` (e.g. `PydanticRegistry`), each known type's schema comes from
    its model's `model_json_schema`; other types get a placeholder object schema.
    """
    info: dict[str, Any] = {"title": manifest.name, "version": manifest.version}
    if manifest.description:
        info["description"] = manifest.description
    doc: dict[str, Any] = {"openapi": "3.1.0", "info": info}
    if manifest.base_url:
        doc["servers"] = [{"url": manifest.base_url}]
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in manifest.endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(
            manifest, endpoint
        )
    doc["paths"] = paths
    models = registry if isinstance(registry, ModelRegistry) else None
    doc["components"] = {"schemas": _schemas(_type_names(manifest), models)}
    return doc


def _operation(manifest: Manifest, endpoint: Endpoint) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": endpoint.id, "summary": _summary(endpoint)}
    if endpoint.description:
        op["description"] = endpoint.description
    tags = list(
        dict.fromkeys([*([endpoint.resource] if endpoint.resource else []), *endpoint.tags])
    )
    if tags:
        op["tags"] = tags
    if endpoint.deprecated:
        op["deprecated"] = True
    parameters = _parameters(endpoint)
    if parameters:
        op["parameters"] = parameters
    if endpoint.request is not None or endpoint.request_encoding != "json":
        op["requestBody"] = {
            "required": True,
            "content": {
                _REQUEST_MEDIA[endpoint.request_encoding]: {
                    "schema": _body_schema(endpoint.request, endpoint.request_encoding)
                }
            },
        }
    op["responses"] = {
        "200": {"description": "Success", "content": _response_content(endpoint)},
        "default": {"description": "Error: see the status code and the JSON error body"},
    }
    op.update(_extensions(manifest, endpoint))
    return op


def _summary(endpoint: Endpoint) -> str:
    if endpoint.description:
        return endpoint.description.strip().split("\n", 1)[0]
    return endpoint.id


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    if endpoint.idempotency_header:
        parameters.append(
            {
                "name": endpoint.idempotency_header,
                "in": "header",
                "required": False,
                "description": "Idempotency key; the client sets one per call, kept across retries",
                "schema": {"type": "string"},
            }
        )
    parameters += [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in endpoint.path_params
    ]
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {"type": "string", "default": value},
        }
        for name, value in endpoint.query.items()
    ]
    return parameters


def _body_schema(type_name: str | None, encoding: str) -> dict[str, Any]:
    if encoding in ("protobuf", "raw"):
        return dict(_BINARY)
    if type_name is None:
        return {"type": "object"}
    return {"$ref": _SCHEMA_REF.format(model=type_name)}


def _response_content(endpoint: Endpoint) -> dict[str, Any]:
    if endpoint.streaming:
        return {
            "text/event-stream": {
                "schema": {
                    "type": "string",
                    "description": "Server-sent events"
                    + (
                        f"; each event's data is a {endpoint.response} in JSON"
                        if endpoint.response
                        else ""
                    ),
                }
            }
        }
    media = endpoint.accept or _RESPONSE_MEDIA[endpoint.response_encoding]
    return {media: {"schema": _body_schema(endpoint.response, endpoint.response_encoding)}}


def _extensions(manifest: Manifest, endpoint: Endpoint) -> dict[str, Any]:
    policy = manifest.retry_policy(endpoint)
    extensions: dict[str, Any] = {
        "x-pristine-retry": {
            "policy": endpoint.retry or manifest.defaults.retry,
            **policy.model_dump(mode="json"),
        },
        "x-pristine-timeout-s": manifest.timeout_s(endpoint),
        "x-pristine-pool": manifest.pool_name(endpoint),
    }
    if endpoint.future is not None:
        extensions["x-pristine-future"] = {
            "poll_endpoint": endpoint.future.poll_endpoint,
            "poll_path": manifest.endpoint(endpoint.future.poll_endpoint).path,
            "request_id_field": endpoint.future.request_id_field,
        }
    if endpoint.streaming:
        extensions["x-pristine-streaming"] = True
    if endpoint.compress_request != "none":
        extensions["x-pristine-compress-request"] = endpoint.compress_request
    if endpoint.request is not None and endpoint.request_encoding in ("protobuf", "raw"):
        extensions["x-pristine-request-type"] = endpoint.request
    return extensions


def _type_names(manifest: Manifest) -> list[str]:
    names = list(manifest.types)
    for endpoint in manifest.endpoints:
        names += [n for n in (endpoint.request, endpoint.response) if n is not None]
    return list(dict.fromkeys(names))


def _schemas(type_names: Sequence[str], registry: ModelRegistry | None) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for name in type_names:
        if registry is not None and registry.knows(name):
            schema = registry.model(name).model_json_schema(ref_template=_SCHEMA_REF)
            schemas.update(schema.pop("$defs", {}))
            schemas[name] = schema
        else:
            schemas[name] = {
                "type": "object",
                "title": name,
                "description": "Defined by the SDK's type registry; pass a registry for its schema",
            }
    return schemas


# --- Markdown ------------------------------------------------------------------------------


def markdown(manifest: Manifest) -> str:
    """One reference page: a table of endpoints per resource, then a section per endpoint."""
    lines = [f"# {manifest.name} {manifest.version}", ""]
    if manifest.description:
        lines += [manifest.description, ""]
    if manifest.base_url:
        lines += [f"Base URL: `{manifest.base_url}`", ""]
    groups: dict[str | None, list[Endpoint]] = {}
    for endpoint in manifest.endpoints:
        groups.setdefault(endpoint.resource, []).append(endpoint)
    for resource, endpoints in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
        title = f"Resource `{resource}`" if resource else "Other endpoints"
        lines += [f"## {title}", "", "| Endpoint | Method | Path | Request | Response |"]
        lines.append("|---|---|---|---|---|")
        lines += [_table_row(e) for e in endpoints]
        lines.append("")
    lines += ["## Endpoints", ""]
    for endpoint in manifest.endpoints:
        lines += _section(manifest, endpoint)
    return "\n".join(lines).rstrip() + "\n"


def _cell(text: str | None) -> str:
    """Code-formatted table cell; a `|` would end the cell, even inside backticks."""
    if not text:
        return "—"
    escaped = text.replace("|", "\\|")
    return f"`{escaped}`"


def _table_row(endpoint: Endpoint) -> str:
    cells = [
        f"[`{endpoint.id}`](#{endpoint.id})",
        _cell(endpoint.method),
        _cell(endpoint.path),
        _cell(endpoint.request),
        _cell(endpoint.response),
    ]
    return "| " + " | ".join(cells) + " |"


def _section(manifest: Manifest, endpoint: Endpoint) -> list[str]:
    lines = [
        f'### <a id="{endpoint.id}"></a>`{endpoint.id}`',
        "",
        f"`{endpoint.method} {endpoint.path}`",
        "",
    ]
    if endpoint.description:
        lines += [endpoint.description.strip(), ""]
    facts = []
    if endpoint.deprecated:
        facts.append("**Deprecated.**")
    facts.append(f"**Request:** {_cell(endpoint.request)} ({endpoint.request_encoding})")
    facts.append(f"**Response:** {_cell(endpoint.response)} ({endpoint.response_encoding})")
    if endpoint.path_params:
        facts.append("**Path parameters:** " + ", ".join(f"`{p}`" for p in endpoint.path_params))
    if endpoint.query:
        facts.append(
            "**Query:** " + ", ".join(f"`{k}` (default `{v}`)" for k, v in endpoint.query.items())
        )
    if endpoint.future is not None:
        poll = manifest.endpoint(endpoint.future.poll_endpoint)
        facts.append(
            f"**Future:** polled with `{poll.id}` (`{poll.method} {poll.path}`), "
            f"request id in `{endpoint.future.request_id_field}`"
        )
    if endpoint.streaming:
        facts.append("**Streaming:** server-sent events")
    if endpoint.idempotency_header:
        facts.append(f"**Idempotency header:** `{endpoint.idempotency_header}`")
    policy = manifest.retry_policy(endpoint)
    policy_name = endpoint.retry or manifest.defaults.retry
    facts.append(
        f"**Retry:** `{policy_name}` ({policy.max_attempts} attempts, backoff "
        f"{policy.base_delay_s:g}–{policy.max_delay_s:g} s, deadline {policy.deadline_s:g} s)"
    )
    timeout_s = manifest.timeout_s(endpoint)
    facts.append(f"**Timeout:** {timeout_s:g} s; **pool:** `{manifest.pool_name(endpoint)}`")
    return lines + [f"- {fact}" for fact in facts] + [""]


# --- CLI -----------------------------------------------------------------------------------


class _UsageError(Exception):
    """Bad command-line input: printed on stderr, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pristine.export`: print or write a manifest's OpenAPI or Markdown form."""
    parser = argparse.ArgumentParser(
        prog="python -m pristine.export", description="Export a pristine manifest."
    )
    parser.add_argument("manifest", type=Path, help="manifest file (.yaml, .yml or .json)")
    parser.add_argument(
        "--format",
        choices=("openapi-json", "openapi-yaml", "markdown"),
        default="openapi-json",
    )
    parser.add_argument(
        "--registry",
        metavar="MODULE:ATTRIBUTE",
        help="a type registry whose pydantic models give the schemas, e.g. mysdk.types:REGISTRY",
    )
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    try:
        manifest = load_manifest(args.manifest)
        registry = _import_registry(args.registry) if args.registry else None
    except (OSError, ManifestError, _UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.format == "markdown":
        text = markdown(manifest)
    elif args.format == "openapi-yaml":
        text = yaml.safe_dump(openapi(manifest, registry), sort_keys=False, allow_unicode=True)
    else:
        text = orjson.dumps(openapi(manifest, registry), option=orjson.OPT_INDENT_2).decode() + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


def _import_registry(spec: str) -> ModelRegistry | TypeRegistry:
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise _UsageError(f"--registry {spec!r}: use the form module:attribute")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise _UsageError(f"--registry {spec!r}: cannot import {module_name!r}: {error}") from error
    registry = getattr(module, attribute, None)
    if not isinstance(registry, ModelRegistry):
        raise _UsageError(
            f"--registry {spec!r}: {module_name}.{attribute} is not a type registry with "
            "knows() and model() (e.g. a PydanticRegistry)"
        )
    return registry


if __name__ == "__main__":  # pragma: no cover - exercised by test_runs_as_a_module
    raise SystemExit(main())

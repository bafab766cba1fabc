"""Exporting a manifest as OpenAPI 3.1 and as a Markdown reference page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate
from pydantic import BaseModel

from pristine.adapters.registry import PydanticRegistry
from pristine.export import main, markdown, openapi
from pristine.manifest import Manifest, load_manifest

PETSTORE = Path(__file__).parent / "fixtures" / "petstore.yaml"


class Owner(BaseModel):
    name: str


class Pet(BaseModel):
    id: int
    name: str
    owner: Owner | None = None


class NewPet(BaseModel):
    name: str


REGISTRY = PydanticRegistry({"Pet": Pet, "NewPet": NewPet})


@pytest.fixture
def manifest() -> Manifest:
    return load_manifest(PETSTORE)


def operation(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    result: dict[str, Any] = doc["paths"][path][method]
    return result


# --- OpenAPI -------------------------------------------------------------------------------


def test_openapi_is_a_valid_3_1_document(manifest: Manifest) -> None:
    doc = openapi(manifest)
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {
        "title": "petstore",
        "version": "1.0",
        "description": "A pet shop, used to drive pristine end to end.",
    }
    assert "servers" not in doc


def test_openapi_with_a_registry_is_valid_and_uses_model_schemas(manifest: Manifest) -> None:
    doc = openapi(manifest, REGISTRY)
    validate(doc)
    schemas = doc["components"]["schemas"]
    assert schemas["Pet"]["properties"]["owner"]["anyOf"][0] == {
        "$ref": "#/components/schemas/Owner"
    }
    assert "Owner" in schemas
    assert schemas["NewPet"]["required"] == ["name"]


def test_openapi_without_models_has_placeholder_schemas(manifest: Manifest) -> None:
    schemas = openapi(manifest)["components"]["schemas"]
    assert set(schemas) == {"Pet", "NewPet"}
    assert schemas["Pet"]["type"] == "object"
    assert "registry" in schemas["Pet"]["description"]


def test_operations_are_keyed_by_path_and_method_with_endpoint_ids(manifest: Manifest) -> None:
    doc = openapi(manifest)
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert sorted(ids) == sorted(e.id for e in manifest.endpoints)
    assert set(doc["paths"]["/pets"]) == {"get", "post"}


def test_path_and_query_parameters(manifest: Manifest) -> None:
    doc = openapi(manifest)
    get_pet = operation(doc, "/pets/{pet_id}", "get")
    assert get_pet["parameters"] == [
        {"name": "pet_id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    old = operation(doc, "/pets", "get")
    assert old["deprecated"] is True
    assert old["parameters"] == [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "default": "10"},
        }
    ]


def test_json_request_and_response_reference_the_schemas(manifest: Manifest) -> None:
    create = operation(openapi(manifest), "/pets", "post")
    assert create["requestBody"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}
    }
    assert create["responses"]["200"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
    }
    assert {"name": "Idempotency-Key", "in": "header", "required": False}.items() <= (
        create["parameters"][0].items()
    )
    assert create["x-pristine-compress-request"] == "gzip"


def test_multipart_request_body(manifest: Manifest) -> None:
    upload = operation(openapi(manifest), "/pets/{pet_id}/photo", "post")
    assert list(upload["requestBody"]["content"]) == ["multipart/form-data"]
    assert upload["x-pristine-pool"] == "uploads"


def test_streaming_endpoint_answers_with_an_event_stream(manifest: Manifest) -> None:
    events = operation(openapi(manifest), "/pets/events", "get")
    assert list(events["responses"]["200"]["content"]) == ["text/event-stream"]
    assert events["x-pristine-streaming"] is True


def test_future_and_retry_extensions(manifest: Manifest) -> None:
    doc = openapi(manifest)
    adopt = operation(doc, "/pets/{pet_id}/adopt", "post")
    assert adopt["x-pristine-future"] == {
        "poll_endpoint": "adoption_status",
        "poll_path": "/adoptions/status",
        "request_id_field": "request_id",
    }
    assert adopt["x-pristine-retry"]["policy"] == "standard"
    assert adopt["x-pristine-retry"]["max_attempts"] == 3
    assert adopt["x-pristine-timeout-s"] == 10.0
    status = operation(doc, "/adoptions/status", "post")
    assert status["x-pristine-retry"]["policy"] == "none"
    assert "x-pristine-future" not in status
    assert "requestBody" not in status


def binary_manifest() -> Manifest:
    return Manifest.model_validate(
        {
            "name": "bin",
            "version": "2",
            "base_url": "https://api.example.com/v1",
            "endpoints": [
                {
                    "id": "fwd",
                    "method": "POST",
                    "path": "/fwd",
                    "description": "Forward pass.\n\nRuns the model.",
                    "request": "Batch",
                    "request_encoding": "protobuf",
                    "response": "Out",
                    "response_encoding": "protobuf",
                    "tags": ["train"],
                    "resource": "training",
                },
                {
                    "id": "blob",
                    "method": "PUT",
                    "path": "/blob",
                    "request_encoding": "raw",
                    "response_encoding": "raw",
                    "accept": "image/png",
                },
                {"id": "free", "method": "POST", "path": "/free", "response": "Out"},
            ],
        }
    )


def test_protobuf_raw_encodings_servers_and_tags() -> None:
    doc = openapi(binary_manifest())
    validate(doc)
    assert doc["servers"] == [{"url": "https://api.example.com/v1"}]
    assert "description" not in doc["info"]
    fwd = operation(doc, "/fwd", "post")
    assert fwd["summary"] == "Forward pass."
    assert fwd["description"] == "Forward pass.\n\nRuns the model."
    assert fwd["tags"] == ["training", "train"]
    assert list(fwd["requestBody"]["content"]) == ["application/x-protobuf"]
    assert list(fwd["responses"]["200"]["content"]) == ["application/x-protobuf"]
    assert fwd["x-pristine-request-type"] == "Batch"
    blob = operation(doc, "/blob", "put")
    assert list(blob["requestBody"]["content"]) == ["application/octet-stream"]
    assert list(blob["responses"]["200"]["content"]) == ["image/png"]
    assert blob["summary"] == "blob"
    assert "tags" not in blob
    free = operation(doc, "/free", "post")
    assert "requestBody" not in free
    assert set(doc["components"]["schemas"]) == {"Batch", "Out"}


# --- Markdown ------------------------------------------------------------------------------


def test_markdown_has_a_table_per_resource_and_a_section_per_endpoint(manifest: Manifest) -> None:
    page = markdown(manifest)
    assert page.startswith("# petstore 1.0\n")
    assert "## Resource `pets`" in page
    assert "## Resource `adoptions`" in page
    assert "## Other endpoints" in page
    assert "| [`get_pet`](#get_pet) | `GET` | `/pets/{pet_id}` | — | `Pet` |" in page
    for endpoint in manifest.endpoints:
        assert f'<a id="{endpoint.id}"></a>' in page
    assert "- **Future:** polled with `adoption_status` (`POST /adoptions/status`)" in page
    assert "- **Streaming:** server-sent events" in page
    assert "- **Deprecated.**" in page
    assert "- **Query:** `limit` (default `10`)" in page
    assert "- **Idempotency header:** `Idempotency-Key`" in page
    assert "3 attempts" in page


def test_markdown_shows_base_url_and_endpoint_descriptions() -> None:
    page = markdown(binary_manifest())
    assert "Base URL: `https://api.example.com/v1`" in page
    assert "Forward pass.\n\nRuns the model." in page
    assert "- **Request:** `Batch` (protobuf)" in page


def test_markdown_escapes_pipes_in_table_cells() -> None:
    manifest = Manifest.model_validate(
        {
            "name": "x",
            "version": "1",
            "endpoints": [{"id": "a", "method": "GET", "path": "/a", "response": "A|B"}],
        }
    )
    assert "`A\\|B`" in markdown(manifest)


# --- CLI -----------------------------------------------------------------------------------


def test_cli_writes_openapi_json_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    assert main([str(PETSTORE), "-o", str(out)]) == 0
    validate(json.loads(out.read_text()))


def test_cli_writes_yaml_and_markdown_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(PETSTORE), "--format", "openapi-yaml"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["info"]["title"] == "petstore"
    assert main([str(PETSTORE), "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("# petstore")


def test_cli_loads_a_registry_by_import_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "petstore_types.py").write_text(
        "from pydantic import BaseModel\n"
        "from pristine.adapters.registry import PydanticRegistry\n"
        "class Pet(BaseModel):\n    name: str\n"
        "REGISTRY = PydanticRegistry({'Pet': Pet})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "doc.json"
    assert main([str(PETSTORE), "--registry", "petstore_types:REGISTRY", "-o", str(out)]) == 0
    schemas = json.loads(out.read_text())["components"]["schemas"]
    assert schemas["Pet"]["required"] == ["name"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.yaml"], "missing.yaml"),
        (["{manifest}", "--registry", "no_colon"], "module:attribute"),
        (["{manifest}", "--registry", "no_such_module_xyz:R"], "no_such_module_xyz"),
        (["{manifest}", "--registry", "pristine:NOPE"], "NOPE"),
    ],
)
def test_cli_reports_bad_input_on_stderr(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [a.replace("{manifest}", str(PETSTORE)) for a in argv]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_cli_reports_an_invalid_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: '1'\nendpoints: [{id: a, method: GET, path: nope}]\n")
    assert main([str(bad)]) == 2
    assert "path" in capsys.readouterr().err


def test_runs_as_a_module() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "pristine.export", str(PETSTORE), "--format", "markdown"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert completed.stdout.startswith("# petstore")

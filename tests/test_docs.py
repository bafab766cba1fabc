"""The documentation says only what the code does: commands, options, fields and examples.

`make docs` checks that the site builds without warnings; these tests check that what the
pages claim is true, so a renamed option or field breaks a test instead of misleading a user.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml
from pydantic import BaseModel

from pristine import manifest as manifest_module
from tinkex.cli.app import cli

DOCS = Path(__file__).resolve().parents[1] / "docs"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
COMMAND_HEADING = re.compile(r"^### `(tinkex [a-z -]+?)(?: [A-Z\[].*)?`$", re.MULTILINE)
OPTION = re.compile(r"`(--[a-z][a-z0-9-]*)")
MANIFEST_MODELS: tuple[type[BaseModel], ...] = (
    manifest_module.Manifest,
    manifest_module.Defaults,
    manifest_module.Endpoint,
    manifest_module.RetryPolicy,
    manifest_module.PoolPolicy,
    manifest_module.CircuitBreakerPolicy,
    manifest_module.FutureSpec,
)


def code_blocks(page: str, language: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return [body for lang, body in FENCE.findall(text) if lang == language]


def commands(group: click.Group, prefix: str = "tinkex") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from commands(command, path)


def option_names(command: click.Command) -> set[str]:
    return {
        name
        for param in command.params
        if isinstance(param, click.Option)
        for name in (*param.opts, *param.secondary_opts)
    }


def spellings(default: object) -> set[str]:
    """How a default may be written in the docs: as YAML (`true`, `0.5`), a list or a string."""
    if isinstance(default, tuple):
        return {str(list(default))}
    if isinstance(default, str):
        return {default, f'"{default}"'}
    return {yaml.safe_dump(default).removesuffix("...\n").strip()}


def cli_sections() -> list[tuple[str, str]]:
    """(command path, text of its section) for every command heading of docs/cli.md."""
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    matches = list(COMMAND_HEADING.finditer(text))
    ends = [m.start() for m in matches[1:]] + [len(text)]
    return [(m.group(1), text[m.end() : end]) for m, end in zip(matches, ends, strict=True)]


def test_cli_page_documents_real_commands_and_options() -> None:
    known = dict(commands(cli))
    sections = cli_sections()
    assert len(sections) >= 15, "docs/cli.md lost its command headings"
    global_options = option_names(cli)
    for path, section in sections:
        assert path in known, f"docs/cli.md documents {path!r}, which the CLI does not have"
        documented = set(OPTION.findall(section)) - {"--help"}
        unknown = documented - option_names(known[path]) - global_options
        assert not unknown, f"docs/cli.md lists {sorted(unknown)} for {path!r}; not options"


def test_global_options_on_the_cli_page_exist() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    section = text.split("## Global options", 1)[1].split("\n## ", 1)[0]
    documented = set(OPTION.findall(section))
    assert documented, "docs/cli.md lost its global options table"
    assert documented <= option_names(cli) | {"--help"}


@pytest.mark.parametrize("page", sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")))
def test_tinkex_commands_named_in_the_docs_exist(page: str) -> None:
    """Every `tinkex ...` invocation (code span or shell line) names a real command."""
    text = (DOCS / page).read_text(encoding="utf-8")
    invocations = re.findall(r"(?:`|^|\$ )tinkex((?: [a-z][a-z-]*)+)", text, re.MULTILINE)
    for words in invocations:
        command: click.Command = cli
        for word in words.split():
            if not isinstance(command, click.Group) or word not in command.commands:
                break
            command = command.commands[word]
        assert command is not cli, f"{page}: 'tinkex{words}' is not a tinkex command"


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_python_examples_compile(page: str) -> None:
    for index, block in enumerate(code_blocks(page, "python")):
        compile(block, f"{page} python block {index}", "exec")


@pytest.mark.parametrize("model", MANIFEST_MODELS, ids=lambda model: model.__name__)
def test_manifest_reference_lists_every_field_with_its_default(model: type[BaseModel]) -> None:
    text = (DOCS / "manifest.md").read_text(encoding="utf-8")
    heading = re.search(rf"^## `{model.__name__}`.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert heading, f"docs/manifest.md has no section for {model.__name__}"
    rows = {
        row.group(1): row.group(2)
        for row in re.finditer(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|", heading.group(1), re.M)
    }
    assert set(rows) == set(model.model_fields), f"{model.__name__} fields differ from the docs"
    for name, field in model.model_fields.items():
        documented = rows[name]
        if field.is_required():
            assert documented.strip() == "required", name
        elif field.default_factory is None and field.default not in (None, ()):
            assert any(f"`{shown}`" in documented for shown in spellings(field.default)), (
                f"{model.__name__}.{name}: default {field.default!r}, documented {documented!r}"
            )


def test_manifest_reference_example_is_valid() -> None:
    (example,) = code_blocks("manifest.md", "yaml")
    loaded = manifest_module.load_manifest(yaml.safe_load(example))
    assert loaded.endpoint("create_pet").idempotency_header == "Idempotency-Key"


def test_getting_started_loop_trains_against_the_local_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The page's first supervised loop, run as written against a local server."""
    pytest.importorskip("torch")
    from tinkex.local.config import ServerConfig
    from tinkex.local.server import LocalServer

    (loop,) = code_blocks("getting-started.md", "python")[:1]
    with LocalServer(ServerConfig(port=0, data_dir=tmp_path)) as server:
        assert server.base_url
        source = loop.replace("http://127.0.0.1:8000", server.base_url)
        exec(compile(source, "getting-started.md", "exec"), {"__name__": "docs_example"})
    lines = capsys.readouterr().out.splitlines()
    losses = [float(line.split()[1]) for line in lines[:5]]
    assert all(b < a for a, b in itertools.pairwise(losses)), f"the loss should fall: {losses}"
    assert lines[-1].startswith("tinker://")
    assert lines[-1].endswith("/weights/first-state")

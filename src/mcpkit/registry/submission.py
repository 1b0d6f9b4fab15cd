"""Loading a registry submission: ``servers/<name>/server.yaml`` and what sits next to it.

Two formats are read. Ours has a ``source`` with a ``type`` (package, git, image,
remote) and is validated by a strict model, so a typo is a ``schema`` finding with
its key path. Docker's (docker/mcp-registry: ``about``, ``meta``, ``source.project``)
is converted by :func:`mcpkit.catalog.docker_format.convert_server_yaml`.

Loading never raises for bad content: what is wrong becomes a
:class:`~mcpkit.registry.findings.Finding` in :attr:`Submission.problems`, and the lint
rules (:mod:`mcpkit.registry.lint`) read the raw data, so they still report what
they can when the file does not validate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from mcpkit.catalog.document import decode_document, format_loc, kind_of
from mcpkit.catalog.model import Attestation, Publisher, ServerSpec, ToolMeta
from mcpkit.errors import CatalogFormatError, InvalidInputError
from mcpkit.registry._schema import (
    DEFAULT_TIMEOUT,
    GitEntry,
    PackageEntry,
    SubmissionEntry,
    TestEntry,
    TestFile,
)
from mcpkit.registry.findings import Finding

SERVER_YAML = "server.yaml"
TOOLS_JSON = "tools.json"
#: mcpkit's extension for Docker-format folders: a ``test:`` block in our form.
TEST_YAML = "test.yaml"

_SOURCE_TAGS = frozenset({"package", "git", "image", "remote"})
_FOLDER_HINT = (
    "give the folder of one submission (it holds server.yaml) or a registry root "
    "holding servers/<name>/server.yaml"
)
# Spec fields whose errors a lint rule reports with a better message (name.form,
# title.form, secret.name, remote.url, remote.transport): no `schema` duplicate.
_LINTED_LOCS: tuple[tuple[str | int | None, ...], ...] = (
    ("id",),
    ("title",),
    ("secrets", None, "name"),
    ("source", "url"),
    ("source", "transport"),
)


@dataclass(frozen=True)
class SmokeCall:
    """A read-only tool call ``registry test`` makes once the tools are listed."""

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TestPlan:
    """How ``registry test`` runs the server: example config and secrets, limits, calls."""

    __test__ = False  # not a pytest test class, despite the name

    config: dict[str, Any] = field(default_factory=dict)
    #: Secret name → example value (never a real one).
    secrets: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    #: ``declared``: the server needs real credentials to list tools; the declared list stands.
    tools: Literal["list", "declared"] = "list"
    calls: tuple[SmokeCall, ...] = ()


@dataclass(frozen=True)
class GitSource:
    """A server built from a pinned commit of a git repository."""

    url: str
    commit: str
    directory: str = "."
    dockerfile: str = "Dockerfile"


@dataclass(frozen=True)
class Submission:
    """One submission folder, loaded; :attr:`problems` says what could not be read."""

    folder: Path
    root: Path
    name: str
    format: Literal["mcpkit", "docker"]
    data: Mapping[str, Any]
    spec: ServerSpec | None
    git: GitSource | None
    test: TestPlan
    tools: list[dict[str, Any]] | None
    icon: str | None
    problems: tuple[Finding, ...]

    @property
    def rel(self) -> str:
        """The folder relative to the registry root (``servers/time``; ``""`` for the root)."""
        return _rel(self.folder, self.root)

    def where(self, key: str = "", file: str = SERVER_YAML) -> str:
        """A finding location: ``servers/time/server.yaml:source.commit``."""
        return _where(self.rel, file, key)


# --- public functions ---------------------------------------------------------------


def submission_folders(path: Path) -> list[Path]:
    """The submission folders under ``path``: itself, or every ``servers/*/`` (or ``*/``).

    Raises :class:`InvalidInputError` when ``path`` is not a folder or holds none.
    """
    if not path.is_dir():
        raise InvalidInputError(f"{path} is not a folder", hint=_FOLDER_HINT)
    if (path / SERVER_YAML).is_file():
        return [path]
    servers = path / "servers"
    parent = servers if servers.is_dir() else path
    found = sorted(p.parent for p in parent.glob(f"*/{SERVER_YAML}") if p.is_file())
    if not found:
        raise InvalidInputError(
            f"{path} has no {SERVER_YAML}, and no servers/<name>/{SERVER_YAML} under it",
            hint=_FOLDER_HINT,
        )
    return found


def load_submission(folder: Path, *, root: Path | None = None) -> Submission:
    """Load one submission folder; bad content becomes :attr:`Submission.problems`.

    ``root`` is the registry root that finding locations are relative to (the folder
    itself when not given). Raises :class:`InvalidInputError` only when the folder has
    no ``server.yaml`` or it cannot be read.
    """
    folder = folder.resolve()
    root = (root or folder).resolve()
    rel = _rel(folder, root)
    path = folder / SERVER_YAML
    if not path.is_file():
        raise InvalidInputError(f"{folder} has no {SERVER_YAML}", hint=_FOLDER_HINT)
    problems: list[Finding] = []
    data = _read_yaml(path, rel, SERVER_YAML, problems)
    if _is_docker(data):
        return _DockerLoader(folder, root, rel, data, problems).load()
    return _OurLoader(folder, root, rel, data, problems).load()


# --- loaders ------------------------------------------------------------------------


class _Loader:
    format: Literal["mcpkit", "docker"] = "mcpkit"

    def __init__(
        self,
        folder: Path,
        root: Path,
        rel: str,
        data: dict[str, Any],
        problems: list[Finding],
    ) -> None:
        self.folder = folder
        self.root = root
        self.rel = rel
        self.data = data
        self.problems = problems
        raw = data.get("name")
        self.name = raw if isinstance(raw, str) and raw else folder.name

    def where(self, key: str = "", file: str = SERVER_YAML) -> str:
        return _where(self.rel, file, key)

    def problem(self, rule: str, message: str, where: str, hint: str = "") -> None:
        self.problems.append(Finding(rule, message, where, hint=hint))

    def tools_json(self) -> list[dict[str, Any]] | None:
        path = self.folder / TOOLS_JSON
        if not path.is_file():
            return None
        where = self.where(file=TOOLS_JSON)
        hint = 'write tools.json as a JSON list: [{"name": ..., "description": ...}]'
        try:
            loaded = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            self.problem("tools.json", f"tools.json is not valid JSON: {exc}", where, hint)
            return None
        except OSError as exc:
            self.problem("tools.json", f"tools.json cannot be read: {exc.strerror}", where)
            return None
        return self.tool_list(loaded, TOOLS_JSON, "", hint)

    def tool_list(
        self, loaded: object, file: str, key: str, hint: str
    ) -> list[dict[str, Any]] | None:
        where = self.where(key, file)
        if not isinstance(loaded, list):
            self.problem(
                "tools.json", f"the tool list is {kind_of(loaded)}, not a list", where, hint
            )
            return None
        tools: list[dict[str, Any]] = []
        for index, item in enumerate(loaded):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                self.problem(
                    "tools.json",
                    f"tool [{index}] is not an object with a 'name'",
                    self.where(f"{key}[{index}]", file),
                    hint,
                )
                continue
            tools.append(item)
        return tools

    def test_file(self) -> TestEntry | None:
        path = self.folder / TEST_YAML
        if not path.is_file():
            return None
        data = _read_yaml(path, self.rel, TEST_YAML, self.problems)
        if not data:
            return None
        try:
            return TestFile.model_validate(data).test
        except ValidationError as exc:
            self.schema_problems(exc, TEST_YAML)
            return None

    def schema_problems(
        self,
        exc: ValidationError,
        file: str = SERVER_YAML,
        *,
        skip: tuple[tuple[str | int | None, ...], ...] = (),
        rename: Mapping[str, str] | None = None,
    ) -> None:
        for err in exc.errors(include_url=False, include_input=False):
            loc = list(err["loc"])
            if len(loc) > 1 and loc[0] == "source" and loc[1] in _SOURCE_TAGS:
                del loc[1]
            if any(_loc_matches(loc, pattern) for pattern in skip):
                continue
            path = format_loc(loc)
            head = path.split(".", 1)[0].split("[", 1)[0]
            if rename and head in rename:
                path = rename[head] + path[len(head) :]
            self.problem(
                "schema",
                f"{path}: {_explain(err)}" if path else _explain(err),
                self.where(path, file),
                hint="see the submission format in docs/registry.md",
            )

    def spec_with(
        self, spec: ServerSpec | None, git: GitSource | None, pkg: str | None
    ) -> ServerSpec | None:
        if spec is None:
            return None
        if git is not None and git.url and git.commit:
            provenance: str | None = f"git+{git.url}@{git.commit}"
        else:
            provenance = pkg
        if provenance is None or len(provenance) > 2048:
            return spec
        attestation = (spec.attestation or Attestation()).model_copy(update={"source": provenance})
        return spec.model_copy(update={"attestation": attestation})

    def finish(
        self,
        spec: ServerSpec | None,
        git: GitSource | None,
        test: TestPlan,
        tools: list[dict[str, Any]] | None,
        icon: object,
    ) -> Submission:
        return Submission(
            folder=self.folder,
            root=self.root,
            name=self.name,
            format=self.format,
            data=self.data,
            spec=spec,
            git=git,
            test=test,
            tools=tools,
            icon=icon if isinstance(icon, str) and icon else None,
            problems=tuple(self.problems),
        )


class _OurLoader(_Loader):
    def load(self) -> Submission:
        tools = self.tools()
        git = _git_from(_mapping(self.data.get("source")), "url")
        if not self.data:
            return self.finish(None, git, TestPlan(), tools, None)
        try:
            entry = SubmissionEntry.model_validate(self.data)
        except ValidationError as exc:
            self.schema_problems(exc)
            return self.finish(None, git, TestPlan(), tools, self.data.get("icon"))
        test = _plan(entry.test) if entry.test else TestPlan()
        spec = self.spec(entry, tools)
        pkg = None
        if isinstance(entry.source, PackageEntry) and entry.source.version:
            pkg = f"pkg:{entry.source.registry}/{entry.source.name}@{entry.source.version}"
        return self.finish(self.spec_with(spec, git, pkg), git, test, tools, entry.icon)

    def tools(self) -> list[dict[str, Any]] | None:
        from_json = self.tools_json()
        if "tools" not in self.data:
            return from_json
        hint = "write tools: as a list of {name, description} entries"
        listed = self.tool_list(self.data["tools"], SERVER_YAML, "tools", hint)
        if (self.folder / TOOLS_JSON).is_file():
            self.problems.append(
                Finding(
                    "tools.json",
                    "both 'tools:' and tools.json list the tools; 'tools:' is used",
                    self.where(file=TOOLS_JSON),
                    severity="warning",
                    hint="keep one of them",
                )
            )
        return listed

    def spec(self, entry: SubmissionEntry, tools: list[dict[str, Any]] | None) -> ServerSpec | None:
        source = entry.source
        if isinstance(source, GitEntry):
            source_data: dict[str, Any] = {"type": "image", "image": f"mcp/{entry.name}"}
        else:
            source_data = source.model_dump(exclude_none=True)
        fields: dict[str, Any] = {
            "id": entry.name,
            "title": entry.title,
            "description": entry.description,
            "publisher": Publisher(
                name=entry.publisher.name, url=entry.publisher.url, tier="community"
            )
            if entry.publisher
            else Publisher(name="unknown"),
            "category": entry.category or "other",
            "tags": entry.tags,
            "homepage": entry.homepage,
            "license": entry.license,
            "source": source_data,
            "secrets": [s.model_dump(exclude_none=True) for s in entry.secrets],
            "config_schema": entry.config_schema,
            "env": entry.env,
            "args": entry.args,
            "volumes": entry.volumes,
            "tools": _tool_metas(tools or []),
            "per_session": entry.per_session,
        }
        if entry.network is not None:
            fields["network"] = entry.network
        try:
            return ServerSpec.model_validate(fields)
        except ValidationError as exc:
            self.schema_problems(exc, skip=_LINTED_LOCS, rename={"id": "name"})
            return None


class _DockerLoader(_Loader):
    format: Literal["mcpkit", "docker"] = "docker"

    def load(self) -> Submission:
        tools = self.tools_json()
        origin = self.where()
        spec, warnings = convert_docker(self.data, origin=origin, tools=tools)
        for warning in warnings:
            text = warning.removeprefix(f"{origin}: {self.name}: ")
            # secret.name reports renamed secrets as errors with the expected form.
            if "renamed to" in text and text.startswith("secret "):
                continue
            skipped = text.startswith("skipped: ")
            self.problems.append(
                Finding(
                    "docker.convert",
                    "server.yaml cannot become a server spec: " + text.removeprefix("skipped: ")
                    if skipped
                    else text,
                    origin,
                    severity="error" if skipped else "warning",
                    hint="fix the entry so that mcpkit can run it safely",
                )
            )
        source = _mapping(self.data.get("source"))
        git = _git_from(source, "project")
        test = self.plan(spec)
        return self.finish(
            self.spec_with(spec, git, None),
            git,
            test,
            tools,
            _mapping(self.data.get("about")).get("icon"),
        )

    def plan(self, spec: ServerSpec | None) -> TestPlan:
        config_block = _mapping(self.data.get("config"))
        by_env = {s.env: s.name for s in spec.secrets if s.env} if spec else {}
        secrets: dict[str, str] = {}
        for item in config_block.get("secrets") or []:
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                continue
            env = item.get("env")
            name: str = item["name"]
            if isinstance(env, str):
                name = by_env.get(env, name)
            example = item.get("example")
            secrets[name] = str(example) if example not in (None, "") else "example"
        config: dict[str, Any] = {}
        parameters = _mapping(config_block.get("parameters"))
        for key, prop in _mapping(parameters.get("properties")).items():
            prop_map = _mapping(prop)
            for pick in ("example", "default"):
                if pick in prop_map:
                    config[str(key)] = prop_map[pick]
                    break
        given = self.test_file()
        if given is None:
            return TestPlan(config=config, secrets=secrets)
        plan = _plan(given)
        return TestPlan(
            config=config | plan.config,
            secrets=secrets | plan.secrets,
            timeout=plan.timeout,
            tools=plan.tools,
            calls=plan.calls,
        )


def convert_docker(
    data: Mapping[str, Any], *, origin: str, tools: list[dict[str, Any]] | None
) -> tuple[ServerSpec | None, list[str]]:
    """A Docker-format ``server.yaml`` as a spec (see ``convert_server_yaml``)."""
    from mcpkit.catalog.docker_format import convert_server_yaml

    return convert_server_yaml(data, origin=origin, tools=tools)


# --- helpers ------------------------------------------------------------------------


def _is_docker(data: Mapping[str, Any]) -> bool:
    source = data.get("source")
    if isinstance(source, Mapping) and "type" in source:
        return False
    return (
        "about" in data or "meta" in data or (isinstance(source, Mapping) and "project" in source)
    )


def _read_yaml(path: Path, rel: str, file: str, problems: list[Finding]) -> dict[str, Any]:
    origin = _where(rel, file, "")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            f"{path} cannot be read: {exc.strerror}", hint="check the file's permissions"
        ) from exc
    try:
        return decode_document(raw, origin=origin)
    except CatalogFormatError as exc:
        cause = exc.__cause__
        where = origin
        if isinstance(cause, yaml.MarkedYAMLError):
            mark = cause.problem_mark or cause.context_mark
            if mark is not None:
                where = f"{origin}:{mark.line + 1}"
        message = exc.message.removeprefix(f"{origin}: ").replace("catalog", file)
        problems.append(
            Finding(
                "yaml",
                message,
                where,
                hint=f"fix the YAML syntax of {file}",
            )
        )
        return {}


def _git_from(source: Mapping[str, Any], url_key: str) -> GitSource | None:
    url = source.get(url_key)
    if url_key == "url" and source.get("type") != "git":
        return None
    if not isinstance(url, str) or not url:
        return None
    commit = source.get("commit")
    directory = source.get("directory")
    dockerfile = source.get("dockerfile")
    return GitSource(
        url=url,
        commit=str(commit) if commit is not None else "",
        directory=directory if isinstance(directory, str) and directory else ".",
        dockerfile=dockerfile if isinstance(dockerfile, str) and dockerfile else "Dockerfile",
    )


def _plan(entry: TestEntry) -> TestPlan:
    return TestPlan(
        config=dict(entry.config),
        secrets=dict(entry.secrets),
        timeout=entry.timeout,
        tools=entry.tools,
        calls=tuple(SmokeCall(c.tool, dict(c.arguments)) for c in entry.calls),
    )


def _tool_metas(tools: list[dict[str, Any]]) -> list[ToolMeta]:
    metas: list[ToolMeta] = []
    for item in tools:
        name = item.get("name")
        if not isinstance(name, str) or not name:
            continue
        description = item.get("description")
        hint = _mapping(item.get("annotations")).get("readOnlyHint")
        metas.append(
            ToolMeta(
                name=name,
                description=description if isinstance(description, str) else "",
                read_only=hint if isinstance(hint, bool) else None,
            )
        )
    return metas


def _rel(folder: Path, root: Path) -> str:
    try:
        rel = folder.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return folder.as_posix()
    return "" if rel == "." else rel


def _where(rel: str, file: str, key: str) -> str:
    path = f"{rel}/{file}" if rel else file
    return f"{path}:{key}" if key else path


def _loc_matches(loc: list[int | str], pattern: tuple[str | int | None, ...]) -> bool:
    if len(loc) < len(pattern):
        return False
    return all(p is None or p == part for p, part in zip(pattern, loc, strict=False))


def _explain(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown field (check the spelling, or remove it)"
    if kind == "missing":
        return "is required"
    if kind == "union_tag_not_found":
        return "needs a 'type': one of package, git, image, remote"
    if kind == "union_tag_invalid":
        tag = (err.get("ctx") or {}).get("tag", "?")
        return f"unknown type {tag!r} (expected package, git, image or remote)"
    return re.sub(r"^Value error, ", "", str(err["msg"]))


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}

"""Server specs: what a catalog says about one MCP server.

A spec has exactly one *source* (``image``, ``package``, ``remote`` or ``command``),
discriminated by its ``type`` field. Everything in a spec is untrusted input from
a catalog: the models validate shapes and names, and later layers (runtimes) decide
what a spec may actually do. Models are strict about unknown keys so that a typo in
a catalog is reported instead of silently ignored.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Server ids: lower-case, may carry a reverse-DNS namespace (``io.github.foo/bar``).
SERVER_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._/-]{0,127}$")
#: Secret names are ``<server>.<key>`` (the key may itself contain dots or dashes).
SECRET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")
#: Environment variable names a spec may set.
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Config keys (JSON Schema property names a template may refer to).
CONFIG_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

Tier = Literal["official", "verified", "community", "local"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ImageSource(_Model):
    """An OCI image; ``image`` may be pinned by digest (``repo@sha256:…``)."""

    type: Literal["image"] = "image"
    image: str = Field(min_length=1)
    #: Replaces the image's CMD (templated like ``ServerSpec.args``); never its entrypoint.
    command: list[str] = Field(default_factory=list)

    @property
    def digest(self) -> str | None:
        """The pinned digest, if the reference has one."""
        _, sep, digest = self.image.partition("@")
        return digest if sep else None


class PackageSource(_Model):
    """A PyPI or npm package, installed into its own environment by the process runtime."""

    type: Literal["package"] = "package"
    registry: Literal["pypi", "npm"]
    name: str = Field(min_length=1)
    version: str | None = None
    #: ``sha256:<hex>`` hashes of the artifacts that may be installed, when pinned.
    hashes: list[str] = Field(default_factory=list)
    #: The executable the package installs; defaults to the package's own name.
    entrypoint: str | None = None

    @field_validator("hashes")
    @classmethod
    def _hash_form(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"sha256:[0-9a-f]{64}", item):
                raise ValueError(f"hash {item!r} is not of the form sha256:<64 hex digits>")
        return value

    @property
    def requirement(self) -> str:
        """``name==version`` (PyPI) or ``name@version`` (npm), or the bare name."""
        if not self.version:
            return self.name
        return (
            f"{self.name}=={self.version}"
            if self.registry == "pypi"
            else (f"{self.name}@{self.version}")
        )


class OAuthSpec(_Model):
    """How a remote server's OAuth is set up, when it needs one."""

    scopes: list[str] = Field(default_factory=list)
    #: A pre-registered client id, for servers without dynamic client registration.
    client_id: str | None = None
    authorization_server: str | None = None


#: Header names: RFC 9110 tokens.
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")
#: Headers a catalog may not set: the transport owns them (framing, routing, sessions,
#: credentials the OAuth client manages, and Host, which would redirect the request).
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "accept",
        "cookie",
        "proxy-authorization",
        "mcp-session-id",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "last-event-id",
    }
)


class RemoteSource(_Model):
    """A hosted MCP server reached over HTTP(S).

    ``url`` may use config templates (``https://{{region}}.example.com/mcp``) but never
    secrets: URLs end up in logs and errors. Secrets go in ``headers``.
    """

    type: Literal["remote"] = "remote"
    url: str = Field(pattern=r"^https?://", max_length=2048)
    transport: Literal["streamable-http", "sse"] = "streamable-http"
    #: Header templates; values may refer to secrets as ``{{secret:<name>}}``.
    headers: dict[str, str] = Field(default_factory=dict)
    oauth: OAuthSpec | None = None

    @field_validator("url")
    @classmethod
    def _no_secret_in_url(cls, value: str) -> str:
        if "{{secret:" in value.replace(" ", ""):
            raise ValueError("a remote url may not contain secrets; put them in headers")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, template in value.items():
            if not HEADER_NAME_RE.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
            if name.lower() in RESERVED_HEADERS or name.lower().startswith("mcp-param-"):
                raise ValueError(f"header {name!r} is set by mcpkit and may not be overridden")
            if "\r" in template or "\n" in template:
                raise ValueError(f"header {name!r} has a line break in its value")
        return value


class CommandSource(_Model):
    """A local executable (servers under development, or imported from a client config)."""

    type: Literal["command"] = "command"
    command: str = Field(min_length=1)
    cwd: str | None = None


Source = Annotated[
    ImageSource | PackageSource | RemoteSource | CommandSource, Field(discriminator="type")
]


class SecretRef(_Model):
    """A secret the server needs, and how it reaches the server (env var, file, or only
    through ``{{secret:NAME}}`` templates such as a remote server's headers)."""

    name: str
    env: str | None = None
    #: A path inside the server's sandbox where the value is written as a file.
    file: str | None = None
    description: str = ""
    required: bool = True

    @field_validator("name")
    @classmethod
    def _name_form(cls, value: str) -> str:
        if not SECRET_NAME_RE.fullmatch(value):
            raise ValueError(
                f"secret name {value!r} must be <server>.<key> in lower case, e.g. github.token"
            )
        return value

    @field_validator("env")
    @classmethod
    def _env_form(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid environment variable name")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> SecretRef:
        # Neither is allowed: the secret is then only rendered into templates (a remote
        # server's headers), never handed to a process.
        if self.env is not None and self.file is not None:
            raise ValueError(f"secret {self.name!r} may have an env or a file target, not both")
        return self


class Volume(_Model):
    """A mount the spec declares. ``source`` is a template (usually a config key)."""

    source: str
    #: An absolute path, or the same template as ``source`` (mount at the same path).
    target: str = Field(pattern=r"^(/|\{\{)")
    read_only: bool = True


class NetworkPolicy(_Model):
    """Network a server may use: none, some hosts, or any."""

    mode: Literal["none", "hosts", "any"] = "none"
    hosts: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _hosts_only_with_mode(self) -> NetworkPolicy:
        if self.hosts and self.mode != "hosts":
            raise ValueError("hosts may only be listed when mode is 'hosts'")
        return self


class ToolMeta(_Model):
    """Static metadata about a tool, known before the server runs."""

    name: str = Field(min_length=1)
    description: str = ""
    read_only: bool | None = None


class Publisher(_Model):
    """Who publishes a server, and how much they are trusted."""

    name: str = Field(min_length=1)
    url: str | None = None
    tier: Tier = "community"


class Attestation(_Model):
    """The signer a server's image or package is expected to be signed by."""

    key: str | None = None
    identity: str | None = None
    #: The source a build provenance must name (``pkg:pypi/NAME@VERSION``,
    #: ``git+https://github.com/ORG/REPO@COMMIT``), checked when the trust policy
    #: requires ``source``.
    source: str | None = Field(default=None, max_length=2048)


class ServerSpec(_Model):
    """One server a catalog offers."""

    id: str
    title: str = Field(min_length=1)
    description: str = ""
    publisher: Publisher = Field(default_factory=lambda: Publisher(name="unknown"))
    category: str = "other"
    tags: list[str] = Field(default_factory=list)
    homepage: str | None = None
    license: str | None = None
    source: Source
    secrets: list[SecretRef] = Field(default_factory=list)
    #: JSON Schema (type object) for the per-profile config of this server.
    config_schema: dict[str, Any] = Field(default_factory=dict)
    #: Environment templates: ``{{key}}`` refers to a config key.
    env: dict[str, str] = Field(default_factory=dict)
    #: Argument templates appended after the source's executable.
    args: list[str] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    network: NetworkPolicy = Field(default_factory=NetworkPolicy)
    tools: list[ToolMeta] = Field(default_factory=list)
    #: One server instance per client session instead of one shared instance.
    per_session: bool = False
    attestation: Attestation | None = None

    @field_validator("id")
    @classmethod
    def _id_form(cls, value: str) -> str:
        if not SERVER_ID_RE.fullmatch(value):
            raise ValueError(
                f"server id {value!r} must be lower case letters, digits, '.', '_', '-' or '/'"
            )
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not ENV_NAME_RE.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid environment variable name")
        return value

    @field_validator("config_schema")
    @classmethod
    def _schema_is_object(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value and value.get("type", "object") != "object":
            raise ValueError("config_schema must be a JSON Schema of type object")
        if value:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            try:
                Draft202012Validator.check_schema(value)
            except SchemaError as exc:
                raise ValueError(
                    f"config_schema is not a valid JSON Schema: {exc.message}"
                ) from exc
        return value

    @property
    def is_remote(self) -> bool:
        """True when the server is hosted elsewhere and reached over HTTP."""
        return self.source.type == "remote"

    @property
    def secret_names(self) -> list[str]:
        """Names of every secret the server declares."""
        return [s.name for s in self.secrets]

    def to_data(self) -> dict[str, Any]:
        """Plain data for YAML/JSON output, without defaults that say nothing."""
        return self.model_dump(mode="json", exclude_defaults=True, by_alias=True) | {
            "id": self.id,
            "title": self.title,
            "source": {"type": self.source.type}
            | self.source.model_dump(mode="json", exclude_defaults=True),
        }

"""User settings: ``config.toml`` in the config directory.

Settings are small and rarely written, so they live in a TOML file people can edit
by hand (and ``mcpkit config set`` writes atomically), not in the state database.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mcpkit.errors import InvalidInputError


class SecretsSettings(BaseModel):
    """Which secret store to use, and how it is set up."""

    model_config = ConfigDict(extra="forbid")

    #: ``file`` (encrypted file, default), ``keyring``, ``env`` (read-only) or ``command``.
    store: Literal["file", "keyring", "env", "command"] = "file"
    #: For ``file``: where the encryption key comes from. ``auto`` tries the OS keyring,
    #: then ``MCPKIT_SECRETS_PASSPHRASE``, then a 0600 key file beside the config.
    key_source: Literal["auto", "keyring", "passphrase", "keyfile"] = "auto"
    #: For ``command``: argv templates; ``{name}`` is replaced by the storage key.
    #: ``get`` prints the value on stdout; ``set`` reads it on stdin.
    get_command: list[str] = Field(default_factory=list)
    set_command: list[str] = Field(default_factory=list)
    delete_command: list[str] = Field(default_factory=list)
    list_command: list[str] = Field(default_factory=list)


class GatewaySettings(BaseModel):
    """Defaults for ``mcpkit gateway run`` (its flags override them)."""

    model_config = ConfigDict(extra="forbid")

    #: Run package and command servers with no sandbox when bubblewrap cannot be had.
    allow_unsandboxed: bool = False
    #: ``auto`` (bubblewrap when it works), ``bwrap`` (required) or ``none`` (never; needs
    #: ``allow_unsandboxed``).
    sandbox: Literal["auto", "bwrap", "none"] = "auto"
    #: Block tool calls whose arguments or results look like secrets.
    block_secrets: bool = True
    #: Append one line per tool call to the call log (``calls.jsonl`` in the state dir).
    log_calls: bool = False
    #: Start servers only when first needed.
    lazy: bool = False
    #: Stop a server idle this many seconds (0: never).
    idle_timeout: float = Field(default=0.0, ge=0)
    #: External before/after hooks (``[[gateway.hooks]]`` tables; see docs/interceptors.md).
    hooks: list[dict[str, Any]] = Field(default_factory=list)
    #: Which runtime servers use: ``auto`` (image servers in containers, the rest as
    #: processes), or force ``process`` or ``docker`` for every server.
    runtime: Literal["auto", "process", "docker"] = "auto"


class DockerSettings(BaseModel):
    """How the docker runtime runs containers (``[docker]``; gateway flags override)."""

    model_config = ConfigDict(extra="forbid")

    #: Memory limit of each container (no swap on top): ``512m``, ``1g``...
    memory: str = "512m"
    #: CPUs each container may use.
    cpus: float = Field(default=1.0, gt=0)
    #: Most processes and threads in each container.
    pids: int = Field(default=256, ge=8)
    #: ``never`` pull images at run time (the default), pull when ``missing``, or ``always``.
    pull: Literal["never", "missing", "always"] = "never"
    #: Host folders under which a server's declared writable mounts may be writable.
    allowed_roots: list[str] = Field(default_factory=list)
    #: Most containers one gateway keeps running.
    max_containers: int = Field(default=32, ge=1)
    #: Most containers being started at once.
    parallel_starts: int = Field(default=4, ge=1)
    #: The network of servers whose spec allows network (``bridge`` or ``host``).
    network_mode: Literal["bridge", "host"] = "bridge"


class RemoteSettings(BaseModel):
    """How the gateway reaches remote servers (``[remote]``; gateway flags override)."""

    model_config = ConfigDict(extra="forbid")

    #: Lift the SSRF guard: allow http:// and loopback, private and link-local addresses.
    #: For testing servers on this machine only (``--allow-insecure-remote``).
    allow_insecure: bool = False
    #: Private networks (CIDR) remote servers may be in although not public, e.g. a
    #: company's ``10.20.0.0/16``; HTTPS is still required and metadata addresses refused.
    allow_networks: list[str] = Field(default_factory=list)

    @field_validator("allow_networks")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not a network (CIDR such as 10.20.0.0/16)") from None
        return value

    #: Seconds to open a connection to a remote server.
    connect_timeout: float = Field(default=10.0, gt=0)
    #: Seconds a remote server may take to answer one request.
    request_timeout: float = Field(default=120.0, gt=0)


class OAuthSettings(BaseModel):
    """How ``mcpkit oauth authorize`` runs, and how the gateway keeps tokens fresh."""

    model_config = ConfigDict(extra="forbid")

    #: The loopback port of the redirect listener (0: a free port each time). A fixed port
    #: keeps one redirect URI, which servers without dynamic registration need.
    redirect_port: int = Field(default=0, ge=0, le=65535)
    #: Open the authorization URL in a browser when one is available.
    open_browser: bool = True
    #: Refresh an access token this many seconds before it expires.
    refresh_skew: float = Field(default=60.0, ge=0)


class RegistrySettings(BaseModel):
    """How mcpkit talks to OCI registries (credentials come from the docker config)."""

    model_config = ConfigDict(extra="forbid")

    #: Registries (``host[:port]``) spoken to over plain HTTP, besides loopback ones,
    #: which always are (as docker does).
    insecure: list[str] = Field(default_factory=list)
    #: Seconds one registry request may take.
    timeout: float = Field(default=30.0, gt=0)


class TrustSettings(BaseModel):
    """What is trusted, and what happens when it changes (``[trust]``)."""

    model_config = ConfigDict(extra="forbid")

    #: A tool whose definition differs from the approved one, or that has no approval:
    #: ``block`` it (not listed, calls refused) or ``warn`` (served, with a warning).
    #: A trust policy rule that sets ``tool_changes`` wins for the servers it matches.
    tool_changes: Literal["block", "warn"] = "block"


class Settings(BaseModel):
    """Everything ``config.toml`` can hold."""

    model_config = ConfigDict(extra="forbid")

    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    docker: DockerSettings = Field(default_factory=DockerSettings)
    remote: RemoteSettings = Field(default_factory=RemoteSettings)
    oauth: OAuthSettings = Field(default_factory=OAuthSettings)
    trust: TrustSettings = Field(default_factory=TrustSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)


def load_settings(path: Path) -> Settings:
    """Read settings; a missing file means defaults, a broken one is an error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return Settings.model_validate(tomllib.loads(raw.decode()))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"{path} is not valid TOML: {exc}", hint=f"fix or remove {path}"
        ) from exc
    except ValidationError as exc:
        raise InvalidInputError(
            f"{path} has invalid settings: {_first_error(exc)}",
            hint="see 'mcpkit config ls' for the known settings",
        ) from exc


def save_settings(path: Path, settings: Settings) -> None:
    """Write settings atomically (temp file + rename), mode 0600."""
    data: dict[str, Any] = settings.model_dump(mode="json", exclude_defaults=True)
    atomic_write(path, tomli_w.dumps(data).encode())


def atomic_write(path: Path, content: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``content`` so readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])

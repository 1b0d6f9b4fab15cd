"""One client server becomes one carried spec: its source, env, secrets and mounts.

The rules are described in :mod:`mcpkit.profiles.client_import`; this module holds the
conversion of a single server (:class:`Converter`), pure apart from reading which host
paths exist.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mcpkit.catalog.model import RESERVED_HEADERS, ServerSpec
from mcpkit.clients.entries import ClientServer
from mcpkit.errors import InvalidInputError
from mcpkit.profiles.secret_detect import (
    Reference,
    credential_name,
    references,
    secret_part,
    token_span,
    url_secret,
)
from mcpkit.runtime.plan import TEMPLATE_RE
from mcpkit.secrets.base import MAX_VALUE_BYTES

_CODE = "client-import"
#: Env vars the process runtime sets itself; ``PATH=${env:PATH}`` adds nothing.
_RUNTIME_ENV = frozenset({"PATH", "HOME", "LANG"})
_ASSIGNMENT = re.compile(r"^-{0,2}(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>.*)$", re.S)
_FLAG = re.compile(r"^-{1,2}(?P<name>[A-Za-z][A-Za-z0-9_.-]*)$")


@dataclass(frozen=True)
class ImportContext:
    client: str
    profile: str
    origin: str | None
    home: str | None
    project: Path | None


def _secret_key(text: str) -> str:
    key = re.sub(r"[^a-z0-9_-]+", "_", text.lower()).strip("_-")
    return key or "secret"


class Converter:
    """One client server → one spec, the secret values to store, notes."""

    def __init__(self, sid: str, server: ClientServer, context: ImportContext) -> None:
        self.sid = sid
        self.server = server
        self.ctx = context
        self.env: dict[str, str] = {}
        self.refs: dict[str, dict[str, Any]] = {}
        self.values: dict[str, str] = {}
        self.needed: list[str] = []
        self.notes: list[str] = []
        self._declared: dict[tuple[str, str], str] = {}
        self._literals: dict[str, str] = {}

    @property
    def where(self) -> str:
        return f"server {self.server.name!r} of {self.ctx.client}"

    def spec(self) -> ServerSpec:
        server = self.server
        if server.disabled:
            self.notes.append(
                f"{self.sid}: disabled in {self.ctx.client}; imported all the same (remove it "
                f"with 'mcpkit profile server rm {self.sid} --profile {self.ctx.profile}')"
            )
        data: dict[str, Any] = {
            "id": self.sid,
            "title": server.name or self.sid,
            "description": f"imported from {self.ctx.client}"
            + (f" ({self.ctx.origin})" if self.ctx.origin else ""),
            "publisher": {"name": "local", "tier": "local"},
            "category": "custom",
            "tags": ["imported"],
        }
        if server.command is not None and server.url is None:
            data |= self._command()
        elif server.url is not None and server.command is None:
            data |= self._remote()
        else:
            both = "both a command and" if server.url else "neither a command nor"
            raise self._error(f"has {both} a url")
        data["secrets"] = list(self.refs.values())
        if self._literals:
            data["config_schema"] = {
                "type": "object",
                "properties": {
                    key: {
                        "type": "string",
                        "const": text,
                        "default": text,
                        "description": f"literal text from {self.ctx.client}",
                    }
                    for key, text in self._literals.items()
                },
            }
        try:
            return ServerSpec.model_validate(data)
        except ValidationError as exc:
            # loc and msg only: pydantic's full text quotes input values.
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise self._error(f"cannot be carried: {where}: {err['msg']}") from None

    # -- sources ----------------------------------------------------------------------

    def _command(self) -> dict[str, Any]:
        server = self.server
        assert server.command is not None  # noqa: S101 - checked by the caller
        command = self._fixed(server.command, "its command")
        cwd = self._fixed(server.cwd, "its cwd") if server.cwd else None
        args: list[str] = []
        previous = ""
        for i, raw in enumerate(server.args, 1):
            arg = self._fixed(raw, f"argument {i}")
            self._no_secret_arg(i, arg, previous)
            args.append(self._literal(arg))
            previous = arg
        for key, value in server.env.items():
            self._env_value(key, value)
        return {
            "source": {"type": "command", "command": shlex.join([command]), "cwd": cwd},
            "args": args,
            "env": self.env,
            "network": {"mode": "any"},
            "volumes": [
                {"source": str(folder), "target": str(folder), "read_only": True}
                for folder in host_folders(server.args, cwd)
            ],
        }

    def _remote(self) -> dict[str, Any]:
        server = self.server
        assert server.url is not None  # noqa: S101 - checked by the caller
        url = self._fixed(server.url, "its url")
        why = url_secret(url)
        if why is not None:
            raise self._error(
                f"cannot be imported: its url carries a credential ({why}); mcpkit keeps "
                "secrets out of URLs, which end up in logs",
                hint=f"pass the credential in a header in {self.ctx.client}'s config "
                "if the server accepts one, then import again",
            )
        if server.env or server.args:
            self.notes.append(f"{self.sid}: a remote server; its env and args were not imported")
        headers: dict[str, str] = {}
        for name, value in server.headers.items():
            lower = name.lower()
            if lower in RESERVED_HEADERS or lower.startswith("mcp-param-"):
                if credential_name(name):
                    raise self._error(
                        f"cannot be imported: its header {name!r} is managed by mcpkit's "
                        "transport and cannot carry a credential",
                        hint="use an Authorization or X-Api-Key header if the server accepts one",
                    )
                self.notes.append(f"{self.sid}: header {name!r} dropped (mcpkit sets it itself)")
                continue
            headers[name] = self._template(name, self._fixed_predefined(value), header=True)
        transport = "sse" if server.transport == "sse" else "streamable-http"
        source = {"type": "remote", "url": self._literal(url), "transport": transport}
        return {"source": source | {"headers": headers}}

    # -- values -----------------------------------------------------------------------

    def _env_value(self, key: str, raw: str) -> None:
        value = self._fixed_predefined(raw)
        found = references(value)
        if found:
            start, end, ref = found[0]
            whole = len(found) == 1 and (start, end) == (0, len(value))
            if whole and ref.kind == "env" and ref.name == key and key in _RUNTIME_ENV:
                self.notes.append(f"{self.sid}: env {key} dropped (mcpkit's runtime sets it)")
                return
            if whole:
                name, new = self._declare(ref)
                if new:
                    self.refs[name] = self._ref(name, env=key, required=ref.default is None)
                    self._default(key, ref)
                    return
            self.env[key] = self._template(key, value, header=False)
            return
        part = secret_part(key, value)
        if part is not None and part[0] == part[2] == "":
            name, new = self._store(key, value)
            if new:
                self.refs[name] = self._ref(name, env=key)
                return
        self.env[key] = self._template(key, value, header=False)

    def _default(self, key: str, ref: Reference) -> None:
        """``${X:-default}``: the default is the env value, the secret overrides it."""
        if not ref.default:
            return
        if secret_part(key, ref.default) is None:
            self.env[key] = self._literal(ref.default)
        else:
            self.notes.append(f"{self.sid}: the default of {ref.text} looks secret; not kept")

    def _template(self, key: str, value: str, *, header: bool) -> str:
        """An env or header template: references and secrets as ``{{secret:…}}``."""
        found = references(value)
        if not found:
            part = secret_part(key, value, header=header)
            if part is None:
                return self._literal(value)
            before, secret, after = part
            name, _ = self._store(key, secret)
            self.refs.setdefault(name, self._ref(name))
            return self._literal(before) + f"{{{{secret:{name}}}}}" + self._literal(after)
        out: list[str] = []
        pos = 0
        for start, end, ref in [*found, (len(value), len(value), None)]:
            piece = value[pos:start]
            if token_span(piece) is not None:
                raise self._error(
                    f"cannot be imported: {'header' if header else 'env'} {key!r} mixes a "
                    "reference with what looks like a literal token",
                    hint=f"keep one of them in {self.ctx.client}'s config, then import again",
                )
            out.append(self._literal(piece))
            if ref is not None:
                name, _ = self._declare(ref)
                self.refs.setdefault(name, self._ref(name))
                out.append(f"{{{{secret:{name}}}}}")
            pos = end
        return "".join(out)

    def _store(self, key: str, value: str) -> tuple[str, bool]:
        """The secret name for a literal value (reused for the same value); True if new."""
        for name, stored in self.values.items():
            if stored == value:
                return name, False
        if len(value.encode()) > MAX_VALUE_BYTES:
            raise self._error(
                f"cannot be imported: the value of {key!r} is larger than the "
                f"{MAX_VALUE_BYTES} bytes a secret may hold"
            )
        name = self._new_name(key)
        self.values[name] = value
        return name, True

    def _declare(self, ref: Reference) -> tuple[str, bool]:
        """The secret name standing for a client reference; True if new."""
        found = self._declared.get((ref.kind, ref.name))
        if found is not None:
            return found, False
        name = self._new_name(ref.name)
        self._declared[(ref.kind, ref.name)] = name
        self.needed.append(name)
        how = "asked the user for" if ref.kind == "input" else "filled in"
        self.notes.append(
            f"{self.sid}: {self.ctx.client} {how} {ref.text} itself; give mcpkit that value "
            f"as secret {name}"
        )
        return name, True

    def _new_name(self, base: str) -> str:
        key = _secret_key(base)
        taken = set(self.values) | set(self._declared.values())
        name, n = f"{self.sid}.{key}", 2
        while name in taken:
            name, n = f"{self.sid}.{key}-{n}", n + 1
        return name

    def _ref(self, name: str, *, env: str | None = None, required: bool = True) -> dict[str, Any]:
        return {"name": name, "required": required} | ({"env": env} if env else {})

    def _literal(self, text: str) -> str:
        """``text`` as a template that renders to exactly ``text``.

        Only the template-like parts are replaced, so a URL still starts with its scheme.
        """

        def carry(match: re.Match[str]) -> str:
            key = f"literal-{len(self._literals) + 1}"
            self._literals[key] = match.group(0)
            return f"{{{{{key}}}}}"

        return TEMPLATE_RE.sub(carry, text)

    # -- references and arguments -------------------------------------------------------

    def _fixed_predefined(self, value: str) -> str:
        """``value`` with VS Code's predefined variables resolved."""
        out: list[str] = []
        pos = 0
        for start, end, ref in references(value):
            if ref.kind != "predefined":
                continue
            out += [value[pos:start], self._predefined(ref)]
            pos = end
        return "".join(out) + value[pos:]

    def _fixed(self, value: str, what: str) -> str:
        """A value that must be literal (command, argument, cwd, url)."""
        value = self._fixed_predefined(value)
        found = references(value)
        if found:
            text = found[0][2].text
            raise self._error(
                f"cannot be imported: {what} uses {text}, which {self.ctx.client} fills in "
                "when it starts the server, and mcpkit cannot",
                hint=f"write the value itself there in {self.ctx.client}'s config (a secret "
                "goes in an environment variable instead), then import again",
            )
        return value

    def _predefined(self, ref: Reference) -> str:
        if ref.name == "userHome" and self.ctx.home:
            return self.ctx.home
        if ref.name in ("workspaceFolder", "workspaceRoot") and self.ctx.project:
            return str(self.ctx.project)
        if ref.name == "workspaceFolderBasename" and self.ctx.project:
            return self.ctx.project.name
        if ref.name in ("pathSeparator", "/"):
            return "/"
        raise self._error(
            f"cannot be imported: it uses {ref.text}, which mcpkit does not know here",
            hint="import the project's config with --project from the project's folder, or "
            f"write the path itself in {self.ctx.client}'s config",
        )

    def _no_secret_arg(self, index: int, arg: str, previous: str) -> None:
        assignment = _ASSIGNMENT.match(arg)
        flag = _FLAG.match(previous)
        why = None
        if token_span(arg) is not None:
            why = "what looks like a token"
        elif assignment and _strict_secret(assignment["name"], assignment["value"]):
            why = f"a value for {assignment['name']!r}"
        elif flag and not arg.startswith("-") and _strict_secret(flag["name"], arg):
            why = f"the value of {previous}"
        if why is not None:
            raise self._error(
                f"cannot be imported: argument {index} holds {why}; mcpkit never puts "
                "secrets on a command line, where every process on the machine can read them",
                hint=f'have the server read it from an environment variable ("env" in '
                f"{self.ctx.client}'s config), then import again",
            )

    def _error(self, what: str, *, hint: str | None = None) -> InvalidInputError:
        return InvalidInputError(f"{self.where} {what}", hint=hint, code=_CODE)


def _strict_secret(name: str, value: str) -> bool:
    """A command-line value under a name that is clearly a credential's.

    Stricter than for env values: here a false positive refuses the whole import.
    """
    return credential_name(name, strict=True) and secret_part(name, value) is not None


#: Files that mark the root of a project a script belongs to.
_PROJECT_MARKERS = ("package.json", "pyproject.toml", "setup.py", ".git", "node_modules")


def host_folders(args: Sequence[str], cwd: str | None) -> list[Path]:
    """Folders the sandbox must show (read-only) for the absolute paths an imported command names.

    A client runs ``node /home/me/proj/build/index.js`` with the whole machine visible;
    the sandbox shows nothing of ``/home``. Each absolute path an argument names (also
    as ``--flag=/path``) that exists outside ``/usr`` gives its project's root (the
    nearest folder with a project marker), else its own folder.
    """
    found: list[Path] = []
    for arg in args:
        text = arg.partition("=")[2] if arg.startswith("-") and "=" in arg else arg
        if not text.startswith("/") or "{{" in text:
            continue
        path = Path(text)
        if not path.exists() or path.is_relative_to("/usr") or path == Path("/"):
            continue
        folder = path if path.is_dir() else path.parent
        # Never climb to a home folder or a top-level one: they hold far more than a project.
        candidates = [
            p
            for p in (folder, *folder.parents)[:4]
            if len(p.parts) > 2 and p.parent != Path("/home")
        ]
        root = next(
            (p for p in candidates if any((p / m).exists() for m in _PROJECT_MARKERS)),
            folder if candidates and candidates[0] == folder else path,
        )
        if cwd and Path(cwd) == root:
            continue
        if root not in found and not any(root.is_relative_to(f) for f in found):
            found.append(root)
    return found

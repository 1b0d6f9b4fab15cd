"""``profile import --from-client``: a client's hand-written servers become a profile.

Each :class:`~mcpkit.clients.entries.ClientServer` becomes a profile server with its own
spec (tier ``local``): a ``command`` source (the command alone, its arguments in ``args``,
``cwd`` kept, network ``any`` as the client ran it, noted so the user can tighten it) or
a ``remote`` source (url, transport, headers).

Secrets (see :mod:`mcpkit.profiles.secret_detect` for what counts as one):

- a literal secret in an env value or a header is stored scoped to the imported profile
  (a scoped value cannot change what other profiles' servers get) as ``<server>.<key>``:
  ``key`` is the env var, header or referenced variable in lower case (``_``/``-`` kept,
  other characters as ``_``), ``-2``, ``-3``... on a clash; a value repeated in one
  server is stored once. The spec refers to it by ``SecretRef(env=NAME)`` for a
  whole env value, or by ``{{secret:NAME}}`` in an env or header template, the text
  around the secret (``Bearer ``) kept literally;
- a reference the client resolves itself (``${input:x}``, ``${env:X}``, ``${X}``...)
  becomes a declared secret with no value, listed in :attr:`ImportResult.needed`: the
  reference text is never stored as a value. ``${X:-default}`` is optional, with the
  default as the env value. ``PATH``/``HOME``/``LANG`` set to themselves are dropped: the
  runtime sets those;
- a secret on a command line (an argument, the URL) cannot be carried (argv and URLs are
  visible and logged): the import is refused with a hint to move it into the env.

Literal text that our templates would expand (``{{key}}``: a Go template argument, say)
is carried as the default of a config property ``literal-N`` and written as ``{{literal-N}}``;
rendering substitutes it without looking inside, so it reaches the server unchanged.

All servers are converted and validated before anything is written. Then the profile is
saved, then the secrets are stored; if storing one fails, the secrets stored so far are
removed (or their earlier values put back) and the profile removed (or the replaced one
restored). Secret values never appear in the result, in errors or in logs.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mcpkit.clients.entries import ClientServer, entry_profile
from mcpkit.errors import ConflictError, InvalidInputError, McpkitError, UsageError
from mcpkit.profiles.client_convert import Converter, ImportContext
from mcpkit.profiles.model import DEFAULT_PROFILE, Profile, ProfileServer, check_profile_name
from mcpkit.secrets.service import storage_key

if TYPE_CHECKING:
    from mcpkit.app import App

log = logging.getLogger(__name__)

_CODE = "client-import"


@dataclass(frozen=True)
class ImportResult:
    """What an import did; names only, never a secret value."""

    profile: str
    #: Server ids added, in the client's order.
    servers: list[str]
    #: Secret names stored (scoped to the profile).
    secrets: list[str]
    #: ``"name: why"`` for entries not imported (our own entry).
    skipped: list[str]
    #: Secrets the spec declares but the import has no value for (the client filled them
    #: in itself): ``mcpkit secret set NAME --profile PROFILE`` before serving.
    needed: list[str] = field(default_factory=list)
    #: Things the user should know: renamed servers, network access, dropped settings.
    notes: list[str] = field(default_factory=list)
    #: True when an existing profile was replaced.
    replaced: bool = False

    def instructions(self) -> list[str]:
        """The commands that provide the needed secrets, one per line."""
        scope = "" if self.profile == DEFAULT_PROFILE else f" --profile {self.profile}"
        return [f"mcpkit secret set {shlex.quote(name)}{scope}" for name in self.needed]


def import_from_client(
    app: App,
    servers: Sequence[ClientServer],
    *,
    profile: str,
    client_id: str,
    replace: bool = False,
    source: Path | None = None,
    project: Path | None = None,
) -> ImportResult:
    """Make profile ``profile`` of the servers client ``client_id`` configures.

    ``source`` is the config file (named in each spec's description); ``project`` is the
    project folder, which resolves VS Code's ``${workspaceFolder}``. Raises
    :class:`ConflictError` when the profile exists and not ``replace``, and
    :class:`InvalidInputError` (code ``client-import``) when a server cannot be carried
    safely; nothing is written then.
    """
    from mcpkit.clients.table import get_client

    client = get_client(client_id).name
    try:
        check_profile_name(profile)
    except ValueError as exc:
        raise UsageError(str(exc), hint="choose another name with --name") from None
    exists = app.profiles.exists(profile)
    if exists and not replace:
        raise ConflictError(
            f"profile {profile!r} exists already",
            hint="pass --replace to overwrite it, or --name to import under another name",
        )
    context = ImportContext(
        client=client,
        profile=profile,
        origin=str(source) if source else None,
        home=app.environ.get("HOME"),
        project=project,
    )
    plan = _plan(servers, context)
    stored = _write(app, plan, replace=replace)
    notes = list(plan.notes)
    notes += [
        f"secret {name} already had a value in profile {profile!r}; replaced"
        for name in stored
        if stored[name]
    ]
    return ImportResult(
        profile=profile,
        servers=[s.id for s in plan.profile.servers],
        secrets=list(plan.values),
        skipped=plan.skipped,
        needed=plan.needed,
        notes=notes,
        replaced=exists,
    )


@dataclass
class _Plan:
    profile: Profile
    #: secret name -> value, stored after the profile is saved.
    values: dict[str, str]
    skipped: list[str]
    needed: list[str]
    notes: list[str]


def _plan(servers: Sequence[ClientServer], context: ImportContext) -> _Plan:
    """Convert every server (pure; raises before anything could be written)."""
    skipped: list[str] = []
    chosen: list[ClientServer] = []
    for server in servers:
        ours = entry_profile(server)
        if ours is not None:
            skipped.append(f"{server.name}: mcpkit's own gateway entry (profile {ours!r})")
        else:
            chosen.append(server)
    if not chosen:
        raise InvalidInputError(
            f"{context.client}'s config names no server to import"
            + (f" ({'; '.join(skipped)})" if skipped else ""),
            hint="add servers with 'mcpkit profile create NAME --server ID' instead",
            code=_CODE,
        )
    ids = server_ids([s.name for s in chosen])
    entries: list[ProfileServer] = []
    values: dict[str, str] = {}
    needed: list[str] = []
    notes: list[str] = []
    for server, sid in zip(chosen, ids, strict=True):
        if sid != server.name:
            notes.append(f"{server.name}: imported as {sid!r} (server ids are lower case)")
        converter = Converter(sid, server, context)
        entries.append(ProfileServer(id=sid, spec=converter.spec()))
        values.update(converter.values)
        needed += converter.needed
        notes += converter.notes
    networked = [e.id for e in entries if e.spec is not None and e.spec.source.type == "command"]
    if networked:
        notes.append(
            f"{', '.join(networked)}: network access allowed (mode any), as {context.client} "
            "ran them; restrict it in the profile's spec ('mcpkit profile export', edit "
            "'network', 'mcpkit profile import --replace')"
        )
    description = f"Imported from {context.client}" + (
        f" ({context.origin})" if context.origin else ""
    )
    profile = Profile(name=context.profile, description=description, servers=entries)
    return _Plan(profile, values, skipped, needed, notes)


def server_ids(names: Sequence[str]) -> list[str]:
    """Valid, distinct server ids for client names: lower case, ``[a-z0-9._-]``."""
    taken: set[str] = set()
    ids: list[str] = []
    for name in names:
        base = _sanitise_id(name)
        sid, n = base, 2
        while sid in taken:
            sid, n = f"{base}-{n}", n + 1
        taken.add(sid)
        ids.append(sid)
    return ids


def _sanitise_id(name: str) -> str:
    text = re.sub(r"[^a-z0-9._-]+", "-", name.lower())
    text = re.sub(r"[._-]*\.[._-]*", ".", text)  # every dot-separated part starts alnum
    text = re.sub(r"-{2,}", "-", text).strip("._-")[:64].strip("._-")
    return text or "server"


# -- writing ---------------------------------------------------------------------------------


def _write(app: App, plan: _Plan, *, replace: bool) -> dict[str, bool]:
    """Save the profile, then store the secrets; undo everything if a secret fails.

    Returns, per stored secret, whether it replaced a value stored before in that scope.
    """
    name = plan.profile.name
    # Opened before the first write, so a store that cannot open changes nothing.
    secrets = app.secrets if plan.values else None
    previous = app.profiles.get(name) if replace and app.profiles.exists(name) else None
    app.profiles.save(plan.profile, replace=replace)
    stored: list[tuple[str, str | None]] = []
    try:
        for secret, value in plan.values.items():
            assert secrets is not None  # noqa: S101 - opened above when there are values
            prior = secrets.store.get(storage_key(secret, name))
            secrets.set(secret, value, profile=name)
            stored.append((secret, prior))
    except BaseException:
        _undo(app, name, stored, previous)
        raise
    return {secret: prior is not None for secret, prior in stored}


def _undo(
    app: App, profile: str, stored: list[tuple[str, str | None]], previous: Profile | None
) -> None:
    """Best effort: the import's own failure is what the user must see."""
    for secret, prior in reversed(stored):
        try:
            if prior is None:
                app.secrets.remove(secret, profile=profile)
            else:
                app.secrets.set(secret, prior, profile=profile)
        except McpkitError as exc:
            log.warning("could not undo secret %s of profile %s: %s", secret, profile, exc.message)
    try:
        if previous is None:
            app.profiles.remove(profile)
        else:
            app.profiles.save(previous, replace=True)
    except McpkitError as exc:
        log.warning("could not undo the import of profile %s: %s", profile, exc.message)


__all__ = ["ImportResult", "import_from_client", "server_ids"]

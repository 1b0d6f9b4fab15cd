"""Locking a profile's images and packages, and running what the lock names.

:func:`lock_artifacts` fills each image or package server's :class:`Pins` with what it
resolves now (how: :mod:`mcpkit.profiles.artifact_resolve`): an image digest, or a
package version with the hash of its own artifact. A pin that already exists and
differs is kept unless ``update`` is given: the change is *refused*, and the user
approves it with ``mcpkit profile lock P --server S --update``. Remote and command
servers have nothing to lock and get no entry. Nothing is saved here: the caller saves
the returned profile.

:func:`apply_pins` turns a spec into the one the gateway must run under a lock: an
image by ``repo@digest``, a package with the locked version and hashes, which the
installer (``--require-hashes`` / the tarball check) and the build record lookup then
enforce. A catalog that pins something else than the lock is a
:class:`VerificationError`, for that server alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from mcpkit.app import App
from mcpkit.catalog.model import ImageSource, PackageSource, ServerSpec
from mcpkit.errors import RuntimeUnavailableError, UnknownServerError, VerificationError
from mcpkit.profiles.artifact_resolve import PackagePin, image_digest, package_pins
from mcpkit.profiles.model import Pins, Profile, ProfileServer
from mcpkit.runtime.engine import Engine

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")

Action = Literal["added", "unchanged", "changed", "refused"]


@dataclass(frozen=True)
class LockChange:
    """What locking did to one server's image or package pin."""

    server: str
    what: Literal["image", "package"]
    #: ``sha256:…``, or ``name==version sha256:…`` (PyPI) / ``name@version sha256:…`` (npm).
    old: str | None
    new: str | None
    action: Action
    #: Where the new value came from; for ``refused``, the command that approves it.
    detail: str = ""


def update_hint(profile: str, server: str) -> str:
    """The command that re-approves ``server``'s changed artifact in ``profile``."""
    return f"mcpkit profile lock {profile} --server {server} --update"


async def lock_artifacts(
    app: App, profile: Profile, *, update: bool, servers: Sequence[str] | None = None
) -> tuple[Profile, list[LockChange]]:
    """``profile`` with its image and package pins filled in, and what changed.

    ``servers`` limits the lock to those ids (an unknown id is an
    :class:`UnknownServerError`). A server whose spec or artifact cannot be resolved
    raises, naming it: a lock is all or nothing, and nothing is saved here anyway.
    """
    wanted = set(servers or ())
    unknown = sorted(wanted - {s.id for s in profile.servers})
    if unknown:
        raise UnknownServerError(
            f"profile {profile.name!r} has no server {unknown[0]!r}",
            hint=f"mcpkit profile show {profile.name}",
        )
    changes: list[LockChange] = []
    entries: list[ProfileServer] = []
    locker = _Locker(app, profile.name, update)
    try:
        for server in profile.servers:
            entry = server
            if not wanted or server.id in wanted:
                pins, change = await locker.lock(server)
                if change is not None:
                    changes.append(change)
                    entry = server.model_copy(update={"pins": pins})
            entries.append(entry)
    finally:
        locker.close()
    return profile.model_copy(update={"servers": entries}), changes


class _Locker:
    """One lock run: the app, the engine (opened once, if an image server needs it)."""

    def __init__(self, app: App, profile: str, update: bool) -> None:
        self.app = app
        self.profile = profile
        self.update = update
        self._engine: Engine | None = None
        self._engine_tried = False

    def engine(self) -> Engine | None:
        if not self._engine_tried:
            self._engine_tried = True
            try:
                self._engine = Engine.from_environ(self.app.environ)
            except RuntimeUnavailableError:
                self._engine = None  # a broken docker context: the registry alone decides
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()

    async def lock(self, server: ProfileServer) -> tuple[Pins, LockChange | None]:
        spec = self.app.profiles.spec_for(server)
        source = spec.source
        if isinstance(source, ImageSource):
            digest, detail = await image_digest(source, self.app.environ, self.engine())
            return self._decide_image(server, digest, detail)
        if isinstance(source, PackageSource):
            pinned = server.pins.package_version
            locations = self.app.locations
            pin = await package_pins(
                spec,
                source,
                # Without --update an already-locked version is re-checked, not replaced
                # by a newer release: only the catalog's own version moves it.
                version=source.version or (None if self.update else pinned),
                data_dir=locations.data_dir,
                cache_dir=locations.cache_dir,
                environ=self.app.environ,
            )
            return self._decide_package(server, source, pin)
        return server.pins, None

    def _decide_image(
        self, server: ProfileServer, digest: str, detail: str
    ) -> tuple[Pins, LockChange]:
        old = server.pins.image_digest
        if old is None or old == digest:
            action: Action = "added" if old is None else "unchanged"
        else:
            action = "changed" if self.update else "refused"
        if action == "refused":
            detail = self._refusal("image", digest, old, detail, server.id)
        pins = server.pins
        if action in ("added", "changed"):
            pins = pins.model_copy(update={"image_digest": digest})
        return pins, LockChange(server.id, "image", old, digest, action, detail)

    def _decide_package(
        self, server: ProfileServer, source: PackageSource, pin: PackagePin
    ) -> tuple[Pins, LockChange]:
        old_version, old_hashes = server.pins.package_version, server.pins.package_hashes
        old = package_text(source, old_version, old_hashes) if old_version or old_hashes else None
        new = package_text(source, pin.version, pin.hashes)
        detail = pin.detail
        if old is None or (old_version == pin.version and not old_hashes):
            action: Action = "added"  # nothing, or only the version, was pinned before
        elif old_version == pin.version and set(pin.hashes) <= set(old_hashes):
            action = "unchanged"
        else:
            action = "changed" if self.update else "refused"
        if action == "refused":
            detail = self._refusal("package", new, old, detail, server.id)
        pins = server.pins
        if action in ("added", "changed"):
            update = {"package_version": pin.version, "package_hashes": list(pin.hashes)}
            pins = pins.model_copy(update=update)
        shown = old if action == "unchanged" else new
        return pins, LockChange(server.id, "package", old, shown, action, detail)

    def _refusal(self, what: str, new: str, old: str | None, detail: str, server: str) -> str:
        return (
            f"the {what} is now {new} ({detail}), but profile {self.profile!r} is locked to "
            f"{old}; if the change is expected: {update_hint(self.profile, server)}"
        )


def package_text(source: PackageSource, version: str | None, hashes: Sequence[str]) -> str:
    """``name==version sha256:…`` (PyPI) or ``name@version sha256:…`` (npm)."""
    head = source.model_copy(update={"version": version}).requirement
    return " ".join([head, *sorted(hashes)])


def is_locked(spec: ServerSpec, pins: Pins) -> bool:
    """Whether what ``spec`` runs is pinned, by ``pins`` or by the spec itself.

    An image needs a digest; a package a version and artifact hashes. Remote and command
    servers have no artifact to pin, so they count as locked.
    """
    source = spec.source
    if isinstance(source, ImageSource):
        return bool(pins.image_digest or source.digest)
    if isinstance(source, PackageSource):
        version = pins.package_version or source.version
        return bool(version and (pins.package_hashes or source.hashes))
    return True


def apply_pins(spec: ServerSpec, pins: Pins, *, profile: str) -> ServerSpec:
    """The spec the gateway must run for ``spec`` under ``profile``'s ``pins``.

    No pins: ``spec`` unchanged. Raises :class:`VerificationError` (``lock-mismatch``)
    when the catalog pins another digest, version or artifact than the lock, and
    (``lock-invalid``) when the lock itself is malformed.
    """
    source = spec.source
    if isinstance(source, ImageSource) and pins.image_digest:
        pin = pins.image_digest
        if not _DIGEST_RE.fullmatch(pin):
            raise _invalid(spec.id, profile, f"image digest {pin!r}")
        if source.digest == pin:
            return spec
        if source.digest is not None:
            raise _mismatch(spec.id, profile, source.digest, pin)
        image = source.model_copy(update={"image": f"{_without_tag(source.image)}@{pin}"})
        return spec.model_copy(update={"source": image})
    if isinstance(source, PackageSource) and (pins.package_version or pins.package_hashes):
        if source.version and pins.package_version and source.version != pins.package_version:
            raise _mismatch(
                spec.id, profile, source.requirement, package_text(source, pins.package_version, ())
            )
        hashes = sorted(set(pins.package_hashes))
        if source.hashes and hashes:
            hashes = sorted(set(source.hashes) & set(hashes))
            if not hashes:
                raise _mismatch(spec.id, profile, " ".join(sorted(source.hashes)),
                                " ".join(sorted(pins.package_hashes)))  # fmt: skip
        elif source.hashes:
            hashes = sorted(source.hashes)
        version = pins.package_version or source.version
        if hashes and not version:
            raise _invalid(spec.id, profile, "package hashes without a version")
        try:
            data = source.model_dump() | {"version": version, "hashes": hashes}
            package = PackageSource.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0].get("msg", "invalid") if exc.errors() else "invalid"
            raise _invalid(spec.id, profile, f"package pin ({first})") from exc
        return spec.model_copy(update={"source": package})
    return spec


def _without_tag(image: str) -> str:
    name = image.partition("@")[0]
    colon = name.rfind(":")
    return name[:colon] if colon > name.rfind("/") else name


def _mismatch(server: str, profile: str, catalog: str, locked: str) -> VerificationError:
    return VerificationError(
        f"server {server}: the catalog now pins {catalog} but profile {profile} is locked "
        f"to {locked}",
        hint=update_hint(profile, server),
        code="lock-mismatch",
    )


def _invalid(server: str, profile: str, what: str) -> VerificationError:
    return VerificationError(
        f"server {server}: profile {profile}'s lock has a malformed {what}",
        hint=update_hint(profile, server),
        code="lock-invalid",
    )

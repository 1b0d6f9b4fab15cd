"""The trust policy: which keys are accepted and what must be verified, for what.

The policy is a TOML file, ``<config dir>/trust.toml``::

    mode = "warn"                 # for everything no rule matches: enforce | warn | off
    tool_changes = "block"        # a tool whose definition changed since approval: block | warn
    require = ["signature"]       # for everything no rule matches (the default)

    [keys]                        # the keyring: a name for each trusted public key
    team = "keys/team.pub"        # a path (relative to this file, ~ allowed) or inline PEM
    vendor = '''
    -----BEGIN PUBLIC KEY-----
    ...
    -----END PUBLIC KEY-----
    '''

    [[rule]]
    name = "our registry"
    image = "127.0.0.1:5000/mcp/*"   # fnmatch patterns (a string or a list of them) on
                                     # image, catalog, publisher, package ("pypi:name",
                                     # "npm:@scope/name") and server
    keys = ["team"]                  # default: every key of the keyring; [] accepts none
    require = ["signature", "provenance", "sbom", "source"]
    mode = "enforce"                 # default: the top-level mode
    tool_changes = "warn"            # default: the top-level tool_changes

Rules are tried in the order written and the **first rule that matches wins**; a rule
matches when every pattern it gives matches (a rule with no pattern matches everything,
so put it last). When no rule matches, the top-level ``mode``, ``require`` and
``tool_changes`` apply with every key of the keyring.

``require`` names ``signature`` (a cosign signature by an accepted key), ``provenance``
(a signed SLSA provenance attestation), ``sbom`` (a signed SBOM attestation) and
``source`` (the provenance's source is the one the catalog declares; implies
``provenance``).

The keyring also holds every ``*.pub`` file of the trusted keys folder
(``<config dir>/trust/keys/``), named by file stem; a key of the same name in
``[keys]`` wins. Without a policy file the policy is mode ``off`` (nothing changes for
someone who never set one), requiring a signature by any key of the keyring when a
mode is forced (``gateway run --verify-signatures`` forces ``enforce``, see
:meth:`TrustPolicy.with_mode`).
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast, get_args

from mcpkit.errors import InvalidInputError, SigningKeyError
from mcpkit.trust.keys import PublicKey, load_public_key

Mode = Literal["enforce", "warn", "off"]
ToolChanges = Literal["block", "warn"]
Requirement = Literal["signature", "provenance", "sbom", "source"]

MODES: tuple[Mode, ...] = get_args(Mode)
TOOL_CHANGES: tuple[ToolChanges, ...] = get_args(ToolChanges)
REQUIREMENTS: tuple[Requirement, ...] = get_args(Requirement)
MATCH_FIELDS = ("image", "catalog", "publisher", "package", "server")

_TOP_FIELDS = {"mode", "tool_changes", "require", "keys", "rule"}
_RULE_FIELDS = {"name", "keys", "require", "mode", "tool_changes", *MATCH_FIELDS}
_DEFAULT_REQUIRE: frozenset[Requirement] = frozenset({"signature"})


@dataclass(frozen=True)
class Subject:
    """What a rule is matched against: one server and where it comes from."""

    server: str
    catalog: str | None = None
    publisher: str | None = None
    #: The image reference as the spec has it (tag or digest).
    image: str | None = None
    #: ``pypi:name`` or ``npm:@scope/name``.
    package: str | None = None


@dataclass(frozen=True)
class Requirements:
    """What must hold for one subject, and what to do when it does not."""

    mode: Mode
    #: The accepted keys; empty means no key is accepted.
    keys: tuple[PublicKey, ...]
    signature: bool
    provenance: bool
    sbom: bool
    #: The provenance's source must match the catalog's declared source.
    source: bool
    tool_changes: ToolChanges
    #: Which rule matched ("default" when none did), for messages.
    rule: str

    @property
    def required(self) -> list[str]:
        """The names of the required checks, in a fixed order."""
        return [name for name in REQUIREMENTS if getattr(self, name)]


@dataclass(frozen=True)
class Rule:
    """One ``[[rule]]`` of the policy file."""

    name: str
    patterns: Mapping[str, tuple[str, ...]]
    keys: tuple[str, ...] | None = None
    require: frozenset[Requirement] | None = None
    mode: Mode | None = None
    tool_changes: ToolChanges | None = None

    def matches(self, subject: Subject) -> bool:
        """Whether every pattern of the rule matches the subject's field."""
        for name, patterns in self.patterns.items():
            value = getattr(subject, name)
            if value is None or not any(fnmatch.fnmatchcase(value, p) for p in patterns):
                return False
        return True


@dataclass(frozen=True)
class TrustPolicy:
    """A loaded policy: the keyring, the defaults and the rules."""

    path: Path | None
    mode: Mode = "off"
    tool_changes: ToolChanges = "block"
    require: frozenset[Requirement] = _DEFAULT_REQUIRE
    keyring: Mapping[str, PublicKey] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    #: Set by :meth:`with_mode`: the mode of every subject, whatever rule matches.
    forced_mode: Mode | None = None

    def requirements(self, subject: Subject) -> Requirements:
        """What ``subject`` must satisfy: the first matching rule, else the defaults."""
        rule = next((r for r in self.rules if r.matches(subject)), None)
        if rule is None:
            rule = Rule(name="default", patterns={})
        names = rule.keys if rule.keys is not None else tuple(self.keyring)
        require = rule.require if rule.require is not None else self.require
        return Requirements(
            mode=self.forced_mode or rule.mode or self.mode,
            keys=tuple(self.keyring[n] for n in names),
            signature="signature" in require,
            provenance="provenance" in require or "source" in require,
            sbom="sbom" in require,
            source="source" in require,
            tool_changes=rule.tool_changes or self.tool_changes,
            rule=rule.name,
        )

    def with_mode(self, mode: Mode) -> TrustPolicy:
        """The same policy with every subject's mode forced to ``mode``."""
        return replace(self, forced_mode=mode)


# --- loading ---------------------------------------------------------------------------


class _Reader:
    """Validates one policy document, naming the file and the field in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field_name: str, problem: str, hint: str) -> InvalidInputError:
        return InvalidInputError(
            f"the trust policy {self.path} is invalid: {field_name} {problem}", hint=hint
        )

    def unknown(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        extra = sorted(set(table) - allowed)
        if extra:
            prefix = f"{where}." if where else ""
            raise self.fail(
                f"{prefix}{extra[0]}",
                "is not a known field",
                f"known fields{' of ' + where if where else ''}: {', '.join(sorted(allowed))}",
            )

    def choice(self, value: object, field_name: str, choices: Sequence[str]) -> str:
        if value not in choices:
            raise self.fail(field_name, f"is {value!r}", f"use one of: {', '.join(choices)}")
        return cast("str", value)

    def strings(self, value: object, field_name: str, *, single: bool) -> tuple[str, ...]:
        if single and isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise self.fail(
            field_name,
            f"is {value!r}",
            "give a string or a list of strings" if single else "give a list of strings",
        )

    def require(self, value: object, field_name: str) -> frozenset[Requirement]:
        names = self.strings(value, field_name, single=False)
        for name in names:
            self.choice(name, field_name, REQUIREMENTS)
        return frozenset(cast("tuple[Requirement, ...]", names))

    def key(self, name: str, value: object) -> PublicKey:
        where = f"keys.{name}"
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, "is not a path or a PEM key", "give a path or inline PEM")
        try:
            if value.lstrip().startswith("-----BEGIN"):
                return PublicKey.from_pem(value.encode(), origin=f"{self.path} {where}")
            key_path = Path(value).expanduser()
            if not key_path.is_absolute():
                key_path = self.path.parent / key_path
            return load_public_key(key_path)
        except SigningKeyError as exc:
            raise self.fail(
                where, f"cannot be used: {exc.message}", exc.hint or "fix the key"
            ) from exc

    def rule(self, index: int, table: object, keyring: Mapping[str, PublicKey]) -> Rule:
        # Counted from 1 as people count the [[rule]] tables, and named when it has a name.
        where = f"rule {index + 1}"
        if not isinstance(table, dict):
            raise self.fail(where, "is not a table", "write rules as [[rule]] tables")
        name = table.get("name", where)
        if not isinstance(name, str):
            raise self.fail(f"{where}.name", f"is {name!r}", "give the rule a string name")
        if "name" in table:
            where = f"{where} ({name!r})"
        self.unknown(table, _RULE_FIELDS, where)
        patterns = {
            f: self.strings(table[f], f"{where}.{f}", single=True)
            for f in MATCH_FIELDS
            if f in table
        }
        keys = None
        if "keys" in table:
            keys = self.strings(table["keys"], f"{where}.keys", single=False)
            for key_name in keys:
                if key_name not in keyring:
                    known = ", ".join(sorted(keyring)) or "none"
                    raise self.fail(
                        f"{where}.keys",
                        f"names the unknown key {key_name!r}",
                        f"add it under [keys] or as {key_name}.pub in the trusted keys "
                        f"folder (known keys: {known})",
                    )
        return Rule(
            name=name,
            patterns=patterns,
            keys=keys,
            require=self.require(table["require"], f"{where}.require")
            if "require" in table
            else None,
            mode=cast("Mode", self.choice(table["mode"], f"{where}.mode", MODES))
            if "mode" in table
            else None,
            tool_changes=cast(
                "ToolChanges",
                self.choice(table["tool_changes"], f"{where}.tool_changes", TOOL_CHANGES),
            )
            if "tool_changes" in table
            else None,
        )


def _keys_dir_keyring(keys_dir: Path | None) -> dict[str, PublicKey]:
    if keys_dir is None or not keys_dir.is_dir():
        return {}
    return {path.stem: load_public_key(path) for path in sorted(keys_dir.glob("*.pub"))}


def load_policy(path: Path, *, keys_dir: Path | None = None) -> TrustPolicy:
    """Read the policy at ``path``, with the trusted keys of ``keys_dir`` in its keyring.

    A missing file gives the default policy (mode ``off``); a file that cannot be read
    or is wrong raises :class:`InvalidInputError` naming the file and the field. A bad
    key file in ``keys_dir`` raises :class:`SigningKeyError` naming it.
    """
    keyring = _keys_dir_keyring(keys_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return TrustPolicy(path=None, keyring=keyring)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read the trust policy {path}: {exc.strerror or exc}",
            hint=f"check the permissions of {path}",
        ) from exc
    try:
        doc = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"the trust policy {path} is not valid TOML: {exc}", hint=f"fix or remove {path}"
        ) from exc
    reader = _Reader(path)
    reader.unknown(doc, _TOP_FIELDS, "")
    keys_table = doc.get("keys", {})
    if not isinstance(keys_table, dict):
        raise reader.fail("keys", "is not a table", "write [keys] with name = path lines")
    keyring |= {name: reader.key(name, value) for name, value in keys_table.items()}
    rules = doc.get("rule", [])
    if not isinstance(rules, list):
        raise reader.fail("rule", "is not an array of tables", "write rules as [[rule]]")
    return TrustPolicy(
        path=path,
        mode=cast("Mode", reader.choice(doc.get("mode", "warn"), "mode", MODES)),
        tool_changes=cast(
            "ToolChanges",
            reader.choice(doc.get("tool_changes", "block"), "tool_changes", TOOL_CHANGES),
        ),
        require=reader.require(doc["require"], "require") if "require" in doc else _DEFAULT_REQUIRE,
        keyring=keyring,
        rules=tuple(reader.rule(i, table, keyring) for i, table in enumerate(rules)),
    )

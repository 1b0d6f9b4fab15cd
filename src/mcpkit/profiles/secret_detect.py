"""Secrets in a client's hand-written server entries: literal values and references.

Used by ``profile import --from-client`` (:mod:`mcpkit.profiles.client_import`) to decide
which env values and headers move into the secret store, and which text the client itself
fills in at launch.

A literal value is a secret when any of these holds:

- it contains a known token format: the gateway's leak rules
  (:data:`mcpkit.gateway.leaks.RULES`), matched where they are, so the text around the
  token (``Bearer ``, ``token=``) can stay literal;
- its name is credential-like. This test is broader than the catalog's
  (:func:`mcpkit.catalog.artifact.find_secret_value`, which is also applied, so whatever
  an import keeps literal passes the checks of ``profile push``): there a false positive
  refuses a document, here it only moves a harmless value into the secret store, while a
  false negative would write a credential into a profile. A name is credential-like when
  one of its words is a strong one (``token``, ``secret``, ``password``...) or its last
  word is a weaker one (``key``, ``auth``, ``pass``, ``pat``, ``session``): ``AUTH_URL``
  and ``SESSION_TIMEOUT`` are not secrets, ``X_API_KEY`` and ``GITHUB_PAT`` are;
- it is a URL with a password in it (``postgres://user:pw@host/db``).

Under a credential-like name, paths (``~/.config/creds.json``) and words such as
``true`` or ``none`` are not secrets: they say where a secret is, or switch something.

References are the client's own substitutions, resolved when the client starts the
server: VS Code's ``${input:ID}`` (it prompts) and ``${env:NAME}``, Claude Code's and
Gemini CLI's ``${NAME}`` / ``${NAME:-default}`` / ``$NAME``, opencode's ``{env:NAME}``,
Continue's ``${{ secrets.NAME }}`` / ``${{ inputs.NAME }}``, and VS Code's predefined
variables (``${userHome}``, ``${workspaceFolder}``...). A bare ``$NAME`` counts only as
the whole value (``pa$$word`` is a literal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from mcpkit.catalog.artifact import find_secret_value
from mcpkit.gateway.leaks import RULES

_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_PATTERNS = tuple((rule, re.compile(rule.pattern)) for rule in RULES)

_STRONG_WORDS = frozenset(
    {
        "token",
        "tokens",
        "secret",
        "secrets",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "apikey",
        "accesskey",
        "privatekey",
        "credential",
        "credentials",
        "cookie",
        "cookies",
        "authorization",
        "bearer",
        "jwt",
    }
)
_LAST_WORDS = frozenset({"key", "auth", "pass", "pat", "session", "sessionid", "sid"})
_HARMLESS = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null", ""})
_PATH_PREFIXES = ("/", "~/", "./", "../", "~\\", ".\\", "..\\")
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")
#: ``Authorization`` schemes kept literal in front of the secret.
_AUTH_SCHEME = re.compile(r"^(?:Bearer|Basic|Token|Bot|Digest|ApiKey|Api-Key|OAuth)\s+", re.I)
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")

#: VS Code's predefined variables that an import can resolve (see ``predefined``).
PREDEFINED = frozenset(
    {
        "userHome",
        "workspaceFolder",
        "workspaceRoot",
        "workspaceFolderBasename",
        "pathSeparator",
        "/",
    }
)

_REFERENCE = re.compile(
    r"\$\{\{\s*(?P<continue_kind>secrets|inputs)\.(?P<continue_name>[A-Za-z0-9_.-]+)\s*\}\}"
    r"|\$\{input:(?P<input>[^}\s]+)\}"
    r"|\$\{env:(?P<vsenv>[A-Za-z_][A-Za-z0-9_]*)\}"
    r"|\$\{(?P<predefined>userHome|workspaceFolder|workspaceRoot|workspaceFolderBasename"
    r"|pathSeparator|/)\}"
    r"|\$\{(?P<var>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|\{env:(?P<openenv>[A-Za-z_][A-Za-z0-9_]*)\}"
)
_WHOLE_DOLLAR = re.compile(r"^\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class Reference:
    """Text the client substitutes when it starts the server."""

    #: The reference as written (``${input:token}``): shown to the user, never a value.
    text: str
    #: ``input`` (the client prompts), ``env`` (an environment variable),
    #: ``secret`` (the client's own secret store) or ``predefined`` (a VS Code variable).
    kind: str
    #: The input id, variable or predefined variable name.
    name: str
    #: The fallback of ``${NAME:-default}``; None when there is none.
    default: str | None = None


def credential_name(name: str, *, strict: bool = False) -> bool:
    """True when an env var, header or flag name says its value is a credential.

    ``strict`` leaves out the weaker last words (``key``, ``auth``, ``session``...).
    """
    words = [w.lower() for w in _WORD_SPLIT.split(name) if w]
    if not words:
        return False
    if any(w in _STRONG_WORDS for w in words) or (not strict and words[-1] in _LAST_WORDS):
        return True
    joined = "".join(words)
    return joined.endswith(("apikey", "accesskey", "privatekey", "token", "secret", "password"))


def token_span(value: str) -> tuple[int, int] | None:
    """Where the first known token format in ``value`` is, or None."""
    for rule, pattern in _PATTERNS:
        for match in pattern.finditer(value):
            start = match.start()
            if rule.bounded and start > 0 and value[start - 1] in _TOKEN_CHARS:
                continue
            return start, match.end()
    return None


def secret_part(name: str, value: str, *, header: bool = False) -> tuple[str, str, str] | None:
    """``(before, secret, after)`` when ``value`` (named ``name``) holds a secret, else None.

    ``before``/``after`` are the text kept literally: an ``Authorization`` scheme, or what
    surrounds a known token format. Call it only on values without references.
    """
    span = token_span(value)
    if span is not None:
        start, end = span
        return value[:start], value[start:end], value[end:]
    if credential_name(name) and _could_be_secret(value):
        scheme = _AUTH_SCHEME.match(value) if header else None
        if scheme is not None and value[scheme.end() :].strip():
            return value[: scheme.end()], value[scheme.end() :], ""
        return "", value, ""
    if _url_password(value) or find_secret_value({name: value}) is not None:
        return "", value, ""
    return None


def url_secret(url: str) -> str | None:
    """Why a URL carries a credential (in words, never the value), or None."""
    if token_span(url) is not None:
        return "it holds what looks like a token"
    if _url_password(url):
        return "it has a password in it"
    try:
        query = parse_qsl(urlsplit(url).query, keep_blank_values=False)
    except ValueError:
        return None
    for key, value in query:
        if credential_name(key) and _could_be_secret(value):
            return f"its query parameter {key!r} looks like a credential"
    return None


def references(value: str) -> list[tuple[int, int, Reference]]:
    """Every reference in ``value`` with its span, in order."""
    whole = _WHOLE_DOLLAR.match(value)
    if whole is not None:
        return [(0, len(value), Reference(value, "env", whole.group("name")))]
    found: list[tuple[int, int, Reference]] = []
    for match in _REFERENCE.finditer(value):
        groups = match.groupdict()
        text = match.group(0)
        if groups["continue_name"] is not None:
            kind = "secret" if groups["continue_kind"] == "secrets" else "input"
            ref = Reference(text, kind, groups["continue_name"])
        elif groups["input"] is not None:
            ref = Reference(text, "input", groups["input"])
        elif groups["predefined"] is not None:
            ref = Reference(text, "predefined", groups["predefined"])
        else:
            var = groups["vsenv"] or groups["var"] or groups["openenv"]
            ref = Reference(text, "env", var, groups["default"])
        found.append((match.start(), match.end(), ref))
    return found


def _could_be_secret(value: str) -> bool:
    text = value.strip()
    if text.lower() in _HARMLESS:
        return False
    return not (text.startswith(_PATH_PREFIXES) or _WINDOWS_PATH.match(text))


def _url_password(value: str) -> bool:
    if "://" not in value:
        return False
    try:
        return bool(urlsplit(value.strip()).password)
    except ValueError:
        return False

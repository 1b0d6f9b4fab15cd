"""Secret-leak detection: a maintained rule set, a fast scanner, and the blocking interceptor.

The gateway scans the arguments of every ``tools/call`` before it forwards them and every
result before it returns it (:class:`LeakBlocker`). A hit blocks the call. The matched text
is never reported, logged or put in an error: only the rule that fired and *where*
(``arguments.token``, ``content[0].text``).

How it stays fast (numbers in ``docs/interceptors.md``). The value is serialized once
with orjson and one combined pattern of every rule runs once over that text with the
Rust ``regex`` crate that ships inside pydantic-core (a documented ``core_schema``
option), which is non-backtracking and uses literal prefilters: about 1.5 µs for a 1 KB
message and 0.1 to 0.3 ms for 200 KB, against 17 µs and 5 ms for Python's ``re`` (whose
engine tries every alternative at almost every position). Walking the value in Python
instead was never faster. That first pass only says "maybe": it ignores the rules' edge
conditions (lookarounds, which the Rust engine lacks). Only on a hit does the scanner
walk the value iteratively and confirm leaf by leaf with Python's ``re``, which also
tells the rule and the JSON path.

The serialized text escapes quotes and control characters (a PEM key's newlines become
``\\n``), so patterns accept both spellings; text that is itself JSON inside a string
produces the same escaped form, and both are caught.

Binary payloads are not scanned: the ``data`` of an ``image``/``audio`` content item and
the ``blob`` of a resource are base64 of arbitrary bytes, where runs such as ``AIza…``
followed by 35 token characters turn up by chance (a few in a hundred megabytes);
scanning them would block innocent screenshots, and no text rule can see a secret drawn
inside an image anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic_core import SchemaError, SchemaValidator, core_schema

from mcpkit.gateway.interceptors import CallBlocked, CallContext

#: Values mcpkit injected that are shorter than this are not matched: an 8-character
#: minimum keeps ``"1234"`` or ``"admin"`` from blocking ordinary text.
MIN_EXTRA_VALUE_LENGTH = 8

# A token glued to more token characters is part of a longer word (a hash, an
# identifier), not a credential: rules are bounded on both sides by default.
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_NO_TAIL = r"(?![A-Za-z0-9_-])"
_NO_B64_TAIL = r"(?![A-Za-z0-9/+])"
# Escaping inside JSON, one more level for each JSON text nested in a JSON string
# (`\n`, `\\\n`, `\\\\\\\n`…): any number of backslashes.
_ESC = r"\\*"
# A line break, raw or as spelled inside (nested) JSON strings.
_NL = rf"(?:\r?\n|{_ESC}\\[rn])"
# A quote, raw or escaped.
_QUOTE = rf"{_ESC}[\"']"


def _aws_secret(aws: str, secret: str, access: str, key: str) -> str:
    return (
        rf"{aws}[_-]?{secret}[_-]?(?:{access}[_-]?)?{key}(?:{_QUOTE})?\s*[:=]\s*(?:{_QUOTE})?"
        rf"[A-Za-z0-9/+]{{40}}{_NO_B64_TAIL}"
    )


@dataclass(frozen=True, slots=True)
class Rule:
    """One kind of secret.

    ``pattern`` is a regular expression in the common subset of Python's ``re`` and
    Rust's ``regex``, except for the ``_NO_TAIL``/``_NO_B64_TAIL`` lookaheads, which the
    fast first pass drops. A ``bounded`` match must not follow a letter, digit, ``_``
    or ``-`` (checked in Python: a leading lookbehind would defeat the engine's prefix
    search).
    """

    id: str
    description: str
    pattern: str
    bounded: bool = True


#: The rule set, in the order rules are reported. Patterns follow each provider's
#: published token format; a rule that cannot be made precise (Heroku's legacy UUID
#: keys, generic "password=" assignments) is left out on purpose.
RULES: tuple[Rule, ...] = (
    Rule(
        "private-key",
        "a private key (PEM or OpenSSH or PGP)",
        # The header alone is often quoted in code and docs; key material must follow.
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        rf"(?:{_NL}|[ \t])+(?:[A-Za-z-]+: ?[^\r\n\\]*(?:{_NL}|[ \t])+)*"
        r"[A-Za-z0-9+/=]{40}",
        bounded=False,
    ),
    Rule(
        "aws-access-key-id",
        "an AWS access key id",
        r"AKIA[A-Z2-7]{16}" + _NO_TAIL + r"|ASIA[A-Z2-7]{16}" + _NO_TAIL,
    ),
    Rule(
        "aws-secret-access-key",
        "an AWS secret access key",
        # Only as an assignment: a bare 40-character base64 string is indistinguishable
        # from a hash. Accepts `aws_secret_access_key = x`, `"AWS_SECRET_ACCESS_KEY": "x"`
        # and the escaped forms inside JSON strings.
        "|".join(
            _aws_secret(*spelling)
            for spelling in (
                ("aws", "secret", "access", "key"),
                ("AWS", "SECRET", "ACCESS", "KEY"),
                ("Aws", "Secret", "Access", "Key"),
            )
        ),
        # A prefix such as TF_VAR_ or MY_ is still an assignment of the key.
        bounded=False,
    ),
    Rule(
        "github-token",
        "a GitHub token",
        r"gh[pousr]_[A-Za-z0-9]{36,251}" + _NO_TAIL,
    ),
    Rule(
        "github-pat",
        "a GitHub fine-grained personal access token",
        r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}" + _NO_TAIL,
    ),
    Rule("gitlab-token", "a GitLab personal access token", r"glpat-[A-Za-z0-9_.-]{20,}"),
    Rule(
        "slack-token",
        "a Slack token",
        r"xox[abposr]-[0-9]{1,16}-[A-Za-z0-9-]{10,}" + _NO_TAIL,
    ),
    Rule(
        "slack-webhook",
        "a Slack incoming webhook URL",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{30,}",
        bounded=False,
    ),
    Rule(
        "stripe-live-key",
        "a Stripe live secret or restricted key",
        r"sk_live_[A-Za-z0-9]{24,}" + _NO_TAIL + r"|rk_live_[A-Za-z0-9]{24,}" + _NO_TAIL,
    ),
    Rule(
        "anthropic-api-key",
        "an Anthropic API key",
        r"sk-ant-[A-Za-z0-9_-]{40,}",
    ),
    Rule(
        "openai-api-key",
        "an OpenAI API key",
        r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}"
        r"|sk-[A-Za-z0-9_-]{16,}T3BlbkFJ[A-Za-z0-9_-]{16,}",
    ),
    Rule("google-api-key", "a Google API key", r"AIza[A-Za-z0-9_-]{35}" + _NO_TAIL),
    Rule(
        "google-oauth-client-secret",
        "a Google OAuth client secret",
        r"GOCSPX-[A-Za-z0-9_-]{28}" + _NO_TAIL,
    ),
    Rule("npm-token", "an npm access token", r"npm_[A-Za-z0-9]{36}" + _NO_TAIL),
    Rule(
        "pypi-token",
        "a PyPI upload token",
        # The prefix is the base64 of the macaroon's location, pypi.org or test.pypi.org.
        r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}|pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9_-]{50,}",
    ),
    Rule(
        "sendgrid-api-key",
        "a SendGrid API key",
        r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}" + _NO_TAIL,
    ),
    Rule("twilio-api-key", "a Twilio API key", r"SK[0-9a-f]{32}" + _NO_TAIL),
    Rule(
        "huggingface-token",
        "a Hugging Face access token",
        r"hf_[A-Za-z]{34}" + _NO_TAIL + r"|api_org_[A-Za-z]{34}" + _NO_TAIL,
    ),
    Rule(
        "digitalocean-token",
        "a DigitalOcean token",
        r"dop_v1_[a-f0-9]{64}"
        + _NO_TAIL
        + r"|doo_v1_[a-f0-9]{64}"
        + _NO_TAIL
        + r"|dor_v1_[a-f0-9]{64}"
        + _NO_TAIL,
    ),
    Rule(
        "shopify-token",
        "a Shopify access token or shared secret",
        r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}" + _NO_TAIL,
    ),
    Rule(
        "azure-storage-key",
        "an Azure storage account key (connection string)",
        r"AccountKey=[A-Za-z0-9+/]{80,}={0,2}",
        bounded=False,
    ),
    Rule(
        "jwt",
        "a JSON Web Token",
        r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}" + _NO_TAIL,
    ),
)

#: The rule id reported for a value mcpkit injected itself (``extra_values``).
INJECTED_RULE_ID = "injected-secret"


@dataclass(frozen=True, slots=True)
class Finding:
    """Where a secret was seen and what kind; never the secret itself."""

    rule: str
    description: str
    #: JSON path of the leaf: ``arguments.token``, ``content[0].text``.
    path: str


class LeakScanner:
    """Finds the first secret in a JSON-like value (dicts, lists, strings, numbers…).

    ``extra_values`` are the exact secret values mcpkit injected into servers; each one
    of at least :data:`MIN_EXTRA_VALUE_LENGTH` characters is matched literally.
    """

    def __init__(self, extra_values: Iterable[str] = (), *, rules: Iterable[Rule] = RULES) -> None:
        self._rules = tuple((rule, re.compile(rule.pattern)) for rule in rules)
        values = {
            v for v in extra_values if isinstance(v, str) and len(v) >= MIN_EXTRA_VALUE_LENGTH
        }
        spellings: set[str] = set(values)
        for value in values:
            # Serialized, a value with quotes, backslashes or control characters is
            # escaped; the first pass runs on serialized text, so it needs that spelling.
            spellings.add(orjson.dumps(value)[1:-1].decode())
        self._values = tuple(sorted(values, key=lambda v: (-len(v), v)))
        alternatives = [_loose(rule.pattern) for rule, _ in self._rules]
        alternatives += [_escape(v) for v in sorted(spellings, key=lambda v: (-len(v), v))]
        self._maybe = _first_pass("|".join(alternatives)) if alternatives else None

    def scan(self, obj: Any, *, prefix: str = "") -> Finding | None:
        """The first secret in ``obj``, or None; paths in the finding start with ``prefix``."""
        maybe = self._maybe
        if maybe is None:
            return None
        if isinstance(obj, str):
            return self._locate(obj, prefix) if maybe(obj) else None
        try:
            text = orjson.dumps(_without_binary(obj)).decode()
        except TypeError:
            # Not plain JSON (a value the gateway never produces): the walk copes with it.
            return self._locate(obj, prefix)
        return self._locate(obj, prefix) if maybe(text) else None

    def _locate(self, obj: Any, prefix: str) -> Finding | None:
        maybe = self._maybe
        assert maybe is not None  # noqa: S101 - only called after the first pass hit
        for path, text in _leaves(obj, prefix):
            if not maybe(text):
                continue
            hit = self._confirm(text)
            if hit is not None:
                return Finding(rule=hit[0], description=hit[1], path=path or "$")
        return None

    def _confirm(self, text: str) -> tuple[str, str] | None:
        for rule, pattern in self._rules:
            for match in pattern.finditer(text):
                start = match.start()
                if rule.bounded and start > 0 and text[start - 1] in _TOKEN_CHARS:
                    continue
                return rule.id, rule.description
        for value in self._values:
            if value in text or orjson.dumps(value)[1:-1].decode() in text:
                return INJECTED_RULE_ID, "a secret value mcpkit injected into a server"
        return None


class LeakBlocker:
    """The interceptor that refuses calls whose arguments or results carry a secret.

    On a hit it raises :class:`CallBlocked`; a blocked result never reaches the client.
    The reason names the rule and the place, never the value.
    """

    def __init__(
        self, scanner: LeakScanner, *, arguments: bool = True, results: bool = True
    ) -> None:
        self.scanner = scanner
        self.arguments = arguments
        self.results = results

    async def before(self, ctx: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
        """``arguments`` unchanged, or :class:`CallBlocked` if one of them holds a secret."""
        if self.arguments:
            found = self.scanner.scan(arguments, prefix="arguments")
            if found is not None:
                where = found.path.removeprefix("arguments.")
                raise CallBlocked(
                    f"argument `{where}` of tool `{ctx.tool}` looks like {found.description}"
                    f" (rule {found.rule}); the call was blocked",
                    rule=found.rule,
                )
        return arguments

    async def after(self, ctx: CallContext, result: dict[str, Any]) -> dict[str, Any]:
        """``result`` unchanged, or :class:`CallBlocked` if it holds a secret."""
        if self.results:
            found = self.scanner.scan(result)
            if found is not None:
                raise CallBlocked(
                    f"the result of tool `{ctx.tool}` (server `{ctx.server}`) holds what looks"
                    f" like {found.description} at `{found.path}` (rule {found.rule});"
                    " the result was withheld",
                    rule=found.rule,
                )
        return result


def _loose(pattern: str) -> str:
    """``pattern`` without lookarounds: the Rust engine lacks them, the confirmation has them."""
    return pattern.replace(_NO_TAIL, "").replace(_NO_B64_TAIL, "")


def _escape(value: str) -> str:
    """A literal for both regex dialects: ASCII punctuation as ``\\xHH``, the rest as is."""
    return "".join(f"\\x{ord(c):02x}" if ord(c) < 128 and not c.isalnum() else c for c in value)


def _first_pass(pattern: str) -> Callable[[str], bool]:
    """A fast "could this text hold a secret?" test for ``pattern``."""
    try:
        validator = SchemaValidator(
            core_schema.str_schema(pattern=pattern, regex_engine="rust-regex")
        )
    except SchemaError:
        # A pattern the Rust engine refuses (too large, say): Python's re is slower, not wrong.
        compiled = re.compile(pattern)
        return lambda text: compiled.search(text) is not None

    def maybe(text: str) -> bool:
        # The validator accepts the string when the pattern is found anywhere in it.
        return validator.isinstance_python(text)

    return maybe


def _without_binary(obj: Any) -> Any:
    """A shallow copy of a ``CallToolResult`` without its content items' base64 payloads.

    Only the usual places (``content[i].data``, ``content[i].resource.blob``) are
    stripped here, to keep the first pass off megabytes of base64; a payload elsewhere
    is skipped by :func:`_leaves` when the first pass hits.
    """
    content = obj.get("content") if isinstance(obj, dict) else None
    if type(content) is not list:
        return obj
    # One cheap look per item first: most results carry no binary at all.
    for item in content:
        if type(item) is dict and item.get("type") in _BINARY_KINDS:
            break
    else:
        return obj
    return {**obj, "content": [_strip_item(item) for item in content]}


_BINARY_KINDS = frozenset({"image", "audio", "resource"})


def _strip_item(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    binary = _binary_field(item)
    if binary is not None:
        return {k: v for k, v in item.items() if k != binary}
    resource = item.get("resource")
    if isinstance(resource, dict) and _binary_field(resource) is not None:
        return {**item, "resource": {k: v for k, v in resource.items() if k != "blob"}}
    return item


def _leaves(obj: Any, prefix: str) -> Iterator[tuple[str, str]]:
    """Every text leaf of ``obj`` with its JSON path, depth first, skipping binary payloads.

    Dict keys are leaves too, and each string value is also offered with its key in
    JSON form (``"key":"value"``) so assignment rules (the AWS secret key) see both.
    """
    stack: list[tuple[str, Any]] = [(prefix, obj)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, dict):
            binary = _binary_field(value)
            children: list[tuple[str, Any]] = []
            for key, child in value.items():
                name = str(key)
                child_path = f"{path}.{name}" if path else name
                if name == binary:
                    continue
                # A key that is itself a secret must not end up in the reported path.
                yield (f"{path}.<key>" if path else "<key>"), name
                if isinstance(child, str):
                    yield child_path, orjson.dumps({name: child}).decode()
                children.append((child_path, child))
            stack.extend(reversed(children))
        elif isinstance(value, list | tuple):
            stack.extend(reversed([(f"{path}[{i}]", child) for i, child in enumerate(value)]))


def _binary_field(item: dict[Any, Any]) -> str | None:
    """The key of a dict that holds base64 binary (MCP image/audio data, resource blob)."""
    if item.get("type") in ("image", "audio") and isinstance(item.get("data"), str):
        return "data"
    if isinstance(item.get("blob"), str) and "uri" in item:
        return "blob"
    return None

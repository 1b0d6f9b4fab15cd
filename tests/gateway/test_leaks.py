"""Secret-leak rules, the scanner and the blocking interceptor.

Fake tokens are assembled at run time from pieces, so this file holds nothing that looks
like a live credential to secret scanners (GitHub push protection, gitleaks…).
"""

from __future__ import annotations

import base64
import random
import string
from typing import Any

import orjson
import pytest

from mcpkit.gateway.interceptors import CallBlocked, CallContext
from mcpkit.gateway.leaks import (
    INJECTED_RULE_ID,
    MIN_EXTRA_VALUE_LENGTH,
    RULES,
    LeakBlocker,
    LeakScanner,
    Rule,
)

_rng = random.Random(20260728)  # noqa: S311 - reproducible fake tokens, not keys
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"


def chars(alphabet: str, n: int) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def pem(kind: str, headers: str = "") -> str:
    body = "\n".join(chars(B64, 64) for _ in range(4))
    return f"-----BEGIN {kind}-----\n{headers}{body}\n-----END {kind}-----\n"


def jwt() -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(b'{"sub":"1234567890","name":"x"}').rstrip(b"=").decode()
    return f"{header}.{claims}.{chars(B64URL, 43)}"


# rule id -> realistic fakes it must catch
POSITIVES: dict[str, list[str]] = {
    "private-key": [
        pem("RSA " + "PRIVATE KEY"),
        pem("OPENSSH " + "PRIVATE KEY"),
        pem("EC " + "PRIVATE KEY"),
        pem("DSA " + "PRIVATE KEY"),
        pem("PRIVATE " + "KEY"),
        pem("ENCRYPTED " + "PRIVATE KEY"),
        pem("RSA " + "PRIVATE KEY", "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0011AABB\n\n"),
        pem("PGP " + "PRIVATE KEY BLOCK", "Version: GnuPG v2\n\n"),
    ],
    "aws-access-key-id": [
        "AK" + "IA" + chars(string.ascii_uppercase + "234567", 16),
        "AS" + "IA" + chars(string.ascii_uppercase + "234567", 16),
    ],
    "aws-secret-access-key": [
        "aws_secret_access_key = " + chars(B64, 40),
        "AWS_SECRET_ACCESS_KEY=" + chars(B64, 40),
        "export TF_VAR_aws_secret_access_key=" + chars(B64, 40),
        '{"aws_secret_key": "' + chars(B64, 40) + '"}',
    ],
    "github-token": ["gh" + p + "_" + chars(ALNUM, 36) for p in "pousr"],
    "github-pat": ["github" + "_pat_" + chars(ALNUM, 22) + "_" + chars(ALNUM, 59)],
    "gitlab-token": ["gl" + "pat-" + chars(ALNUM + "_-", 20)],
    "slack-token": [
        "xo" + "xb-" + "1234567890-1234567890123-" + chars(ALNUM, 24),
        "xo" + "xp-" + "1234567890-1234567890-1234567890123-" + chars(HEX, 32),
    ],
    "slack-webhook": [
        "https://hooks.slack.com/services/T"
        + chars(string.ascii_uppercase, 8)
        + "/B"
        + chars(string.ascii_uppercase, 8)
        + "/"
        + chars(ALNUM, 24)
    ],
    "stripe-live-key": ["sk" + "_live_" + chars(ALNUM, 24), "rk" + "_live_" + chars(ALNUM, 24)],
    "anthropic-api-key": ["sk-" + "ant-api03-" + chars(B64URL, 93) + "AA"],
    "openai-api-key": [
        "sk-" + "proj-" + chars(B64URL, 74) + "T3Blbk" + "FJ" + chars(B64URL, 74),
        "sk-" + chars(ALNUM, 20) + "T3Blbk" + "FJ" + chars(ALNUM, 20),
    ],
    "google-api-key": ["AI" + "za" + chars(B64URL, 35)],
    "google-oauth-client-secret": ["GOC" + "SPX-" + chars(B64URL, 28)],
    "npm-token": ["np" + "m_" + chars(ALNUM, 36)],
    "pypi-token": ["py" + "pi-" + "AgEIcHlwaS5vcmc" + chars(B64URL, 120)],
    "sendgrid-api-key": ["S" + "G." + chars(B64URL, 22) + "." + chars(B64URL, 43)],
    "twilio-api-key": ["S" + "K" + chars(HEX, 32)],
    "huggingface-token": ["h" + "f_" + chars(string.ascii_letters, 34)],
    "digitalocean-token": ["do" + "p_v1_" + chars(HEX, 64)],
    "shopify-token": ["sh" + "pat_" + chars(HEX, 32), "sh" + "pss_" + chars(HEX, 32)],
    "azure-storage-key": [
        "DefaultEndpointsProtocol=https;AccountName=acme;Account"
        "Key=" + chars(B64, 86) + "==;EndpointSuffix=core.windows.net"
    ],
    "jwt": [jwt()],
}

# rule id -> innocent look-alikes it must let through
NEGATIVES: dict[str, list[str]] = {
    "private-key": [
        'if line.startswith("-----BEGIN RSA PRIVATE KEY-----"):',
        pem("PUBLIC KEY"),
        pem("CERTIFICATE"),
    ],
    "aws-access-key-id": ["AKIA is the prefix of AWS key ids", "XAKIA" + "ABCDEFGHIJKLMNOP"],
    "aws-secret-access-key": [
        "aws_secret_access_key = YOUR_SECRET_ACCESS_KEY",
        "the sha is " + chars(HEX, 40),
    ],
    "github-token": ["tokens start with ghp_ or gho_", "ghp_" + chars(ALNUM, 20)],
    "github-pat": ["github_pat_ tokens are fine-grained"],
    "gitlab-token": ["create a glpat- token in your profile"],
    "slack-token": ["xoxo, hugs", "xoxb- is a bot token prefix"],
    "slack-webhook": ["see https://api.slack.com/messaging/webhooks and hooks.slack.com docs"],
    "stripe-live-key": ["sk" + "_test_" + chars(ALNUM, 24), "use an sk_live_ key in production"],
    "anthropic-api-key": ["keys look like sk-ant-api03-..."],
    "openai-api-key": ["pip install sk-learn", "use sk- prefixed keys", "sk-1234"],
    "google-api-key": ["AIza is how Google keys start"],
    "google-oauth-client-secret": ["GOCSPX- prefixes client secrets"],
    "npm-token": ["npm_config_cache=/tmp/npm", "npm_package_version"],
    "pypi-token": ["pypi-server", "upload with a pypi- token"],
    "sendgrid-api-key": ["SG.example.com", "SG.1.2"],
    "twilio-api-key": ["SKU-" + chars(HEX, 32), "TASK" + chars(HEX, 32)],
    "huggingface-token": ["hf_hub_download", "set HF_TOKEN=hf_..."],
    "digitalocean-token": ["dop_v1_ tokens"],
    "shopify-token": ["shpat_ means an admin API token"],
    "azure-storage-key": ["AccountKey=<your account key>"],
    "jwt": [
        "eyJhbGciOiJIUzI1NiJ9 is a JWT header",
        base64.b64encode(b'{"some": "json document"}').decode(),
    ],
}

EVERYDAY_TEXT = [
    "3f786850e387550fdab836ed7e6dc881de23001b",  # a git sha
    "123e4567-e89b-12d3-a456-426614174000",  # a UUID
    "sk- is just a prefix, and so is pk_live_",
    "The quick brown fox jumps over the lazy dog. " * 20,
    base64.b64encode(bytes(range(256)) * 4).decode(),
    "https://example.com/path?query=value&other=1",
]


def test_every_rule_has_positive_and_negative_cases() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids)), "rule ids must be unique"
    assert set(POSITIVES) == set(ids)
    assert set(NEGATIVES) == set(ids)


@pytest.mark.parametrize(
    ("rule", "token"), [(rule, token) for rule, tokens in POSITIVES.items() for token in tokens]
)
def test_each_rule_catches_its_fake_token_in_text_and_json(rule: str, token: str) -> None:
    scanner = LeakScanner()
    text = f"here you go: {token} (keep it safe)"
    assert scanner.scan(text) is not None
    found = scanner.scan({"content": [{"type": "text", "text": text}]})
    assert found is not None
    assert (found.rule, found.path) == (rule, "content[0].text")
    assert token not in repr(found)


@pytest.mark.parametrize(
    ("rule", "token"), [(rule, token) for rule, tokens in POSITIVES.items() for token in tokens]
)
def test_tokens_inside_json_text_inside_json_are_caught(rule: str, token: str) -> None:
    scanner = LeakScanner()
    nested = orjson.dumps({"config": {"value": token}}).decode()
    twice = orjson.dumps({"wrapped": nested}).decode()
    for text in (nested, twice):
        found = scanner.scan({"content": [{"type": "text", "text": text}]})
        assert found is not None
        assert found.rule == rule


@pytest.mark.parametrize(
    ("rule", "text"), [(rule, text) for rule, texts in NEGATIVES.items() for text in texts]
)
def test_look_alike_innocent_text_is_not_flagged(rule: str, text: str) -> None:
    assert LeakScanner().scan({"text": text}) is None, rule


@pytest.mark.parametrize("text", EVERYDAY_TEXT)
def test_everyday_values_are_not_flagged(text: str) -> None:
    assert LeakScanner().scan({"arguments": {"value": text}}) is None


def test_a_token_glued_to_a_longer_word_is_not_flagged() -> None:
    token = POSITIVES["npm-token"][0]
    assert LeakScanner().scan("x" + token) is None
    assert LeakScanner().scan(token + "x") is None


def test_image_audio_and_blob_payloads_are_not_scanned() -> None:
    # A Google-key-shaped run planted in base64 data: such runs occur in real images.
    planted = base64.b64encode(bytes(range(200))).decode() + POSITIVES["google-api-key"][0]
    result: dict[str, Any] = {
        "content": [
            {"type": "image", "data": planted, "mimeType": "image/png"},
            {"type": "audio", "data": planted, "mimeType": "audio/wav"},
            {"type": "resource", "resource": {"uri": "file:///a.bin", "blob": planted}},
        ],
        "structuredContent": {"thumb": {"type": "image", "data": planted}},
    }
    assert LeakScanner().scan(result) is None
    result["content"].append({"type": "text", "text": planted})
    found = LeakScanner().scan(result)
    assert found is not None
    assert found.path == "content[3].text"


def test_paths_name_nested_arguments_and_keys() -> None:
    token = POSITIVES["npm-token"][0]
    scanner = LeakScanner()
    found = scanner.scan({"a": [{"b": 1}, {"c": ["x", token]}]}, prefix="arguments")
    assert found is not None
    assert found.path == "arguments.a[1].c[1]"
    found = scanner.scan({"headers": {token: "value"}}, prefix="arguments")
    assert found is not None
    assert found.path == "arguments.headers.<key>"
    assert scanner.scan({"n": 1, "f": 2.5, "b": True, "z": None}) is None


def test_injected_values_are_matched_literally_and_short_ones_ignored() -> None:
    long_value = "correct-horse-" + "battery-staple"
    quoted = 'pa"ss\\word\n' + "x" * 8
    short = "x" * (MIN_EXTRA_VALUE_LENGTH - 1)
    scanner = LeakScanner([long_value, quoted, short])
    found = scanner.scan({"content": [{"type": "text", "text": f"the value is {long_value}."}]})
    assert found is not None
    assert found.rule == INJECTED_RULE_ID
    assert long_value not in repr(found)
    assert scanner.scan({"t": f"and {quoted}!"}) is not None
    assert scanner.scan({"t": f"short {short} value"}) is None
    assert scanner.scan({"t": "correct-horse"}) is None


def test_non_json_values_are_walked() -> None:
    token = POSITIVES["github-token"][0]
    found = LeakScanner().scan({"n": 2**80, "t": ("x", token)})
    assert found is not None
    assert found.path == "t[1]"


def test_a_scanner_without_rules_or_values_finds_nothing() -> None:
    assert LeakScanner(rules=()).scan({"t": POSITIVES["github-token"][0]}) is None


CTX = CallContext("dev", "github", "github__get_me", "get_me", None)


@pytest.mark.anyio
async def test_blocker_refuses_arguments_with_a_secret_without_quoting_it() -> None:
    token = POSITIVES["github-token"][0]
    blocker = LeakBlocker(LeakScanner())
    with pytest.raises(CallBlocked) as caught:
        await blocker.before(CTX, {"owner": "me", "token": token})
    assert caught.value.rule == "github-token"
    assert "argument `token`" in caught.value.reason
    assert "GitHub token" in caught.value.reason
    assert token not in caught.value.reason
    arguments = {"owner": "me"}
    assert await blocker.before(CTX, arguments) is arguments


@pytest.mark.anyio
async def test_blocker_withholds_a_result_with_a_secret() -> None:
    token = POSITIVES["slack-token"][0]
    blocker = LeakBlocker(LeakScanner())
    result = {"content": [{"type": "text", "text": f"SLACK_TOKEN={token}"}], "isError": False}
    with pytest.raises(CallBlocked) as caught:
        await blocker.after(CTX, result)
    assert caught.value.rule == "slack-token"
    assert "content[0].text" in caught.value.reason
    assert token not in caught.value.reason
    clean = {"content": [{"type": "text", "text": "ok"}]}
    assert await blocker.after(CTX, clean) is clean


@pytest.mark.anyio
async def test_blocker_phases_can_be_turned_off() -> None:
    token = POSITIVES["github-token"][0]
    blocker = LeakBlocker(LeakScanner(), arguments=False, results=False)
    arguments = {"token": token}
    result = {"content": [{"type": "text", "text": token}]}
    assert await blocker.before(CTX, arguments) is arguments
    assert await blocker.after(CTX, result) is result


def test_rules_the_fast_engine_cannot_compile_still_work() -> None:
    # A lookbehind: Rust's regex refuses it, so the scanner falls back to Python's re.
    rule = Rule("acme-key", "an ACME key", r"(?<=acme:)[0-9a-f]{16}", bounded=False)
    scanner = LeakScanner(rules=[rule])
    found = scanner.scan({"t": "acme:" + chars(HEX, 16)})
    assert found is not None
    assert found.rule == "acme-key"
    assert scanner.scan({"t": "other:" + chars(HEX, 16)}) is None

"""The trust policy file: keys, rules, first match, defaults and every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import pytest
from trust_helpers import new_key

from mcpkit.errors import InvalidInputError, SigningKeyError
from mcpkit.trust.keys import PublicKey
from mcpkit.trust.policy import Subject, TrustPolicy, load_policy

TIME = Subject(
    server="io.github.example/time",
    catalog="docker",
    publisher="Example Inc",
    image="127.0.0.1:5000/mcp/time@sha256:" + "a" * 64,
    package=None,
)
FILES = Subject(
    server="io.github.example/files",
    catalog="community",
    publisher="Someone",
    image=None,
    package="npm:@example/server-files",
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config dir with two trusted keys: keys/team.pub and an inline vendor key."""
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "team.pub").write_bytes(new_key().public.pem)
    return tmp_path


def write_policy(config: Path, text: str) -> Path:
    path = config / "trust.toml"
    path.write_text(text)
    return path


def example_policy(config: Path) -> TrustPolicy:
    vendor = new_key().public.pem.decode()
    return load_policy(
        write_policy(
            config,
            f'''
mode = "warn"
tool_changes = "block"

[keys]
team = "keys/team.pub"
vendor = """
{vendor}"""

[[rule]]
name = "our registry"
image = "127.0.0.1:5000/mcp/*"
keys = ["team"]
require = ["signature", "provenance", "sbom", "source"]
mode = "enforce"

[[rule]]
name = "everything from docker"
catalog = "docker"
mode = "off"

[[rule]]
name = "vendor packages"
package = ["pypi:vendor-*", "npm:@example/*"]
keys = ["vendor"]
require = ["source"]
tool_changes = "warn"
''',
        )
    )


def test_no_policy_file_means_off_with_a_signature_by_any_trusted_key(config: Path) -> None:
    policy = load_policy(config / "trust.toml", keys_dir=config / "keys")
    needs = policy.requirements(TIME)
    assert needs.mode == "off"
    assert needs.required == ["signature"]
    assert [k.keyid for k in needs.keys] == [policy.keyring["team"].keyid]
    assert needs.rule == "default"
    assert needs.tool_changes == "block"
    assert policy.path is None


def test_forcing_enforce_keeps_the_requirements_and_changes_the_mode(config: Path) -> None:
    policy = load_policy(config / "trust.toml", keys_dir=config / "keys").with_mode("enforce")
    needs = policy.requirements(FILES)
    assert needs.mode == "enforce"
    assert needs.signature and not needs.provenance


def test_forcing_a_mode_overrides_the_mode_a_rule_sets(config: Path) -> None:
    policy = example_policy(config)
    assert policy.requirements(TIME).mode == "enforce"
    assert policy.with_mode("warn").requirements(TIME).mode == "warn"
    assert policy.requirements(TIME).mode == "enforce"  # the original is unchanged


def test_the_first_matching_rule_wins(config: Path) -> None:
    policy = example_policy(config)
    # TIME matches both "our registry" (image) and "everything from docker" (catalog).
    needs = policy.requirements(TIME)
    assert needs.rule == "our registry"
    assert needs.mode == "enforce"
    assert needs.keys == (policy.keyring["team"],)
    assert needs.required == ["signature", "provenance", "sbom", "source"]


def test_a_rule_without_keys_accepts_every_key_and_inherits_the_defaults(config: Path) -> None:
    policy = example_policy(config)
    other_image = Subject(server="s", catalog="docker", image="ghcr.io/x/y:1")
    needs = policy.requirements(other_image)
    assert needs.rule == "everything from docker"
    assert needs.mode == "off"
    assert set(needs.keys) == set(policy.keyring.values())
    assert needs.required == ["signature"]


def test_source_implies_provenance_and_rule_settings_override_the_top_level(
    config: Path,
) -> None:
    needs = example_policy(config).requirements(FILES)
    assert needs.rule == "vendor packages"
    assert needs.source and needs.provenance
    assert not needs.signature and not needs.sbom
    assert needs.tool_changes == "warn"
    assert needs.mode == "warn"  # the top-level mode


def test_nothing_matched_gets_the_top_level_defaults(config: Path) -> None:
    policy = example_policy(config)
    needs = policy.requirements(Subject(server="lonely"))
    assert (needs.rule, needs.mode, needs.required) == ("default", "warn", ["signature"])
    assert set(needs.keys) == {policy.keyring["team"], policy.keyring["vendor"]}


@pytest.mark.parametrize(
    ("field", "pattern", "subject", "matches"),
    [
        ("server", "io.github.example/*", TIME, True),
        ("server", "io.github.other/*", TIME, False),
        ("catalog", "comm*", FILES, True),
        ("publisher", "Example*", TIME, True),
        ("publisher", "example*", TIME, False),  # case matters
        ("image", "127.0.0.1:5000/*", TIME, True),
        ("image", "*", FILES, False),  # a package server has no image to match
        ("package", "npm:@example/*", FILES, True),
        ("package", "pypi:*", FILES, False),
    ],
)
def test_rules_match_fnmatch_patterns_on_each_field(
    config: Path, field: str, pattern: str, subject: Subject, matches: bool
) -> None:
    policy = load_policy(
        write_policy(config, f'[[rule]]\nname = "r"\n{field} = "{pattern}"\nmode = "enforce"\n')
    )
    assert (policy.requirements(subject).rule == "r") is matches


def test_every_pattern_of_a_rule_must_match(config: Path) -> None:
    policy = load_policy(
        write_policy(config, '[[rule]]\nname = "both"\ncatalog = "docker"\nserver = "nope"\n')
    )
    assert policy.requirements(TIME).rule == "default"


def test_an_empty_key_list_accepts_no_key(config: Path) -> None:
    policy = load_policy(
        write_policy(config, '[[rule]]\nname = "none"\nkeys = []\n'), keys_dir=config / "keys"
    )
    assert policy.requirements(TIME).keys == ()


def test_a_key_in_the_policy_wins_over_the_keys_folder_of_the_same_name(config: Path) -> None:
    (config / "mine.pub").write_bytes(new_key().public.pem)
    policy = load_policy(
        write_policy(config, '[keys]\nteam = "mine.pub"\n'), keys_dir=config / "keys"
    )
    assert policy.keyring["team"].pem == (config / "mine.pub").read_bytes()


def test_a_key_path_may_be_absolute(config: Path) -> None:
    path = config / "keys" / "team.pub"
    policy = load_policy(write_policy(config, f'[keys]\nabs = "{path}"\n'))
    assert policy.keyring["abs"] == PublicKey.from_pem(path.read_bytes(), origin="x")


def test_a_bad_key_in_the_keys_folder_names_the_file(config: Path) -> None:
    (config / "keys" / "broken.pub").write_text("garbage")
    with pytest.raises(SigningKeyError) as caught:
        load_policy(config / "trust.toml", keys_dir=config / "keys")
    assert "broken.pub" in caught.value.message


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        ("mode = [", "not valid TOML", "fix or remove"),
        ('colour = "red"', "colour is not a known field", "known fields"),
        ('mode = "strict"', "mode is 'strict'", "enforce, warn, off"),
        ('tool_changes = "allow"', "tool_changes is 'allow'", "block, warn"),
        ('require = ["signature", "magic"]', "require is 'magic'", "provenance"),
        ('require = "signature"', "require is 'signature'", "list of strings"),
        ('keys = "team.pub"', "keys is not a table", "[keys]"),
        ('[keys]\nteam = "missing.pub"', "keys.team cannot be used", "keygen"),
        ('[keys]\nteam = "trust.toml"', "keys.team cannot be used", "BEGIN PUBLIC KEY"),
        ("[keys]\nteam = 5", "keys.team is not a path or a PEM key", "inline PEM"),
        ('[keys]\nteam = "-----BEGIN PUBLIC KEY-----\\nAA\\n"', "keys.team", "PUBLIC KEY"),
        ('rule = "x"', "rule is not an array of tables", "[[rule]]"),
        ('[[rule]]\nkeys = ["nobody"]', "rule 1.keys names the unknown key 'nobody'", "[keys]"),
        ('[[rule]]\nmode = "on"', "rule 1.mode is 'on'", "enforce"),
        ('[[rule]]\n[[rule]]\nname = "b"\nimages = "x/*"', "rule 2 ('b').images is not a", "image"),
        ("[[rule]]\nimage = 5", "rule 1.image is 5", "string or a list"),
        ("[[rule]]\nname = 5", "rule 1.name is 5", "string name"),
        ('[[rule]]\ntool_changes = "x"', "rule 1.tool_changes is 'x'", "block"),
    ],
)
def test_a_bad_policy_file_is_refused_naming_the_file_and_the_field(
    config: Path, text: str, field: str, hint: str
) -> None:
    path = write_policy(config, text)
    with pytest.raises(InvalidInputError) as caught:
        load_policy(path, keys_dir=config / "keys")
    err = caught.value
    assert str(path) in err.message
    assert field in err.message
    assert err.hint and hint in err.hint
    assert path.read_text() == text  # the file is left as it was


def test_an_unreadable_policy_file_is_refused(config: Path) -> None:
    path = config / "trust.toml"
    path.mkdir()  # reading a directory fails on every platform
    with pytest.raises(InvalidInputError, match="cannot read the trust policy"):
        load_policy(path)

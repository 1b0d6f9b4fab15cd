"""Launch plans: templates rendered from config, defaults and declared secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcpkit.catalog.model import (
    CommandSource,
    ImageSource,
    PackageSource,
    SecretRef,
    ServerSpec,
    Volume,
)
from mcpkit.errors import ConfigValidationError, UnknownSecretError
from mcpkit.profiles.model import ProfileServer
from mcpkit.runtime.base import Mount
from mcpkit.runtime.plan import build_plan, render_args

SOURCE = PackageSource(registry="pypi", name="mcp-server-git")


def spec(**fields: Any) -> ServerSpec:
    return ServerSpec(id="git", title="Git", source=fields.pop("source", SOURCE), **fields)


class Secrets:
    """A secret lookup that remembers which names were asked for."""

    def __init__(self, **values: str) -> None:
        self.values = {k.replace("_", "."): v for k, v in values.items()}
        self.asked: list[str] = []

    def __call__(self, name: str) -> str | None:
        self.asked.append(name)
        return self.values.get(name)


def plan_of(server_spec: ServerSpec, config: dict[str, Any] | None = None, **secrets: str) -> Any:
    return build_plan(
        "dev", ProfileServer(id="git", config=config or {}), server_spec, Secrets(**secrets)
    )


SCHEMA = {
    "type": "object",
    "properties": {
        "repos": {"type": "array", "items": {"type": "string"}},
        "repo": {"type": "string"},
        "mode": {"type": "string", "default": "fast"},
        "depth": {"type": "integer"},
        "jira.url": {"type": "string"},
        "jira": {"type": "object"},
        "root": {"type": "string"},
    },
}


def test_an_argument_that_is_exactly_an_array_key_becomes_one_argument_per_item() -> None:
    plan = plan_of(
        spec(config_schema=SCHEMA, args=["--repo", "{{repos}}", "--all={{repos}}"]),
        {"repos": ["/a", "/b"]},
    )
    assert plan.args == ("--repo", "/a", "/b", "--all=/a,/b")


def test_an_unset_optional_key_drops_its_argument_and_the_flag_before_it() -> None:
    plan = plan_of(
        spec(config_schema=SCHEMA, args=["--verbose", "--repository", "{{repo}}", "--x"]),
    )
    assert plan.args == ("--verbose", "--x")


def test_an_unset_flag_with_its_value_inline_is_dropped_alone() -> None:
    plan = plan_of(spec(config_schema=SCHEMA, args=["--verbose", "--repository={{repo}}"]))
    assert plan.args == ("--verbose",)


def test_an_empty_array_drops_its_flag_like_an_unset_key() -> None:
    plan = plan_of(spec(config_schema=SCHEMA, args=["--repo", "{{repos}}", "--x"]), {"repos": []})
    assert plan.args == ("--x",)


def test_an_unset_key_leaves_its_env_var_out() -> None:
    plan = plan_of(spec(config_schema=SCHEMA, env={"REPO": "{{repo}}", "MODE": "{{mode}}"}))
    assert dict(plan.env) == {"MODE": "fast"}


def test_schema_defaults_fill_unset_keys_and_config_wins_over_them() -> None:
    server = spec(config_schema=SCHEMA, args=["--mode", "{{mode}}", "--depth", "{{depth}}"])
    assert plan_of(server).args == ("--mode", "fast")
    assert plan_of(server, {"mode": "slow", "depth": 3}).args == ("--mode", "slow", "--depth", "3")


def test_a_dotted_key_is_read_as_written_and_then_as_a_path() -> None:
    server = spec(config_schema=SCHEMA, env={"URL": "{{jira.url}}"})
    assert plan_of(server, {"jira.url": "https://flat"}).env["URL"] == "https://flat"
    assert plan_of(server, {"jira": {"url": "https://nested"}}).env["URL"] == "https://nested"


def test_a_declared_secret_reaches_the_env_by_template_and_by_its_target() -> None:
    server = spec(
        secrets=[SecretRef(name="git.token", env="GIT_TOKEN")],
        env={"AUTH": "Bearer {{secret:git.token}}"},
    )
    plan = plan_of(server, git_token="s3cret-value")
    assert plan.env == {"AUTH": "Bearer s3cret-value", "GIT_TOKEN": "s3cret-value"}
    assert plan.secret_values == ("s3cret-value",)
    assert "s3cret-value" not in repr(plan)


def test_a_secret_the_spec_does_not_declare_is_never_looked_up_or_rendered() -> None:
    server = spec(env={"STOLEN": "{{secret:other.token}}", "KEEP": "yes"})
    lookup = Secrets(other_token="not-yours")
    plan = build_plan("dev", ProfileServer(id="git"), server, lookup)
    assert dict(plan.env) == {"KEEP": "yes"}
    assert lookup.asked == []
    assert plan.secret_values == ()


@pytest.mark.parametrize(
    "fields",
    [
        {"args": ["--token", "{{secret:git.token}}"]},
        {"args": ["--token={{secret:git.token}}"]},
        {"source": ImageSource(image="mcp/git", command=["serve", "{{secret:git.token}}"])},
        {"volumes": [Volume(source="{{secret:git.token}}", target="/data")]},
    ],
    ids=["arg", "inline-arg", "image-command", "volume"],
)
def test_a_secret_is_never_rendered_into_argv(fields: dict[str, Any]) -> None:
    server = spec(secrets=[SecretRef(name="git.token", env="GIT_TOKEN")], **fields)
    with pytest.raises(ConfigValidationError) as info:
        plan_of(server, git_token="s3cret-value")
    assert info.value.code == "secret-in-argv"
    assert "git.token" in info.value.message
    assert "s3cret-value" not in str(info.value) + (info.value.hint or "")
    assert "env or file" in (info.value.hint or "")


def test_a_missing_required_config_key_names_the_command_that_sets_it() -> None:
    server = spec(config_schema={**SCHEMA, "required": ["repo"]})
    with pytest.raises(ConfigValidationError) as info:
        plan_of(server)
    assert info.value.code == "config-missing"
    assert "'git'" in info.value.message and "repo" in info.value.message
    assert info.value.hint == "mcpkit profile config dev --set git.repo=VALUE"


def test_a_required_key_with_a_schema_default_is_not_missing() -> None:
    server = spec(config_schema={**SCHEMA, "required": ["mode"]}, args=["{{mode}}"])
    assert plan_of(server).args == ("fast",)


def test_a_missing_required_secret_names_the_command_that_sets_it() -> None:
    server = spec(secrets=[SecretRef(name="git.token", env="GIT_TOKEN")])
    with pytest.raises(UnknownSecretError) as info:
        plan_of(server)
    assert info.value.code == "unknown-secret"
    assert "git.token" in info.value.message and "'git'" in info.value.message
    assert info.value.hint == "mcpkit secret set git.token"


def test_a_missing_optional_secret_is_left_out() -> None:
    server = spec(secrets=[SecretRef(name="git.token", env="GIT_TOKEN", required=False)])
    plan = plan_of(server)
    assert "GIT_TOKEN" not in plan.env
    assert plan.secret_values == ()


def test_a_secret_with_a_file_target_becomes_a_file_and_not_an_env_var() -> None:
    server = spec(secrets=[SecretRef(name="git.key", file="/run/secrets/key")])
    plan = plan_of(server, git_key="-key-")
    assert plan.files == {"/run/secrets/key": b"-key-"}
    assert dict(plan.env) == {}


def test_volumes_render_from_config_expand_arrays_and_skip_unset_keys(tmp_path: Path) -> None:
    server = spec(
        config_schema=SCHEMA,
        volumes=[
            Volume(source="{{repos}}", target="{{repos}}"),
            Volume(source="{{root}}", target="/data", read_only=False),
            Volume(source="{{repo}}", target="{{repo}}"),
        ],
    )
    plan = plan_of(server, {"repos": [str(tmp_path / "a"), "~/b"], "root": str(tmp_path)})
    home_b = str(Path("~/b").expanduser())
    assert plan.mounts == (
        Mount(str(tmp_path / "a"), str(tmp_path / "a")),
        Mount(home_b, home_b),
        Mount(str(tmp_path), "/data", read_only=False),
    )


def test_a_volume_whose_target_key_is_unset_is_left_out_not_an_internal_error() -> None:
    server = spec(config_schema=SCHEMA, volumes=[Volume(source="{{root}}", target="{{repo}}")])
    plan = plan_of(server, {"root": "/srv"})
    assert plan.mounts == ()


def test_a_command_servers_working_folder_is_mounted_read_only() -> None:
    server = spec(source=CommandSource(command="python server.py", cwd="/srv/app"))
    plan = plan_of(server)
    assert plan.mounts == (Mount("/srv/app", "/srv/app", read_only=True),)


def test_an_image_command_comes_before_the_spec_args() -> None:
    server = spec(
        source=ImageSource(image="mcp/git", command=["serve", "{{mode}}"]),
        config_schema=SCHEMA,
        args=["--x"],
    )
    assert plan_of(server).args == ("serve", "fast", "--x")


def test_values_are_rendered_as_text_json_style() -> None:
    values = {"on": True, "n": 2, "f": 0.5, "obj": {"a": 1}}
    rendered = render_args(["{{on}}", "{{n}}", "{{f}}", "{{obj}}", "x={{on}}"], values)
    assert rendered == ["true", "2", "0.5", '{"a":1}', "x=true"]


def test_the_plan_carries_server_profile_network_and_unsandboxed_flag() -> None:
    server = spec()
    plan = build_plan("dev", ProfileServer(id="git"), server, Secrets(), allow_unsandboxed=True)
    assert (plan.server, plan.profile, plan.allow_unsandboxed) == ("git", "dev", True)
    assert plan.network == server.network

"""Registry credentials from the docker config and credential helpers; Basic and token auth."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mcpkit.errors import InvalidInputError, RegistryError
from mcpkit.oci import Layer, Reference, RegistryClient
from mcpkit.oci.auth import HUB_SERVER, DockerCredentials
from registry_helpers import (
    PASSWORD,
    USERNAME,
    RunningRegistry,
    credential_helper,
    require_registry,
)

ART = "application/vnd.mcpkit.test.v1+json"
LAYER = Layer(b'{"auth":"test"}', "application/json")
WRONG = "not-the-password-9f3a"


def _round_trip(client: RegistryClient, ref: Reference) -> None:
    desc = client.push_artifact(ref, artifact_type=ART, layers=[LAYER])
    manifest, blobs = client.pull_artifact(ref)
    assert manifest.descriptor.digest == desc.digest and blobs == [LAYER.data]
    assert client.tags(ref) == [ref.tag]


def _with_config(environ: dict[str, str], directory: Path, config: dict[str, object]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    environ["DOCKER_CONFIG"] = str(directory)


def _assert_no_secret(error: RegistryError, *secrets: str) -> None:
    text = f"{error.message} {error.hint}"
    for secret in secrets:
        assert secret not in text
        assert base64.b64encode(f"{USERNAME}:{secret}".encode()).decode() not in text


# ------------------------------------------------------------------------------ config lookup
# These need no registry: the lookup reads files and runs helpers only.


def test_docker_hub_credentials_are_found_under_dockers_own_key(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path)}
    encoded = base64.b64encode(b"hubuser:hubpass").decode()
    _with_config(environ, tmp_path / "d", {"auths": {HUB_SERVER: {"auth": encoded}}})
    found = DockerCredentials(environ).lookup("docker.io")
    assert found is not None and (found.username, found.secret) == ("hubuser", "hubpass")
    assert "hubpass" not in repr(found)
    assert DockerCredentials(environ).lookup("ghcr.io") is None


def test_home_docker_config_is_used_without_docker_config(tmp_path: Path) -> None:
    (tmp_path / ".docker").mkdir()
    encoded = base64.b64encode(b"u:p").decode()
    (tmp_path / ".docker" / "config.json").write_text(
        json.dumps({"auths": {"https://reg.example:5000/v2/": {"auth": encoded}}})
    )
    found = DockerCredentials({"HOME": str(tmp_path)}).lookup("reg.example:5000")
    assert found is not None and found.username == "u"
    assert DockerCredentials({}).lookup("reg.example:5000") is None


def test_a_helper_gets_dockers_hub_address_and_runs_on_the_given_path(tmp_path: Path) -> None:
    helpers = credential_helper(tmp_path / "bin", "mcpkithub", {HUB_SERVER: ("hub", "s3cret")})
    environ = {"HOME": str(tmp_path), "PATH": str(helpers)}
    _with_config(environ, tmp_path / "d", {"credsStore": "mcpkithub"})
    found = DockerCredentials(environ).lookup("docker.io")
    assert found is not None and (found.username, found.secret) == ("hub", "s3cret")
    assert "docker-credential-mcpkithub" in found.source


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"auths": {"h:1": {"auth": "%%%"}}}', "not base64"),
    ],
)
def test_a_broken_docker_config_is_an_input_error_naming_the_file(
    tmp_path: Path, content: str, fragment: str
) -> None:
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(InvalidInputError) as caught:
        DockerCredentials({"DOCKER_CONFIG": str(tmp_path)}).lookup("h:1")
    assert fragment in caught.value.message
    assert str(tmp_path / "config.json") in caught.value.message
    assert (tmp_path / "config.json").read_text() == content


def test_a_missing_or_failing_helper_is_an_auth_error(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "PATH": str(tmp_path / "empty")}
    _with_config(environ, tmp_path / "d", {"credHelpers": {"h:1": "absent"}})
    with pytest.raises(RegistryError) as caught:
        DockerCredentials(environ).lookup("h:1")
    assert caught.value.code == "registry-auth"
    assert "docker-credential-absent" in caught.value.message and "PATH" in caught.value.message

    broken = tmp_path / "bin" / "docker-credential-broken"
    broken.parent.mkdir()
    broken.write_text("#!/bin/sh\necho 'keychain locked' >&2\nexit 3\n")
    broken.chmod(0o755)
    environ["PATH"] = str(broken.parent)
    _with_config(environ, tmp_path / "d", {"credsStore": "broken"})
    with pytest.raises(RegistryError) as caught:
        DockerCredentials(environ).lookup("h:1")
    assert caught.value.code == "registry-auth" and "keychain locked" in caught.value.message


# ------------------------------------------------------------------------------ htpasswd (Basic)


@pytest.fixture(scope="module", autouse=True)
def _needs_registry() -> None:
    require_registry()


def test_basic_auth_uses_the_docker_config_auths_entry(
    htpasswd_registry: RunningRegistry,
    client_environ: dict[str, str],
    tmp_path: Path,
    repo_name: str,
) -> None:
    path = htpasswd_registry.write_docker_config(tmp_path / "docker")
    client_environ["DOCKER_CONFIG"] = str(path.parent)
    with RegistryClient(environ=client_environ) as client:
        _round_trip(client, Reference.parse(htpasswd_registry.reference(repo_name)))


def test_basic_auth_without_credentials_asks_for_docker_login(
    htpasswd_registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    ref = Reference.parse(htpasswd_registry.reference(repo_name))
    with pytest.raises(RegistryError) as caught:
        client.push_artifact(ref, artifact_type=ART, layers=[LAYER])
    assert caught.value.code == "registry-auth"
    assert "requires credentials" in caught.value.message
    assert caught.value.hint == f"`docker login {htpasswd_registry.host}`, then try again"


def test_wrong_basic_credentials_are_refused_without_showing_them(
    htpasswd_registry: RunningRegistry,
    client_environ: dict[str, str],
    tmp_path: Path,
    repo_name: str,
) -> None:
    path = htpasswd_registry.write_docker_config(tmp_path / "docker", password=WRONG)
    client_environ["DOCKER_CONFIG"] = str(path.parent)
    with RegistryClient(environ=client_environ) as client, pytest.raises(RegistryError) as caught:
        client.get_manifest(Reference.parse(htpasswd_registry.reference(repo_name)))
    assert caught.value.code == "registry-auth"
    assert "refused the credentials" in caught.value.message and str(path) in caught.value.message
    assert htpasswd_registry.host in caught.value.message
    assert "docker login" in (caught.value.hint or "")
    _assert_no_secret(caught.value, WRONG)


def test_credentials_come_from_a_credential_helper_on_the_environs_path(
    htpasswd_registry: RunningRegistry,
    client_environ: dict[str, str],
    tmp_path: Path,
    repo_name: str,
) -> None:
    helpers = credential_helper(
        tmp_path / "bin", "mcpkittest", {htpasswd_registry.host: (USERNAME, PASSWORD)}
    )
    # Only the environ given to the client has the helper's folder; os.environ does not.
    client_environ["PATH"] = f"{helpers}:{client_environ['PATH']}"
    _with_config(
        client_environ, tmp_path / "docker", {"credHelpers": {htpasswd_registry.host: "mcpkittest"}}
    )
    with RegistryClient(environ=client_environ) as client:
        _round_trip(client, Reference.parse(htpasswd_registry.reference(repo_name)))


def test_a_helper_without_an_answer_falls_through_to_the_auths_entry(
    htpasswd_registry: RunningRegistry,
    client_environ: dict[str, str],
    tmp_path: Path,
    repo_name: str,
) -> None:
    helpers = credential_helper(tmp_path / "bin", "mcpkitempty", {})
    client_environ["PATH"] = f"{helpers}:{client_environ['PATH']}"
    encoded = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    _with_config(
        client_environ,
        tmp_path / "docker",
        {"credsStore": "mcpkitempty", "auths": {htpasswd_registry.host: {"auth": encoded}}},
    )
    with RegistryClient(environ=client_environ) as client:
        _round_trip(client, Reference.parse(htpasswd_registry.reference(repo_name)))


# ------------------------------------------------------------------------------ token auth


def test_token_auth_works_end_to_end_and_tokens_are_reused(
    token_registry: RunningRegistry, client_environ: dict[str, str], tmp_path: Path, repo_name: str
) -> None:
    server = token_registry.token_server
    assert server is not None
    path = token_registry.write_docker_config(tmp_path / "docker")
    client_environ["DOCKER_CONFIG"] = str(path.parent)
    before = len(server.requests)
    ref = Reference.parse(token_registry.reference(repo_name))
    with RegistryClient(environ=client_environ) as client:
        _round_trip(client, ref)
        desc = client.resolve(ref)
        assert client.referrers(ref, desc.digest) == []
        client.delete_manifest(ref)
    asked = server.requests[before:]
    assert asked == [
        (USERNAME, [f"repository:{repo_name}:pull,push"]),
        (USERNAME, [f"repository:{repo_name}:delete"]),
    ]


def test_token_auth_with_wrong_credentials_is_refused_without_showing_them(
    token_registry: RunningRegistry, client_environ: dict[str, str], tmp_path: Path, repo_name: str
) -> None:
    path = token_registry.write_docker_config(tmp_path / "docker", password=WRONG)
    client_environ["DOCKER_CONFIG"] = str(path.parent)
    with RegistryClient(environ=client_environ) as client, pytest.raises(RegistryError) as caught:
        client.resolve(Reference.parse(token_registry.reference(repo_name)))
    assert caught.value.code == "registry-auth"
    assert "token service" in caught.value.message and "refused" in caught.value.message
    _assert_no_secret(caught.value, WRONG)


def test_token_auth_without_credentials_asks_for_docker_login(
    token_registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    with pytest.raises(RegistryError) as caught:
        client.tags(Reference.parse(token_registry.reference(repo_name)))
    assert caught.value.code == "registry-auth" and "requires credentials" in caught.value.message

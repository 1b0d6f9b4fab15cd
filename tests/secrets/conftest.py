"""Fixtures for the secret store tests: every backend, set up inside ``tmp_path``.

An autouse guard points HOME into ``tmp_path`` and makes any call of
``keyring.get_keyring()`` fail the test, so no test can reach the user's keyring
(``~/.local/share/python_keyring`` included) or home directory.
"""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from secret_store_kit import BACKENDS, Harness, Provider, make_provider

from mcpkit.secrets.file_store import PASSPHRASE_ENV


@pytest.fixture(autouse=True)
def _no_real_keyring_or_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse() -> KeyringBackend:
        raise AssertionError("a test reached for the user's keyring; inject a backend")

    monkeypatch.setattr(keyring, "get_keyring", refuse)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


@pytest.fixture
def provider(tmp_path: Path) -> Provider:
    """A real provider program (a Python script run as its own process)."""
    return make_provider(tmp_path)


@pytest.fixture(params=sorted(BACKENDS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    """Each backend in turn, fresh and empty."""
    return BACKENDS[request.param](tmp_path)

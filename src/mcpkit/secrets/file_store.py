"""The encrypted file secret store (``secrets.store = "file"``, the default).

All secrets live in one JSON file (``data_dir/secrets.enc``), mode 0600::

    {
      "format": "mcpkit-secrets", "version": 1,
      "key_source": "keyring" | "passphrase" | "keyfile",
      "kdf": null | {"name": "scrypt", "salt": "<b64>", "n": 131072, "r": 8, "p": 1},
      "check": "<b64 nonce+ciphertext>",
      "entries": {"global/github.token": "<b64 nonce+ciphertext>", ...}
    }

Each entry is AES-256-GCM with a fresh random 96-bit nonce per write and the storage
key as associated data, so a ciphertext moved to another key fails to decrypt.
``check`` encrypts a constant with the header fields as associated data: it tells a
wrong key from a damaged entry, and detects a modified header. Storage keys are in
the clear (they are names, not secrets), so ``keys()`` needs no key; removing an
entry or rolling the whole file back to an older copy is not detected.

Key sources (``secrets.key_source``):

``keyring``     a random 256-bit key in the OS keyring, service ``mcpkit``, user
                ``secrets-file-key`` (any backend the caller passes is accepted).
``passphrase``  scrypt of ``MCPKIT_SECRETS_PASSPHRASE``; salt and cost in the header.
``keyfile``     a random 256-bit key, base64, in a 0600 file (``config_dir/secrets.key``).
``auto``        ``keyring`` when a secure OS keyring answers (see
                :func:`~mcpkit.secrets.keyring_store.is_secure_keyring`), else
                ``passphrase`` when the variable is set, else ``keyfile``.

The source is chosen once, when the file is created, and recorded in the header;
later opens use the recorded source whatever the setting says, and fail with a hint
if it is unavailable. A key is never generated for an existing file.

Writes take an exclusive ``flock`` on a sibling ``.lock`` file around
read-modify-write and replace the file atomically, so concurrent writers from several
processes lose nothing and readers (who take no lock) see the old or the new file.
A write first checks that the key opens the file and that every other entry still
decrypts, so a wrong key or a damaged file is never overwritten; only the damaged
entry itself can be replaced (stored again) or deleted.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import keyring
import keyring.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from keyring.backend import KeyringBackend

from mcpkit.errors import SecretStoreError
from mcpkit.secrets.base import KEYRING_SERVICE, validate_key, validate_value
from mcpkit.secrets.keyring_store import backend_label, is_secure_keyring, translate_keyring_error
from mcpkit.secrets.redact import Redactor
from mcpkit.settings import atomic_write

FORMAT = "mcpkit-secrets"
VERSION = 1
PASSPHRASE_ENV = "MCPKIT_SECRETS_PASSPHRASE"  # noqa: S105 - a variable name, not a password
KEYRING_KEY_USER = "secrets-file-key"
#: scrypt cost for new files (the header records what a file used). 2**17 with r=8
#: takes 128 MiB and a fraction of a second, the usual advice for stored keys.
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
LOCK_TIMEOUT = 30.0

KeySource = Literal["keyring", "passphrase", "keyfile"]
KeySourceSetting = Literal["auto", "keyring", "passphrase", "keyfile"]
_SOURCES: tuple[KeySource, ...] = ("keyring", "passphrase", "keyfile")
_CHECK_PLAINTEXT = b"mcpkit-secrets-check"
_NONCE_BYTES = 12
_KEY_BYTES = 32


class EncryptedFileStore:
    """Secrets in one AES-256-GCM encrypted JSON file."""

    name = "file"
    read_only = False

    def __init__(
        self,
        path: Path,
        *,
        keyfile: Path,
        environ: Mapping[str, str],
        key_source: KeySourceSetting = "auto",
        keyring_backend: KeyringBackend | None = None,
        scrypt_n: int = SCRYPT_N,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.path = path
        self.keyfile = keyfile
        self._environ = environ
        self._setting = key_source
        self._keyring = keyring_backend
        self._scrypt_n = scrypt_n
        self._lock_timeout = lock_timeout
        # Verified keys by header: scrypt runs once per store object and file.
        self._keys: dict[bytes, bytes] = {}

    # -- the SecretStore interface -------------------------------------------------

    def get(self, key: str) -> str | None:
        """The value under ``key``, or None; raises if the file cannot be decrypted."""
        validate_key(key)
        doc = self._read()
        if doc is None:
            return None
        aes = AESGCM(self._open_key(doc))
        blob = doc["entries"].get(key)
        return None if blob is None else self._decrypt_entry(aes, key, blob)

    def set(self, key: str, value: str) -> None:
        """Encrypt ``value`` under ``key`` and write the file atomically."""
        validate_key(key)
        data = validate_value(value)
        with self._locked():
            doc = self._read()
            if doc is None:
                doc = self._create()
            aes = AESGCM(self._open_key(doc))
            self._verify_entries(aes, doc, skip=key)
            nonce = os.urandom(_NONCE_BYTES)
            doc["entries"][key] = _b64(nonce + aes.encrypt(nonce, data, key.encode()))
            self._write(doc)

    def delete(self, key: str) -> bool:
        """Remove ``key``; False if it was not there."""
        validate_key(key)
        if not self.path.exists():
            return False
        with self._locked():
            doc = self._read()
            if doc is None:
                return False
            aes = AESGCM(self._open_key(doc))
            if key not in doc["entries"]:
                return False
            self._verify_entries(aes, doc, skip=key)
            del doc["entries"][key]
            self._write(doc)
        return True

    def keys(self) -> list[str] | None:
        """Every stored key, sorted (names are stored in the clear; no key needed)."""
        doc = self._read()
        return [] if doc is None else sorted(doc["entries"])

    def describe(self) -> str:
        """The file and where its key comes from; never raises."""
        where = f"encrypted file {self._show(self.path)}"
        try:
            doc = self._read()
        except SecretStoreError:
            return f"{where} (unreadable)"
        if doc is None:
            return f"{where} (not created yet; key source {self._setting})"
        source: KeySource = doc["key_source"]
        if source == "keyring":
            label = backend_label(self._keyring) if self._keyring else "default backend"
            return f"{where} (key in OS keyring {label})"
        if source == "passphrase":
            return f"{where} (key from the passphrase in {PASSPHRASE_ENV})"
        return f"{where} (key in file {self._show(self.keyfile)})"

    # -- reading and writing the file ----------------------------------------------

    def _read(self) -> dict[str, Any] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SecretStoreError(
                f"cannot read the secret store {self.path}: {exc.strerror or exc}",
                hint=f"check the permissions of {self.path}",
            ) from exc
        try:
            doc = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._corrupt("it is not JSON") from exc
        return self._check_doc(doc)

    def _check_doc(self, doc: object) -> dict[str, Any]:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise self._corrupt(f"it is not an mcpkit secret store (no format {FORMAT!r})")
        version = doc.get("version")
        if isinstance(version, int) and version > VERSION:
            raise SecretStoreError(
                f"the secret store {self.path} was written by a newer mcpkit"
                f" (format version {version})",
                hint="upgrade mcpkit: pip install -U mcpkit",
            )
        if version != VERSION:
            raise self._corrupt(f"unknown format version {version!r}")
        if doc.get("key_source") not in _SOURCES:
            raise self._corrupt(f"unknown key source {doc.get('key_source')!r}")
        if doc["key_source"] == "passphrase":
            _check_kdf(doc.get("kdf"), self._corrupt)
        elif doc.get("kdf") is not None:
            raise self._corrupt("a kdf is set for a key that is not a passphrase")
        entries = doc.get("entries")
        if not isinstance(doc.get("check"), str) or not isinstance(entries, dict):
            raise self._corrupt("the 'check' or 'entries' field is missing")
        for name, blob in entries.items():
            if not isinstance(blob, str):
                raise self._corrupt(f"entry {name!r} is not a string")
            try:
                validate_key(name)
            except SecretStoreError:
                raise self._corrupt(f"entry {name!r} has an invalid storage key") from None
        return doc

    def _write(self, doc: dict[str, Any]) -> None:
        data = json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"
        try:
            atomic_write(self.path, data, mode=0o600)
        except OSError as exc:
            raise SecretStoreError(
                f"cannot write the secret store {self.path}: {exc.strerror or exc}",
                hint=f"check free space and the permissions of {self.path.parent}",
            ) from exc

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SecretStoreError(
                f"cannot lock the secret store {self.path}: {exc.strerror or exc}",
                hint=f"check the permissions of {self.path.parent}",
            ) from exc
        try:
            deadline = time.monotonic() + self._lock_timeout
            delay = 0.001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise SecretStoreError(
                            f"the secret store {self.path} is locked by another process",
                            hint=f"wait for the other mcpkit command to finish; the lock"
                            f" is {lock_path}",
                            code="secret-store-locked",
                        ) from None
                    # Polling with a bounded back-off keeps the total wait bounded,
                    # which a blocking flock cannot.
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    # -- keys -------------------------------------------------------------------

    def _create(self) -> dict[str, Any]:
        source = self._choose_source()
        kdf: dict[str, Any] | None = None
        if source == "passphrase":
            salt = os.urandom(16)
            kdf = {"name": "scrypt", "salt": _b64(salt), "n": self._scrypt_n}
            kdf |= {"r": SCRYPT_R, "p": SCRYPT_P}
        doc: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "key_source": source,
            "kdf": kdf,
            "check": "",
            "entries": {},
        }
        key = self._load_key(doc, create=True)
        nonce = os.urandom(_NONCE_BYTES)
        doc["check"] = _b64(nonce + AESGCM(key).encrypt(nonce, _CHECK_PLAINTEXT, _header_ad(doc)))
        self._keys[_cache_id(doc)] = key
        return doc

    def _choose_source(self) -> KeySource:
        if self._setting != "auto":
            return self._setting
        backend = self._keyring_backend()
        if is_secure_keyring(backend):
            try:
                backend.get_password(KEYRING_SERVICE, KEYRING_KEY_USER)
            except keyring.errors.KeyringError:
                pass  # a keyring that does not answer (locked, no D-Bus) is skipped
            else:
                return "keyring"
        if self._environ.get(PASSPHRASE_ENV):
            return "passphrase"
        return "keyfile"

    def _open_key(self, doc: dict[str, Any]) -> bytes:
        """The key for ``doc``, checked against its header."""
        cached = self._keys.get(_cache_id(doc))
        if cached is not None:
            return cached
        key = self._load_key(doc, create=False)
        try:
            blob = _unb64(doc["check"])
            plain = AESGCM(key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _header_ad(doc))
        except (InvalidTag, ValueError):
            plain = None
        if plain != _CHECK_PLAINTEXT:
            raise SecretStoreError(
                f"cannot decrypt the secret store {self.path}: wrong key or the file was modified",
                hint=self._wrong_key_hint(doc["key_source"]),
                code="secret-store-decrypt",
            )
        self._keys[_cache_id(doc)] = key
        return key

    def _load_key(self, doc: dict[str, Any], *, create: bool) -> bytes:
        source: KeySource = doc["key_source"]
        if source == "passphrase":
            passphrase = self._environ.get(PASSPHRASE_ENV)
            if not passphrase and create:
                raise SecretStoreError(
                    f"{PASSPHRASE_ENV} is not set, and secrets.key_source is 'passphrase'",
                    hint=f"export {PASSPHRASE_ENV}, or choose another key source with"
                    " 'mcpkit config set secrets.key_source auto'",
                    code="secret-store-key-missing",
                )
            if not passphrase:
                raise SecretStoreError(
                    f"{PASSPHRASE_ENV} is not set; this store ({self._show(self.path)}) was"
                    " created with a passphrase",
                    hint=f"export {PASSPHRASE_ENV} with the passphrase the store was created with",
                    code="secret-store-key-missing",
                )
            kdf = doc["kdf"]
            scrypt = Scrypt(_unb64(kdf["salt"]), _KEY_BYTES, kdf["n"], kdf["r"], kdf["p"])
            return scrypt.derive(passphrase.encode("utf-8", "surrogateescape"))
        if source == "keyfile":
            return self._keyfile_key(create=create)
        return self._keyring_key(create=create)

    def _keyfile_key(self, *, create: bool) -> bytes:
        try:
            text = self.keyfile.read_text(encoding="ascii")
        except FileNotFoundError:
            if not create:
                raise SecretStoreError(
                    f"the key file {self.keyfile} of the secret store {self._show(self.path)}"
                    " is missing",
                    hint=f"restore {self.keyfile} from a backup (without it the secrets"
                    " cannot be read)",
                    code="secret-store-key-missing",
                ) from None
            return self._new_keyfile()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretStoreError(
                f"cannot read the key file {self.keyfile}: {exc}",
                hint=f"check the permissions of {self.keyfile}",
            ) from exc
        return self._parse_key(text, f"the key file {self.keyfile}")

    def _new_keyfile(self) -> bytes:
        key = AESGCM.generate_key(bit_length=256)
        try:
            self.keyfile.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # O_EXCL: never replace a key file something else created meanwhile.
            fd = os.open(self.keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._keyfile_key(create=False)
        except OSError as exc:
            raise SecretStoreError(
                f"cannot create the key file {self.keyfile}: {exc.strerror or exc}",
                hint=f"check the permissions of {self.keyfile.parent}",
            ) from exc
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(_b64(key) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return key

    def _keyring_key(self, *, create: bool) -> bytes:
        backend = self._keyring_backend()
        action = "read the secret store key from the OS keyring"
        try:
            text = backend.get_password(KEYRING_SERVICE, KEYRING_KEY_USER)
            if text is None and create:
                key = AESGCM.generate_key(bit_length=256)
                action = "store the secret store key in the OS keyring"
                backend.set_password(KEYRING_SERVICE, KEYRING_KEY_USER, _b64(key))
                return key
        except (keyring.errors.KeyringError, ValueError, TypeError) as exc:
            raise translate_keyring_error(
                exc, action=action, backend=backend, redactor=Redactor()
            ) from None
        if text is None:
            raise SecretStoreError(
                f"the key of the secret store {self._show(self.path)} is not in the OS"
                f" keyring ({backend_label(backend)}, service {KEYRING_SERVICE!r}, user"
                f" {KEYRING_KEY_USER!r})",
                hint="log in to the keyring that holds it (the store was created with"
                " key_source = keyring), or restore the keyring entry from a backup",
                code="secret-store-key-missing",
            )
        return self._parse_key(text, "the OS keyring entry")

    def _keyring_backend(self) -> KeyringBackend:
        if self._keyring is None:
            self._keyring = keyring.get_keyring()
        return self._keyring

    def _parse_key(self, text: str, where: str) -> bytes:
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != _KEY_BYTES:
            raise SecretStoreError(
                f"{where} does not hold a valid key for {self._show(self.path)}",
                hint=f"restore it from a backup; it must be {_KEY_BYTES} bytes in base64",
                code="secret-store-key-invalid",
            )
        return key

    # -- errors ---------------------------------------------------------------------

    def _decrypt_entry(self, aes: AESGCM, key: str, blob: str) -> str:
        try:
            raw = _unb64(blob)
            return aes.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], key.encode()).decode()
        except (InvalidTag, ValueError):
            # ValueError covers bad base64, a short blob and invalid UTF-8 alike.
            raise SecretStoreError(
                f"cannot decrypt secret {key!r} in {self._show(self.path)}: wrong key or the"
                " file was modified",
                hint=f"restore {self.path} from a backup, or store the secret again to"
                " replace the damaged entry",
                code="secret-store-decrypt",
            ) from None

    def _verify_entries(self, aes: AESGCM, doc: dict[str, Any], *, skip: str) -> None:
        for name, blob in doc["entries"].items():
            if name != skip:
                self._decrypt_entry(aes, name, blob)

    def _wrong_key_hint(self, source: KeySource) -> str:
        if source == "passphrase":
            return f"check {PASSPHRASE_ENV}: it must be the passphrase the store was created with"
        if source == "keyfile":
            return (
                f"the key file {self.keyfile} does not belong to this store (or the store was"
                " modified); restore the right key file or the store from a backup"
            )
        return (
            "the key in the OS keyring (service 'mcpkit', user 'secrets-file-key') does not"
            " belong to this store (or the store was modified); restore either from a backup"
        )

    def _corrupt(self, why: str) -> SecretStoreError:
        broken = self.path.with_name(self.path.name + ".broken")
        return SecretStoreError(
            f"the secret store {self.path} is corrupt: {why}",
            hint=f"restore it from a backup, or move it away to start a new store (its"
            f" secrets are then lost): mv {self.path} {broken}",
            code="secret-store-corrupt",
        )

    def _show(self, path: Path) -> str:
        home = self._environ.get("HOME")
        if home and path.is_relative_to(home):
            return "~/" + str(path.relative_to(home))
        return str(path)


def _check_kdf(kdf: object, corrupt: Callable[[str], SecretStoreError]) -> None:
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise corrupt("the passphrase kdf is not scrypt")
    n, r, p, salt = kdf.get("n"), kdf.get("r"), kdf.get("p"), kdf.get("salt")
    # Bounds keep a tampered header from making scrypt eat all memory before the
    # check value can reject it.
    ok = (
        isinstance(n, int)
        and 2**10 <= n <= 2**20
        and n & (n - 1) == 0
        and isinstance(r, int)
        and 1 <= r <= 32
        and isinstance(p, int)
        and 1 <= p <= 16
        and isinstance(salt, str)
    )
    if not ok:
        raise corrupt("the scrypt parameters are out of range")
    try:
        _unb64(str(salt))
    except ValueError:
        raise corrupt("the scrypt salt is not base64") from None


def _header_ad(doc: Mapping[str, Any]) -> bytes:
    header = {k: doc[k] for k in ("format", "version", "key_source", "kdf")}
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _cache_id(doc: Mapping[str, Any]) -> bytes:
    return _header_ad(doc) + b"\0" + str(doc["check"]).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from exc


__all__ = ["EncryptedFileStore", "KeySource", "KeySourceSetting"]

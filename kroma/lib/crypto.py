"""Fernet encryption for project secrets, with key rotation through MultiFernet.

Master keys come from IAT_MASTER_KEY (comma-separated, newest first) or IAT_MASTER_KEY_FILE
(one key per line, newest first; blank lines and `#` comments are ignored). The newest key
encrypts; every listed key decrypts, so a new key is added in front, `manage.py
kroma_rotate_secrets` re-encrypts the rows under it, and only then is the old key removed. The
key id stored beside a ciphertext is the first 12 hex characters of the key's sha256, so a row
can say which key wrote it without revealing it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretKeyError(RuntimeError):
    """No usable master key, or a ciphertext that no configured key can open."""


def _raw_keys() -> list[str]:
    if os.getenv("IAT_MASTER_KEY", "").strip(" ,"):
        return [k.strip() for k in os.environ["IAT_MASTER_KEY"].split(",") if k.strip()]
    path = Path(settings.MASTER_KEY_FILE)
    if path.is_file():
        lines = (line.strip() for line in path.read_text().splitlines())
        keys = [line for line in lines if line and not line.startswith("#")]
        if keys:
            return keys
        raise SecretKeyError(f"The master key file {path} holds no key.")
    raise SecretKeyError(
        f"No master key: set IAT_MASTER_KEY or IAT_MASTER_KEY_FILE, or run "
        f"`manage.py kroma_seed` to create {path}."
    )


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def key_ids() -> list[str]:
    """The ids of the configured keys, newest (the one that encrypts) first."""
    return [key_id(k) for k in _raw_keys()]


def newest_key_id() -> str:
    return key_ids()[0]


def ensure_master_key_file() -> Path:
    """Create the local master key file (mode 0600) unless a key is already configured."""
    path = Path(settings.MASTER_KEY_FILE)
    if os.getenv("IAT_MASTER_KEY") or path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(Fernet.generate_key().decode() + "\n")
    return path


def _fernet() -> tuple[MultiFernet, str]:
    keys = _raw_keys()
    try:
        fernets = [Fernet(k.encode()) for k in keys]
    except ValueError as exc:
        raise SecretKeyError(f"A master key is not a valid Fernet key: {exc}") from None
    return MultiFernet(fernets), key_id(keys[0])


def encrypt(plaintext: str) -> tuple[bytes, str]:
    """Return (ciphertext, id of the key used)."""
    fernet, kid = _fernet()
    return fernet.encrypt(plaintext.encode()), kid


def decrypt(ciphertext: bytes) -> str:
    fernet, _ = _fernet()
    try:
        return fernet.decrypt(bytes(ciphertext)).decode()
    except InvalidToken:
        raise SecretKeyError(
            "This secret was encrypted with a master key that is not configured any more."
        ) from None


def rotate(ciphertext: bytes) -> tuple[bytes, str]:
    """Re-encrypt with the newest key; the old key must still be listed."""
    fernet, kid = _fernet()
    try:
        return fernet.rotate(bytes(ciphertext)), kid
    except InvalidToken:
        raise SecretKeyError("Cannot rotate: no configured key opens this secret.") from None


def mask(value: str) -> str:
    """Show only enough to recognise a key: 'sk-…4f2a'."""
    if len(value) <= 8:
        return "•" * len(value)
    return f"{value[:3]}…{value[-4:]}"

"""The development SECRET_KEY: random, made on first run, kept in `var/secret_key`.

A fixed key in the code would let anyone who can reach the port forge sessions and the internal
credential. Processes started together (uvicorn, the Celery worker, tests) must agree on one key,
and it must survive restarts: secrets at rest are encrypted with a key derived from it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

MIN_LENGTH = 32


def read_or_create(path: Path) -> str:
    """The key in `path`, creating the file (mode 0600) with a random key when there is none.

    The new key is written completely to a private temporary file, then hard-linked into place:
    `link` fails when the name exists, so of two processes racing here one wins and both read its
    key, and nobody ever reads a half-written file.
    """
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(50) + "\n")
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text().strip()
    if len(key) < MIN_LENGTH:
        raise RuntimeError(f"{path} holds no usable key (fewer than {MIN_LENGTH} characters); set SECRET_KEY")
    return key

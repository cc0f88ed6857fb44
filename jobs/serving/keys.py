"""API keys: only their SHA-256 hashes are stored, each with a name and scopes.

A key is 32 random bytes, so a plain SHA-256 is as good as a slow password hash against a
stolen file (nobody can guess 256 bits) and costs a microsecond per request. The file is
``conf/serving.yml``'s ``api_keys_file`` (``.secrets/``, git-ignored) or ``CDP_API_KEYS_FILE``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

LOGGER = logging.getLogger("cdp.serve.keys")
# How stale a running server's keys may be: a key created or revoked counts within this long.
RELOAD_AFTER_SECONDS = 1.0
ONEID_READ = "oneid:read"  # look up one_ids, single and batch, and the merge/split changes
PROFILE_READ = "profile:read"  # profiles and the 360° page's search: staff, not the CRM's sync
SCOPES = (ONEID_READ, PROFILE_READ)
KEY_PREFIX = "cdp_"


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: str
    scopes: tuple[str, ...]
    created_at: str


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def load_keys(path: Path) -> dict[str, ApiKey]:
    """The keys of ``path`` by hash; no file means no key (every request is refused with 401).

    Raises:
        ValueError: an entry with an unknown scope or without a hash (a typo would open or shut
            the API silently).
    """
    if not path.exists():
        return {}
    keys = {}
    for entry in json.loads(path.read_text(encoding="utf-8")):
        unknown = sorted(set(entry.get("scopes", ())) - set(SCOPES))
        if unknown or len(entry.get("sha256", "")) != 64:
            raise ValueError(f"{path}: key {entry.get('name')!r} has unknown scopes {unknown} or no sha256; scopes are {SCOPES}")
        keys[entry["sha256"]] = ApiKey(entry["name"], entry["sha256"], tuple(entry["scopes"]), entry.get("created_at", ""))
    return keys


class KeyRing:
    """The keys of a file as a running server sees them: `cdp api-key create` and `revoke` take
    effect within ``RELOAD_AFTER_SECONDS`` without a restart.

    At most once per interval the file's identity (inode, size, mtime) is compared with the one
    read last, so a lookup costs a stat a second, not a file read. A file that no longer parses
    keeps the keys read before it and is logged: a hand edit's typo must not shut the CRM out.
    """

    def __init__(self, path: Path, clock=time.monotonic) -> None:
        self.path, self.clock = path, clock
        self.keys: dict[str, ApiKey] = load_keys(path)
        self.seen = self._identity()
        self.checked_at = clock()

    def get(self, hashed: str) -> ApiKey | None:
        if self.clock() - self.checked_at >= RELOAD_AFTER_SECONDS:
            self._reload_if_changed()
        return self.keys.get(hashed)

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return None
        return status.st_ino, status.st_size, status.st_mtime_ns

    def _reload_if_changed(self) -> None:
        self.checked_at = self.clock()
        identity = self._identity()
        if identity == self.seen:
            return
        self.seen = identity
        try:
            self.keys = load_keys(self.path)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            LOGGER.error("API keys file %s no longer parses; the keys read before it stay in use: %s", self.path, error)
            return
        LOGGER.warning("API keys reloaded from %s: %d keys", self.path, len(self.keys))


def create_key(path: Path, name: str, scopes: tuple[str, ...]) -> str:
    """Adds a key named ``name`` to ``path`` and returns it: the only time it is ever shown.

    Raises:
        ValueError: the name is taken (revoke it first) or a scope is unknown.
    """
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes {unknown or '(none)'}: choose from {SCOPES}")
    entries = _entries(path)
    if any(entry["name"] == name for entry in entries):
        raise ValueError(f"a key named {name!r} exists in {path}; revoke it first (cdp api-key revoke {name})")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    entries.append({"name": name, "sha256": key_hash(key), "scopes": list(scopes), "created_at": created_at})
    _write(path, entries)
    return key


def revoke_key(path: Path, name: str) -> bool:
    """Removes the key named ``name``; False when there was none."""
    entries = _entries(path)
    kept = [entry for entry in entries if entry["name"] != name]
    _write(path, kept)
    return len(kept) < len(entries)


def _entries(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def _write(path: Path, entries: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole and renamed, so a server starting meanwhile reads the old file or the new one.
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(entries, handle, indent=2)
    temporary.replace(path)

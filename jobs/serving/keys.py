"""API keys: only their SHA-256 hashes are stored, each with a name and scopes.

A key is 32 random bytes, so a plain SHA-256 is as good as a slow password hash against a
stolen file (nobody can guess 256 bits) and costs a microsecond per request. The file is
``conf/serving.yml``'s ``api_keys_file`` (``.secrets/``, git-ignored) or ``CDP_API_KEYS_FILE``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

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

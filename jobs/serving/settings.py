"""``cdp serve``'s settings: ``conf/serving.yml``, the serving database of ``conf/env/*.yml``."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from jobs.config import PostgresSettings, REPO_ROOT, conf_dir, load_settings

API_KEYS_FILE_VARIABLE = "CDP_API_KEYS_FILE"
# Another database of the same server: the tests' and the benchmark's own, beside the published one.
DATABASE_VARIABLE = "CDP_SERVE_DATABASE"


@dataclass(frozen=True)
class ServeSettings:
    host: str
    port: int
    workers: int
    pool_min_size: int
    pool_max_size: int
    batch_max: int
    body_max_bytes: int
    profile_identifiers: int
    profile_orders: int
    profile_events: int
    changes_page_max: int
    api_keys_file: Path
    postgres: PostgresSettings


def load_serve_settings() -> ServeSettings:
    """Reads ``conf/serving.yml`` and the environment's ``postgres:`` section.

    Raises:
        ValueError: the environment (``CDP_ENV``) has no serving database.
    """
    with (conf_dir() / "serving.yml").open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    environment = load_settings()
    if environment.postgres is None:
        raise ValueError(f"conf/env/{environment.env}.yml has no postgres: section, so there is nothing to serve")
    postgres = environment.postgres
    if os.environ.get(DATABASE_VARIABLE):
        postgres = dataclasses.replace(postgres, database=os.environ[DATABASE_VARIABLE])
    keys_file = Path(os.environ.get(API_KEYS_FILE_VARIABLE) or document["api_keys_file"])
    limits = document["profile_limits"]
    return ServeSettings(
        host=str(document["host"]),
        port=int(document["port"]),
        workers=int(document["workers"]),
        pool_min_size=int(document["pool"]["min_size"]),
        pool_max_size=int(document["pool"]["max_size"]),
        batch_max=int(document["batch_max"]),
        body_max_bytes=int(document["body_max_bytes"]),
        profile_identifiers=int(limits["identifiers"]),
        profile_orders=int(limits["orders"]),
        profile_events=int(limits["events"]),
        changes_page_max=int(document["changes_page_max"]),
        api_keys_file=keys_file if keys_file.is_absolute() else REPO_ROOT / keys_file,
        postgres=postgres,
    )

"""Configuration loaded once into frozen dataclasses: environment, table catalog, landing contract.

Environments (`conf/env/*.yml`) differ only in configuration; the jobs never branch on them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

from models.ods.contract import EntityContract, parse_contract

REPO_ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("ods", "cdm", "oneid", "ads")


def conf_dir() -> Path:
    """The configuration folder: ``CDP_CONF_DIR`` or the repository's ``conf/``."""
    return Path(os.environ.get("CDP_CONF_DIR", REPO_ROOT / "conf"))


def _read_yaml(path: Path) -> Mapping[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _resolve(location: str) -> str:
    """Makes a relative local path absolute against the repository; leaves URIs alone."""
    if "://" in location or location.startswith("/"):
        return location
    return str((REPO_ROOT / location).resolve())


@dataclass(frozen=True)
class SparkSettings:
    master: str
    app_name: str
    conf: Mapping[str, str]


@dataclass(frozen=True)
class Settings:
    env: str
    landing: str
    lakehouse: str
    jars_dir: Path
    spark: SparkSettings
    ods_parallelism: int

    @property
    def checkpoint_dir(self) -> str:
        return f"{self.lakehouse}/_checkpoints"


def load_settings(env: str | None = None, landing: str | None = None, lakehouse: str | None = None) -> Settings:
    """Reads ``conf/env/{env}.yml``; explicit arguments, then CDP_* variables, override it.

    Args:
        env: environment name, default ``CDP_ENV`` or ``local``.
        landing: landing zone root, default ``CDP_LANDING`` or the file's value.
        lakehouse: lakehouse root, default ``CDP_LAKEHOUSE`` or the file's value.
    """
    env = env or os.environ.get("CDP_ENV", "local")
    path = conf_dir() / "env" / f"{env}.yml"
    if not path.exists():
        raise FileNotFoundError(f"no environment file {path} (CDP_ENV={env})")
    document = _read_yaml(path)
    spark_doc = document["spark"]
    return Settings(
        env=env,
        landing=_resolve(landing or os.environ.get("CDP_LANDING") or document["landing"]),
        lakehouse=_resolve(lakehouse or os.environ.get("CDP_LAKEHOUSE") or document["lakehouse"]),
        jars_dir=Path(_resolve(document.get("jars_dir", ".jars"))),
        spark=SparkSettings(
            master=spark_doc["master"],
            app_name=spark_doc.get("app_name", "cdp"),
            conf={key: str(value) for key, value in spark_doc.get("conf", {}).items()},
        ),
        ods_parallelism=int(document.get("ods_parallelism", 2)),
    )


@dataclass(frozen=True)
class TableSpec:
    layer: str
    name: str
    partition_by: tuple[str, ...]
    keys: tuple[str, ...]
    restricted: bool

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.name}"

    def path(self, lakehouse: str) -> str:
        return f"{lakehouse}/{self.layer}/{self.name}"


@dataclass(frozen=True)
class Catalog:
    tables: Mapping[str, TableSpec]

    def table(self, qualified_name: str) -> TableSpec:
        try:
            return self.tables[qualified_name]
        except KeyError:
            raise KeyError(f"table {qualified_name!r} is not in conf/catalog.yml") from None


@lru_cache(maxsize=None)
def load_catalog() -> Catalog:
    document = _read_yaml(conf_dir() / "catalog.yml")
    tables = {}
    for layer, layer_tables in document["tables"].items():
        if layer not in LAYERS:
            raise ValueError(f"conf/catalog.yml: unknown layer {layer!r}, expected one of {LAYERS}")
        for name, spec in layer_tables.items():
            table = TableSpec(
                layer=layer,
                name=name,
                partition_by=tuple(spec.get("partition_by", ())),
                keys=tuple(spec.get("keys", ())),
                restricted=bool(spec.get("restricted", False)),
            )
            tables[table.qualified_name] = table
    return Catalog(tables=tables)


@lru_cache(maxsize=None)
def load_contracts() -> tuple[EntityContract, ...]:
    return parse_contract(_read_yaml(conf_dir() / "sources.yml"))

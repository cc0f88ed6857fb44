"""Configuration loaded once into frozen dataclasses: environment, table catalog, landing contract.

Environments (`conf/env/*.yml`) differ only in configuration; the jobs never branch on them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from models.ods.contract import EntityContract, parse_contract

REPO_ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("ods", "cdm", "oneid", "ads", "ops")


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
    # Tables a stage publishes at once where they do not depend on each other.
    publish_parallelism: int = 1
    # Frames up to this many rows are validated by Great Expectations' pandas engine on an
    # Arrow copy (milliseconds), bigger ones where they are, by its Spark engine.
    validation_pandas_max_rows: int = 0
    # Rows per written file for the small frames that reach a write in many partitions.
    rows_per_file: int = 1_000_000
    # The serving database; None in an environment without one (no publish stage there).
    postgres: PostgresSettings | None = None

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
    document = _environment_document(env)
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
        publish_parallelism=int(document.get("publish_parallelism", 1)),
        validation_pandas_max_rows=int(document.get("validation_pandas_max_rows", 0)),
        rows_per_file=int(document.get("rows_per_file", 1_000_000)),
        postgres=_postgres_settings(document["postgres"], env) if "postgres" in document else None,
    )


PG_PASSWORD_VARIABLE = "CDP_PG_PASSWORD"
# A second checkout on the same machine runs its own server on a port of its own.
PG_PORT_VARIABLE = "CDP_PG_PORT"
DRIVER_COPY_MAX_ROWS = 1_000_000
# Written by scripts/postgres.sh (run by set-up) for the server it starts on this machine.
LOCAL_PG_PASSWORD_FILE = REPO_ROOT / ".secrets" / "pg_password"


class MissingPostgresPassword(RuntimeError):
    """Neither ``CDP_PG_PASSWORD`` nor the local password file gives the serving database's password."""


@dataclass(frozen=True)
class PostgresSettings:
    """The serving database (``postgres:`` of ``conf/env/*.yml``): the publish stage loads it,
    ``cdp serve`` reads it. The password never lives in ``conf/``."""

    host: str
    port: int
    database: str
    user: str
    # The most rows the publish stage COPYs from the driver, holding the table as Arrow; a bigger
    # table is COPYed by Spark's tasks, a partition each (jobs/serving/publish.py).
    driver_copy_max_rows: int = DRIVER_COPY_MAX_ROWS

    def password(self) -> str:
        """``CDP_PG_PASSWORD``, else the local server's ``.secrets/pg_password``.

        Raises:
            MissingPostgresPassword: neither is there, with what to set.
        """
        password = os.environ.get(PG_PASSWORD_VARIABLE, "")
        if password:
            return password
        if LOCAL_PG_PASSWORD_FILE.exists():
            return LOCAL_PG_PASSWORD_FILE.read_text(encoding="utf-8").strip()
        raise MissingPostgresPassword(
            f"{PG_PASSWORD_VARIABLE} is not set and {LOCAL_PG_PASSWORD_FILE} does not exist: on this machine "
            "`bash scripts/postgres.sh` (run by `make setup`) starts the serving database and writes its password "
            f"there; elsewhere set {PG_PASSWORD_VARIABLE} from your secret store."
        )

    def conninfo(self) -> str:
        """A libpq connection string (psycopg), password included."""
        values = {"host": self.host, "port": self.port, "dbname": self.database, "user": self.user,
                  "password": self.password(), "application_name": "cdp"}
        return " ".join(f"{name}={_conninfo_quoted(str(value))}" for name, value in values.items())

    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"


def _conninfo_quoted(value: str) -> str:
    """A libpq keyword value: quoted, with its quotes and backslashes escaped (a password may hold any)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _postgres_settings(section: Mapping[str, Any], env: str) -> PostgresSettings:
    missing = sorted({"host", "port", "database", "user"} - set(section))
    if missing:
        raise ValueError(f"conf/env/{env}.yml: postgres lacks {missing}")
    port = os.environ.get(PG_PORT_VARIABLE) or section["port"]
    if not str(port).isdigit():
        where = PG_PORT_VARIABLE if os.environ.get(PG_PORT_VARIABLE) else f"conf/env/{env}.yml postgres.port"
        raise ValueError(f"{where}={port!r} is not a port number")
    return PostgresSettings(host=str(section["host"]), port=int(port), database=str(section["database"]),
                            user=str(section["user"]),
                            driver_copy_max_rows=int(section.get("driver_copy_max_rows", DRIVER_COPY_MAX_ROWS)))


def _environment_document(env: str, extended_by: tuple[str, ...] = ()) -> Mapping[str, Any]:
    """``conf/env/{env}.yml``; a file with ``extends: <env>`` holds only what differs from that
    environment: its keys replace the base's, its Spark conf entries are added to the base's."""
    path = conf_dir() / "env" / f"{env}.yml"
    if not path.exists():
        raise FileNotFoundError(f"no environment file {path} (CDP_ENV={extended_by[0] if extended_by else env})")
    if env in extended_by:
        raise ValueError(f"environment files extend each other in a loop: {' -> '.join((*extended_by, env))}")
    document = dict(_read_yaml(path))
    base_env = document.pop("extends", None)
    if base_env is None:
        return document
    base = _environment_document(base_env, (*extended_by, env))
    spark = {**base.get("spark", {}), **document.get("spark", {})}
    spark["conf"] = {**base.get("spark", {}).get("conf", {}), **document.get("spark", {}).get("conf", {})}
    return {**base, **document, "spark": spark}


@dataclass(frozen=True)
class Reference:
    """A fact column that must find a row of a dimension: ``table`` (layer.name) and its ``column``."""

    table: str
    column: str


@dataclass(frozen=True)
class TableSpec:
    layer: str
    name: str
    partition_by: tuple[str, ...]
    keys: tuple[str, ...]
    restricted: bool
    references: Mapping[str, "Reference"] = field(default_factory=dict)

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
                references={
                    column: Reference(*target.rsplit(".", 1)) for column, target in spec.get("references", {}).items()
                },
            )
            tables[table.qualified_name] = table
    return Catalog(tables=tables)


@lru_cache(maxsize=None)
def load_contracts() -> tuple[EntityContract, ...]:
    return parse_contract(_read_yaml(conf_dir() / "sources.yml"))


@dataclass(frozen=True)
class CdmSettings:
    """``conf/cdm.yml``: the CDM's reference data, windows and the PII salt."""

    calendar_start: date
    calendar_end: date
    calendar_earliest: date
    calendar_latest: date
    trade_windows_days: tuple[int, ...]
    price_bands: tuple[tuple[str, float | None], ...]
    city_tiers: Mapping[str, tuple[str, ...]]
    channels: tuple[Mapping[str, str], ...]
    channel_labels: Mapping[str, str]


def load_cdm_settings() -> CdmSettings:
    document = _read_yaml(conf_dir() / "cdm.yml")
    return CdmSettings(
        calendar_start=document["calendar"]["start"],
        calendar_end=document["calendar"]["end"],
        calendar_earliest=document["calendar"].get("earliest", document["calendar"]["start"]),
        calendar_latest=document["calendar"].get("latest", document["calendar"]["end"]),
        trade_windows_days=tuple(int(days) for days in document["trade_windows_days"]),
        price_bands=tuple((band["band"], band.get("below")) for band in document["price_bands"]),
        city_tiers={tier: tuple(cities) for tier, cities in document["city_tiers"].items()},
        channels=tuple(dict(entry) for entry in document["channels"]),
        channel_labels=dict(document["channel_labels"]),
    )


PII_SALT_VARIABLE = "CDP_PII_SALT"
# The stages that mask and hash identifiers with the salt (`cdp run` checks it before they start).
STAGES_NEEDING_PII_SALT = ("cdm", "oneid")


class MissingPiiSalt(RuntimeError):
    """``CDP_PII_SALT`` is unset or empty."""


def pii_salt() -> str:
    """The salt of every masked-and-hashed identifier; only ever from the environment (SPEC 4).

    Raises:
        MissingPiiSalt: the variable is unset or empty, with what to set and how.
    """
    salt = os.environ.get(PII_SALT_VARIABLE, "")
    if not salt:
        raise MissingPiiSalt(
            f"{PII_SALT_VARIABLE} is not set: the CDM and OneID stages hash mobiles and emails with it "
            "(SPEC section 4), and a lakehouse keeps one salt for life, since another one changes every hash. "
            "On this machine `make setup` writes a local salt to .secrets/pii_salt: "
            f"`export {PII_SALT_VARIABLE}=$(cat .secrets/pii_salt)` (the Makefile and the demo do so). "
            "Elsewhere, set it from your secret store."
        )
    return salt


@dataclass(frozen=True)
class OneidSettings:
    """``conf/oneid.yml``: validity lists, match rules, the shared-value and identity guards."""

    rules: tuple[Any, ...]  # oneid.rules.Rule
    join_threshold: float
    confidence_levels: Mapping[str, float]
    validity: Mapping[str, Any]
    shared_anchor_types: tuple[str, ...]
    shared_max_anchors: Mapping[str, int]
    max_per_identity: Mapping[str, int]
    engine: str
    driver_max_edges: int
    source_priority: tuple[str, ...]
    record_owner: Mapping[str, tuple[str, ...]]
    weak_joins: tuple[Any, ...]  # oneid.weak.WeakJoin
    overrides: tuple[Any, ...]  # oneid.overrides.Override
    fingerprint: str  # of everything that decides the partition: a change needs a rebuild


def load_oneid_settings(path: Path | None = None) -> OneidSettings:
    """Reads and checks ``conf/oneid.yml`` (or ``path``, for `cdp oneid preview --conf`).

    Raises:
        ValueError: a rule names an unknown record, field or confidence level.
    """
    from oneid import overrides
    from oneid.rules import Rule, check_rules

    path = path or conf_dir() / "oneid.yml"
    document = _read_yaml(path)
    levels = {name: float(value) for name, value in document["confidence_levels"].items()}

    def confidence(value: Any, rule_name: str) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        if value not in levels:
            raise ValueError(f"{path}: rule {rule_name!r} has confidence {value!r}; levels are {sorted(levels)} or a number")
        return levels[value]

    rules = []
    for entry in document["rules"]:
        source, _, entity = str(entry["record"]).partition(".")
        rules.append(Rule(entry["name"], source, entity, entry["from"], entry["to"], confidence(entry["confidence"], entry["name"])))
    check_rules(rules, str(path))
    shared = document.get("shared", {})
    join_threshold = float(document["join_threshold"])
    weak_joins = _weak_joins(document.get("weak_joins") or {}, rules, join_threshold, path)
    known_types = sorted({*document["validity"], *shared.get("max_anchors", {}), *shared.get("anchor_types", ()),
                          *document.get("max_per_identity", {})})
    partition_settings = {
        "rules": [dataclasses.astuple(rule) for rule in rules],
        "join_threshold": float(document["join_threshold"]),
        "validity": document["validity"],
        "shared": shared,
        "max_per_identity": document.get("max_per_identity", {}),
        "weak_joins": [dataclasses.asdict(policy) for policy in weak_joins],
    }
    fingerprint = hashlib.sha256(json.dumps(partition_settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
    components = document.get("components", {})
    return OneidSettings(
        rules=tuple(rules),
        join_threshold=float(document["join_threshold"]),
        confidence_levels=levels,
        validity=document["validity"],
        shared_anchor_types=tuple(shared.get("anchor_types", ())),
        shared_max_anchors={name: int(limit) for name, limit in shared.get("max_anchors", {}).items()},
        max_per_identity={name: int(limit) for name, limit in document.get("max_per_identity", {}).items()},
        engine=str(components.get("engine", "auto")),
        driver_max_edges=int(components.get("driver_max_edges", 5_000_000)),
        source_priority=tuple(document.get("profile", {}).get("source_priority", ())),
        record_owner={record: tuple(fields) for record, fields in document.get("record_owner", {}).items()},
        weak_joins=weak_joins,
        overrides=overrides.parse(document.get("overrides"), known_types, str(path)),
        fingerprint=fingerprint,
    )


def _weak_joins(section: Mapping[str, Any], rules: Sequence[Any], join_threshold: float, path: Path) -> tuple[Any, ...]:
    """``weak_joins``: per weak rule, the corroboration that lets its links join.

    Raises:
        ValueError: an unknown rule, a rule that joins anyway, or an unknown setting.
    """
    from oneid.weak import Corroboration, WeakJoin

    by_name = {rule.name: rule for rule in rules}

    def corroboration(value: Any, where: str) -> Corroboration:
        settings = {} if value is None else value
        if not isinstance(settings, Mapping) or set(settings) - {"min_records", "min_days", "min_share"}:
            raise ValueError(f"{path}: weak_joins.{where} takes min_records, min_days and min_share, got {value!r}")
        return Corroboration(**settings)

    policies = []
    for name, entry in section.items():
        if name not in by_name:
            raise ValueError(f"{path}: weak_joins names rule {name!r}; rules are {sorted(by_name)}")
        if by_name[name].confidence >= join_threshold:
            raise ValueError(f"{path}: weak_joins.{name}: the rule joins anyway (confidence "
                             f"{by_name[name].confidence} >= join_threshold {join_threshold})")
        held = entry.get("held", "never")
        policies.append(WeakJoin(
            name, corroboration(entry.get("unclaimed"), f"{name}.unclaimed"),
            None if held == "never" else corroboration(held, f"{name}.held"),
        ))
    return tuple(policies)


@dataclass(frozen=True)
class AdsSettings:
    """``conf/ads.yml``: the windows and thresholds of every ADS model, the tag refresh days."""

    sections: Mapping[str, Mapping[str, Any]]
    weekly_on: int  # ISO weekday weekly tags are computed on (1 = Monday)
    monthly_on: int  # day of the month monthly tags are computed on
    exports_dir: Path
    # Recompute statistic tags only for the identities touched since the last ADS day.
    incremental_statistics: bool = True

    def params(self, section: str, params_class: type) -> Any:
        """The section as the model's parameter dataclass (lists become tuples).

        Raises:
            ValueError: the section names a parameter the model does not have.
        """
        values = {name: tuple(value) if isinstance(value, list) else value for name, value in self.sections.get(section, {}).items()}
        known = {field.name for field in dataclasses.fields(params_class)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"conf/ads.yml: {section} has unknown parameter(s) {sorted(unknown)}; known: {sorted(known)}")
        return params_class(**values)


def load_ads_settings() -> AdsSettings:
    document = _read_yaml(conf_dir() / "ads.yml")
    tags = document.get("tags", {})
    weekly_on, monthly_on = int(tags.get("weekly_on", 1)), int(tags.get("monthly_on", 1))
    if not 1 <= weekly_on <= 7 or not 1 <= monthly_on <= 28:
        raise ValueError("conf/ads.yml: tags.weekly_on is 1-7 (Monday = 1) and tags.monthly_on 1-28 (every month has it)")
    return AdsSettings(
        sections={name: value for name, value in document.items() if name not in ("tags", "exports_dir")},
        weekly_on=weekly_on,
        monthly_on=monthly_on,
        exports_dir=Path(_resolve(document.get("exports_dir", "exports"))),
        incremental_statistics=bool(tags.get("incremental_statistics", True)),
    )


def _read_folder(folder: Path) -> dict[str, Any]:
    """Every ``*.yml`` of a folder by file name, in name order."""
    return {path.name: _read_yaml(path) for path in sorted(folder.glob("*.yml"))}


def load_tag_catalog() -> tuple[Any, ...]:
    """The tag definitions of ``conf/tags/*.yml`` (tags.catalog.TagDef), checked field by field."""
    from tags.catalog import parse_catalog

    return parse_catalog(_read_folder(conf_dir() / "tags"))


def load_segments() -> tuple[Any, ...]:
    """The audiences of ``conf/segments/*.yml`` (tags.segments.SegmentDef)."""
    from tags.segments import parse_segments

    return parse_segments(_read_folder(conf_dir() / "segments"))

"""The landing contract (SPEC section 2) as typed, immutable values.

`conf/sources.yml` is loaded into these dataclasses by ``jobs.config``; the ODS transforms
take them as parameters and never read configuration themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

COLUMN_TYPES = ("string", "timestamp", "date", "decimal", "int", "enum", "list", "items", "object")
FORMATS = ("csv", "jsonl")


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    required: bool = False
    values: tuple[str, ...] = ()
    min: float | None = None

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"column {self.name!r}: unknown type {self.type!r}, expected one of {COLUMN_TYPES}")
        if self.type == "enum" and not self.values:
            raise ValueError(f"column {self.name!r}: an enum needs its values")


@dataclass(frozen=True)
class EntityContract:
    source: str
    entity: str
    format: str
    encoding: str
    columns: tuple[ColumnSpec, ...]
    time_formats: tuple[str, ...]
    date_format: str

    @property
    def table_name(self) -> str:
        """The ODS table the entity lands in, e.g. ``pos_orders``."""
        return f"{self.source}_{self.entity}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.required)


def parse_contract(document: Mapping[str, Any]) -> tuple[EntityContract, ...]:
    """Builds every entity's contract from the ``sources.yml`` document.

    Raises:
        ValueError: on an unknown format or column type, naming the entity.
    """
    defaults = document.get("defaults", {})
    contracts = []
    for source, source_doc in document["sources"].items():
        encoding = source_doc.get("encoding", defaults.get("encoding", "utf-8"))
        for entity, entity_doc in source_doc["entities"].items():
            if entity_doc["format"] not in FORMATS:
                raise ValueError(f"{source}/{entity}: unknown format {entity_doc['format']!r}")
            columns = tuple(
                ColumnSpec(
                    name=column["name"],
                    type=column["type"],
                    required=bool(column.get("required", False)),
                    values=tuple(str(value) for value in column.get("values", ())),
                    min=column.get("min"),
                )
                for column in entity_doc["columns"]
            )
            contracts.append(
                EntityContract(
                    source=source,
                    entity=entity,
                    format=entity_doc["format"],
                    encoding=entity_doc.get("encoding", encoding),
                    columns=columns,
                    time_formats=tuple(defaults.get("time_formats", ("yyyy-MM-dd HH:mm:ss",))),
                    date_format=defaults.get("date_format", "yyyy-MM-dd"),
                )
            )
    return tuple(contracts)

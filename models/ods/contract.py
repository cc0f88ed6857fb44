"""The landing contract (SPEC section 2) as typed, immutable values.

`conf/sources.yml` is loaded into these dataclasses by ``jobs.config``; the ODS transforms
take them as parameters and never read configuration themselves.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any, Mapping

from models.ods.anomalies import AnomalyRule, parse_rules

COLUMN_TYPES = ("string", "timestamp", "date", "decimal", "int", "enum", "list", "items", "object")
FORMATS = ("csv", "jsonl")
NUMBER_TYPES = ("decimal", "int")


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
class SignConvention:
    """Numbers a source may write negated as a whole, meaning the same as positive.

    A return is a refund whichever sign the till writes it with (SPEC section 2). A row whose
    ``columns`` are all zero or negative, at least one negative, is read as written negative
    and loads with every one of them negated, so later layers see one convention. Any other
    negative value in these columns (one sign mixed with the other, or a row that
    ``allowed_column`` does not allow) is ``out_of_range``.

    Attributes:
        columns: the numeric columns that change sign together.
        allowed_column: the column saying whether a row may be written negative, e.g.
            ``order_type``; None when any row may be (order lines, which carry no order type).
        allowed_values: the values of ``allowed_column`` that may be written negative.
    """

    columns: tuple[str, ...]
    allowed_column: str | None = None
    allowed_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntityContract:
    source: str
    entity: str
    format: str
    # Tried in order, each strictly; a file starting with a UTF-8 BOM is UTF-8 whatever these say.
    encodings: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    time_formats: tuple[str, ...]
    date_format: str
    sign_convention: SignConvention | None = None
    anomalies: tuple[AnomalyRule, ...] = ()

    def __post_init__(self) -> None:
        if not self.encodings:
            raise ValueError(f"{self.source}/{self.entity}: no encoding declared")
        for encoding in self.encodings:
            try:
                codecs.lookup(encoding)
            except LookupError as error:
                raise ValueError(f"{self.source}/{self.entity}: unknown encoding {encoding!r}") from error
        if self.sign_convention is not None:
            self._check_sign_convention(self.sign_convention)

    def _check_sign_convention(self, rule: SignConvention) -> None:
        types = {column.name: column.type for column in self.columns}
        for name in rule.columns:
            if types.get(name) not in NUMBER_TYPES:
                raise ValueError(f"{self.source}/{self.entity}: sign_convention column {name!r} is not a number column")
        if rule.allowed_column is not None and types.get(rule.allowed_column) is None:
            raise ValueError(f"{self.source}/{self.entity}: sign_convention column {rule.allowed_column!r} is unknown")
        if rule.allowed_column is not None and not rule.allowed_values:
            raise ValueError(
                f"{self.source}/{self.entity}: sign_convention names {rule.allowed_column!r} but no values"
            )

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


def _encodings(declared: str | list[str]) -> tuple[str, ...]:
    """``encoding`` may name one encoding or a list tried in order."""
    return (declared,) if isinstance(declared, str) else tuple(declared)


def _sign_convention(document: Mapping[str, Any] | None) -> SignConvention | None:
    if document is None:
        return None
    allowed = document.get("negative_allowed_when", {})
    return SignConvention(
        columns=tuple(document["columns"]),
        allowed_column=allowed.get("column"),
        allowed_values=tuple(str(value) for value in allowed.get("values", ())),
    )


def parse_contract(document: Mapping[str, Any]) -> tuple[EntityContract, ...]:
    """Builds every entity's contract from the ``sources.yml`` document.

    Raises:
        ValueError: on an unknown format, column type or encoding, or a sign convention over
            columns that are not numbers, naming the entity.
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
                    encodings=_encodings(entity_doc.get("encoding", encoding)),
                    columns=columns,
                    time_formats=tuple(defaults.get("time_formats", ("yyyy-MM-dd HH:mm:ss",))),
                    date_format=defaults.get("date_format", "yyyy-MM-dd"),
                    sign_convention=_sign_convention(entity_doc.get("sign_convention")),
                    anomalies=parse_rules(entity_doc.get("anomalies", ()), f"{source}/{entity}"),
                )
            )
    return tuple(contracts)

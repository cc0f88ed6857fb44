"""The landing contract of ``conf/sources.yml`` as the generator needs it, and how amounts
are written."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

DEFAULT_CONF_DIR = Path(__file__).resolve().parents[2] / "conf"

# Entities, named "source/entity" as in the contract.
MEMBERS = "crm/members"
POINTS = "crm/points_ledger"
COUPONS = "crm/coupons"
STORES = "pos/stores"
POS_ORDERS = "pos/orders"
POS_ITEMS = "pos/order_items"
ECOM_ORDERS = "ecom/orders"
WECHAT_USERS = "wechat/users"
EVENTS = "wechat/events"
PRODUCTS = "product/products"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool
    values: tuple[str, ...]
    min: float | None


@dataclass(frozen=True)
class EntitySpec:
    source: str
    entity: str
    format: str
    encoding: str
    columns: tuple[Column, ...]

    @property
    def name(self) -> str:
        return f"{self.source}/{self.entity}"

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def load_contract(conf_dir: Path) -> dict[str, EntitySpec]:
    """The landing contract of ``sources.yml``, keyed "source/entity", in file order."""
    conf = yaml.safe_load((conf_dir / "sources.yml").read_text(encoding="utf-8"))
    default_encoding = conf.get("defaults", {}).get("encoding", "utf-8")
    specs = {}
    for source, source_conf in conf["sources"].items():
        for entity, entity_conf in source_conf["entities"].items():
            columns = tuple(
                Column(c["name"], c["type"], bool(c.get("required", False)),
                       tuple(c.get("values", ())), c.get("min"))
                for c in entity_conf["columns"]
            )
            spec = EntitySpec(source, entity, entity_conf["format"],
                              source_conf.get("encoding", default_encoding), columns)
            specs[spec.name] = spec
    return specs


def money(cents: int) -> str:
    # cents / 100 is the double nearest the 2-decimal value, so rounding it to 2 places gives
    # that value back exactly ("-12.30", "0.05").
    return f"{cents / 100:.2f}"


def json_money(cents: int, as_text: bool) -> str | float:
    # cents / 100 is the double nearest the 2-decimal value, so json writes e.g. 19.99.
    return money(cents) if as_text else cents / 100

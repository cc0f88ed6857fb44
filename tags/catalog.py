"""The tag catalog: definitions from ``conf/tags/*.yml`` parsed into frozen dataclasses and checked.

A definition names its code, names, category path, type, status, refresh cycle, owner and
description, plus the fields of its type (``TAGS_FORMAT`` in the README). Only ``online`` tags
are computed; an online tag may depend only on online tags, so taking a tag offline or
retiring it is refused while others still use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

FACT, STATISTIC, RULE, BUCKET, MODEL = "fact", "statistic", "rule", "bucket", "model"
TAG_TYPES = (FACT, STATISTIC, RULE, BUCKET, MODEL)
DRAFT, ONLINE, OFFLINE, RETIRED = "draft", "online", "offline", "retired"
STATUSES = (DRAFT, ONLINE, OFFLINE, RETIRED)
DAILY, WEEKLY, MONTHLY = "daily", "weekly", "monthly"
REFRESH_CYCLES = (DAILY, WEEKLY, MONTHLY)

AGGREGATIONS = ("count", "count_distinct", "sum", "avg", "min", "max", "mode", "avg_interval_days", "ratio")
BUCKET_METHODS = ("fixed", "quantile")

COMMON_FIELDS = ("code", "name_zh", "name_en", "category", "type", "status", "refresh", "owner", "description")
TYPE_FIELDS = {
    FACT: {"required": ("source",), "optional": ("column", "value")},
    STATISTIC: {"required": ("source", "agg"), "optional": ("of", "where", "window_days", "ratio_where", "default")},
    RULE: {"required": (), "optional": ("condition", "cases", "else")},
    BUCKET: {"required": ("of", "method", "labels"), "optional": ("thresholds", "quantiles", "population")},
    MODEL: {"required": ("model",), "optional": ()},
}
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class CatalogError(ValueError):
    """A tag definition is malformed or does not fit the rest of the catalog."""


@dataclass(frozen=True)
class TagDef:
    code: str
    name_zh: str
    name_en: str
    category: tuple[str, ...]
    tag_type: str
    status: str
    refresh: str
    owner: str
    description: str
    spec: Mapping[str, Any]
    defined_in: str

    @property
    def category_path(self) -> str:
        return "/".join(self.category)

    @property
    def is_online(self) -> bool:
        return self.status == ONLINE


def parse_catalog(documents: Mapping[str, Any]) -> tuple[TagDef, ...]:
    """Every tag of every document, in file then list order.

    Args:
        documents: file name → parsed YAML document with a ``tags`` list.

    Raises:
        CatalogError: naming the file and the tag.
    """
    tags: list[TagDef] = []
    seen: dict[str, str] = {}
    for file_name in sorted(documents):
        document = documents[file_name] or {}
        entries = document.get("tags") if isinstance(document, Mapping) else None
        if not isinstance(entries, list):
            raise CatalogError(f"{file_name}: expected a top-level `tags:` list")
        for position, entry in enumerate(entries, start=1):
            tag = _parse_tag(entry, f"{file_name} tag #{position}", file_name)
            if tag.code in seen:
                raise CatalogError(f"tag {tag.code}: defined twice, in {seen[tag.code]} and {file_name}")
            seen[tag.code] = file_name
            tags.append(tag)
    return tuple(tags)


def _parse_tag(entry: Any, where: str, file_name: str) -> TagDef:
    if not isinstance(entry, Mapping):
        raise CatalogError(f"{where}: expected a mapping of fields")
    code = entry.get("code")
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        raise CatalogError(f"{where}: code {code!r} must be snake_case (a-z, 0-9, _), starting with a letter")
    context = f"tag {code} ({file_name})"
    missing = [name for name in COMMON_FIELDS if entry.get(name) in (None, "")]
    if missing:
        raise CatalogError(f"{context}: missing {', '.join(missing)}")
    tag_type = _one_of(entry["type"], TAG_TYPES, "type", context)
    fields = TYPE_FIELDS[tag_type]
    missing = [name for name in fields["required"] if entry.get(name) in (None, "")]
    if missing:
        raise CatalogError(f"{context}: a {tag_type} tag needs {', '.join(missing)}")
    unknown = set(entry) - set(COMMON_FIELDS) - set(fields["required"]) - set(fields["optional"])
    if unknown:
        raise CatalogError(f"{context}: unknown field(s) {sorted(unknown)} for a {tag_type} tag")
    spec = {name: entry[name] for name in (*fields["required"], *fields["optional"]) if name in entry}
    _check_spec(tag_type, spec, context)
    return TagDef(
        code=code,
        name_zh=str(entry["name_zh"]),
        name_en=str(entry["name_en"]),
        category=tuple(part.strip() for part in str(entry["category"]).split("/") if part.strip()),
        tag_type=tag_type,
        status=_one_of(entry["status"], STATUSES, "status", context),
        refresh=_one_of(entry["refresh"], REFRESH_CYCLES, "refresh", context),
        owner=str(entry["owner"]),
        description=str(entry["description"]).strip(),
        spec=spec,
        defined_in=file_name,
    )


def _one_of(value: Any, allowed: Sequence[str], field: str, context: str) -> str:
    if value not in allowed:
        raise CatalogError(f"{context}: {field} {value!r} is not one of {', '.join(allowed)}")
    return value


def _check_spec(tag_type: str, spec: Mapping[str, Any], context: str) -> None:
    if tag_type == FACT and ("column" in spec) == ("value" in spec):
        raise CatalogError(f"{context}: a fact tag takes exactly one of `column` or `value`")
    if tag_type == STATISTIC:
        agg = _one_of(spec["agg"], AGGREGATIONS, "agg", context)
        if agg != "count" and "of" not in spec and agg != "ratio":
            raise CatalogError(f"{context}: agg {agg} needs `of` (the column it aggregates)")
        if (agg == "ratio") != ("ratio_where" in spec):
            raise CatalogError(f"{context}: `ratio_where` goes with agg ratio, and only with it")
        window = spec.get("window_days")
        if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window < 1):
            raise CatalogError(f"{context}: window_days must be a positive whole number of days, not {window!r}")
    if tag_type == RULE:
        if ("condition" in spec) == ("cases" in spec):
            raise CatalogError(f"{context}: a rule tag takes exactly one of `condition` (true/false) or `cases` (labels)")
        if "else" in spec and "cases" not in spec:
            raise CatalogError(f"{context}: `else` goes with `cases`")
        cases = spec.get("cases", [])
        if "cases" in spec and (not isinstance(cases, list) or not cases):
            raise CatalogError(f"{context}: `cases` must be a non-empty list of {{when, value}}")
        for case in cases:
            if not isinstance(case, Mapping) or set(case) != {"when", "value"}:
                raise CatalogError(f"{context}: each case needs exactly `when` and `value`, got {case!r}")
    if tag_type == BUCKET:
        method = _one_of(spec["method"], BUCKET_METHODS, "method", context)
        cuts_field = "thresholds" if method == "fixed" else "quantiles"
        cuts = spec.get(cuts_field)
        if not isinstance(cuts, list) or not cuts or any(not isinstance(cut, (int, float)) for cut in cuts):
            raise CatalogError(f"{context}: a {method} bucket needs `{cuts_field}`, a list of numbers")
        if list(cuts) != sorted(set(cuts)):
            raise CatalogError(f"{context}: `{cuts_field}` must be strictly ascending")
        if method == "quantile" and not all(0 < cut < 1 for cut in cuts):
            raise CatalogError(f"{context}: quantiles lie strictly between 0 and 1")
        labels = spec["labels"]
        if not isinstance(labels, list) or len(labels) != len(cuts) + 1:
            raise CatalogError(f"{context}: {len(cuts)} cut points need {len(cuts) + 1} labels, got {labels!r}")

"""The ground truth under ``_truth/``: what the rows written carry, gathered per chunk and
merged into one file each.

* ``bad_rows.csv`` (source, entity, dt, file, line, reason): every defective row.
* ``identifiers.csv`` (person_id, id_type, id_value): every identifier a written good row
  carries, canonical, with its one owner.
* ``non_identifiers.csv`` (id_type, raw_value, kind): values in identifier columns that are
  none (placeholders, masked, invalid, junk devices, the store phone).
* ``shared.csv`` (id_type, id_value, kind, person_ids): values several persons use
  legitimately (family devices, gift receivers' mobiles, the store phone), ";"-joined.
* ``summary.json``: what ``generate`` returned, with its arguments.
"""

from __future__ import annotations

import csv
import heapq
import itertools
import json
import shutil
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

TRUTH_DIR = "_truth"
CHUNKS_DIR = "chunks"  # under TRUTH_DIR while chunks run; removed once merged
BAD_ROWS, IDENTIFIERS = "bad_rows.csv", "identifiers.csv"
NON_IDENTIFIERS, SHARED, SUMMARY = "non_identifiers.csv", "shared.csv", "summary.json"
HEADERS = {
    BAD_ROWS: ("source", "entity", "dt", "file", "line", "reason"),
    IDENTIFIERS: ("person_id", "id_type", "id_value"),
    NON_IDENTIFIERS: ("id_type", "raw_value", "kind"),
    SHARED: ("id_type", "id_value", "kind", "person_ids"),
}
PERSON_SEPARATOR = ";"


class Identifier(NamedTuple):
    person_id: str
    id_type: str
    id_value: str  # canonical form


class NonIdentifier(NamedTuple):
    id_type: str
    raw_value: str
    kind: str


class SharedUse(NamedTuple):
    """One person's legitimate use of a value that other persons use too."""

    id_type: str
    id_value: str
    kind: str
    person_id: str


@dataclass
class Truth:
    """One chunk's truth."""

    identifiers: set[Identifier] = field(default_factory=set)
    non_identifiers: set[NonIdentifier] = field(default_factory=set)
    shared: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    bad_rows: list[tuple] = field(default_factory=list)

    def record(self, evidence: tuple) -> None:
        for item in evidence:
            if type(item) is Identifier:
                self.identifiers.add(item)
            elif type(item) is NonIdentifier:
                self.non_identifiers.add(item)
            else:
                self.shared.setdefault(item[:3], set()).add(item.person_id)

    def write(self, folder: Path) -> None:
        """The chunk's files, each sorted, ready for ``merge``."""
        folder.mkdir(parents=True, exist_ok=True)
        write_csv(folder / BAD_ROWS, self.bad_rows)
        write_csv(folder / IDENTIFIERS, sorted(self.identifiers))
        write_csv(folder / NON_IDENTIFIERS, sorted(self.non_identifiers))
        write_csv(folder / SHARED, [(*key, PERSON_SEPARATOR.join(sorted(persons)))
                                    for key, persons in sorted(self.shared.items())])


def chunk_folder(out: Path, index: int) -> Path:
    return out / TRUTH_DIR / CHUNKS_DIR / f"{index:05d}"


def write_csv(path: Path, rows: Iterable[tuple]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADERS[path.name])
        writer.writerows(rows)


def read_csv(path: Path) -> Iterator[tuple]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        next(rows)
        yield from map(tuple, rows)


def merge(out: Path, chunks: int, summary: dict) -> None:
    """Merge the chunks' files into ``out/_truth`` and drop them, streaming: a value used in
    several chunks (a placeholder, the store phone) comes out once, with every person.
    """
    folder = out / TRUTH_DIR
    parts = [chunk_folder(out, index) for index in range(chunks)]

    def merged(name: str) -> Iterator[tuple]:
        return heapq.merge(*(read_csv(part / name) for part in parts))

    write_csv(folder / BAD_ROWS, itertools.chain.from_iterable(read_csv(part / BAD_ROWS) for part in parts))
    write_csv(folder / IDENTIFIERS, merged(IDENTIFIERS))
    write_csv(folder / NON_IDENTIFIERS, (row for row, _ in itertools.groupby(merged(NON_IDENTIFIERS))))
    write_csv(folder / SHARED, (
        (*key, PERSON_SEPARATOR.join(sorted({p for row in rows for p in row[3].split(PERSON_SEPARATOR)})))
        for key, rows in itertools.groupby(merged(SHARED), key=itemgetter(0, 1, 2))
    ))
    (folder / SUMMARY).write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(folder / CHUNKS_DIR)

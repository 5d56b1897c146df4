"""The ``files`` welfare backend: lists dropped into a directory, named
``<province>_<programme>_<period>.csv|xlsx``, read with one mapping (``ANSINH_WELFARE_MAPPING``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from adapters.welfare.files import fingerprint, open_list
from adapters.welfare.port import SourceList, StatusReport
from mappings import engine

NAME = re.compile(
    r"^(?P<province>\d{2,3})_(?P<programme>[A-Z0-9\-]+)_(?P<period>\d{4}-\d{2}|ONCE)$"
)


class FileInbox:
    name = "files"

    def __init__(self, directory: Path, mapping: str) -> None:
        self.directory, self.mapping = directory, mapping
        self.outbox = directory / "statuses"

    def lists(self) -> list[SourceList]:
        found = []
        for path in sorted(self.directory.glob("*")):
            match = NAME.match(path.stem)
            if match is None or path.suffix.lower() not in (".csv", ".xlsx"):
                continue
            found.append(
                SourceList(
                    key=f"{match['province']}/{match['programme']}/{match['period']}",
                    programme=match["programme"],
                    period=match["period"],
                    mapping=self.mapping,
                    kind=path.suffix.lower().lstrip("."),
                    version=fingerprint(path),
                )
            )
        return found

    def path_of(self, source: SourceList) -> Path:
        return self.directory / f"{source.key.replace('/', '_')}.{source.kind}"

    def rows(self, source: SourceList) -> Iterator[dict[str, object]]:
        mapping = engine.load(source.mapping)
        for table in open_list(self.path_of(source), mapping.source).tables():
            names = [c[0] if isinstance(c, tuple) else str(c or "") for c in table.header or ()]
            for raw in table.rows:
                cells = raw.cells
                yield {"@sheet": table.sheet, "@location": raw.location} | dict(
                    zip(names, cells, strict=False)
                )

    def push_statuses(self, list_key: str, statuses: Sequence[StatusReport]) -> None:
        from adapters.welfare.status_file import write_statuses

        self.outbox.mkdir(parents=True, exist_ok=True)
        write_statuses(self.outbox / f"{list_key.replace('/', '_')}.statuses.csv", statuses)

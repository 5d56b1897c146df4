"""In-memory welfare source: lists handed to it by a test or by the demo's generator."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from adapters.welfare.port import SourceList, StatusReport


class FakeWelfareSource:
    name = "fake"

    def __init__(self) -> None:
        self._lists: dict[str, tuple[SourceList, list[dict[str, object]]]] = {}
        self.pushed: dict[str, list[StatusReport]] = {}

    def offer(self, source: SourceList, rows: list[dict[str, object]]) -> None:
        self._lists[source.key] = (source, rows)

    def lists(self) -> list[SourceList]:
        return [src for src, _ in self._lists.values()]

    def rows(self, source: SourceList) -> Iterator[dict[str, object]]:
        yield from self._lists[source.key][1]

    def push_statuses(self, list_key: str, statuses: Sequence[StatusReport]) -> None:
        self.pushed.setdefault(list_key, []).extend(statuses)

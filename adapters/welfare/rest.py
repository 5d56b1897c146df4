"""A provincial welfare database's paged REST API (the shape ``ansinh simulate province`` serves).

``GET  {url}/api/v1/lists``                        lists on offer (key, programme, period, version)
``GET  {url}/api/v1/lists/{id}/items?page=&page_size=``  one page of records, ``next_page`` or null
``POST {url}/api/v1/lists/{id}/statuses``          per-person status back to the province

Every call goes through ``adapters.http`` (timeouts, bounded retries with jitter, breaker, body
size limit). Pages are fetched one at a time, so a long list streams in constant memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

import requests

from adapters.http import Resilience, build_session, check_status, read_limited, timeouts
from adapters.welfare.port import SourceList, StatusReport
from gateway.errors import UpstreamProtocolError
from gateway.settings import Settings

SYSTEM = "welfare"


class RestWelfareSource:
    name = "rest"

    def __init__(self, settings: Settings, *, session: requests.Session | None = None) -> None:
        welfare = settings.welfare
        if not welfare.url:
            raise ValueError("ANSINH_WELFARE_URL is required for the rest welfare backend")
        self.base = welfare.url.rstrip("/")
        self.page_size = welfare.page_size
        self.http = settings.http
        self.session = session or build_session(settings.http)
        if welfare.token:
            self.session.headers["Authorization"] = f"Bearer {welfare.token}"
        self.resilience = Resilience(settings.http, SYSTEM)

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        def call() -> Any:
            response = self.session.get(
                self.base + path, params=params, timeout=timeouts(self.http), stream=True
            )
            check_status(response, SYSTEM)
            return _json(read_limited(response, self.http.max_response_bytes, SYSTEM))

        return self.resilience.call(call)

    def lists(self) -> list[SourceList]:
        body = self._get("/api/v1/lists")
        return [
            SourceList(
                key=str(item["key"]),
                programme=str(item["programme"]),
                period=str(item["period"]),
                mapping=str(item.get("mapping") or "provinces/rest_v1"),
                kind="rest",
                version=str(item["version"]),
            )
            for item in body.get("lists", [])
        ]

    def rows(self, source: SourceList) -> Iterator[dict[str, object]]:
        page: int | None = 1
        while page is not None:
            body = self._get(
                f"/api/v1/lists/{_list_id(source.key)}/items",
                {"page": page, "page_size": self.page_size},
            )
            items = body.get("items")
            if not isinstance(items, list):
                raise UpstreamProtocolError(
                    "welfare list page has no items array",
                    "trang danh sách không có mảng items",
                    code="welfare.protocol",
                )
            yield from items
            following = body.get("next_page")
            page = int(following) if following else None

    def push_statuses(self, list_key: str, statuses: Sequence[StatusReport]) -> None:
        payload = {"statuses": [asdict(s) for s in statuses]}

        def call() -> None:
            response = self.session.post(
                f"{self.base}/api/v1/lists/{_list_id(list_key)}/statuses",
                json=payload,
                timeout=timeouts(self.http),
            )
            check_status(response, SYSTEM)
            response.close()

        self.resilience.call(call)  # idempotent at the province: statuses are keyed by source_ref


def _list_id(key: str) -> str:
    return key.replace("/", "_")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise UpstreamProtocolError(
            "welfare answered something that is not JSON",
            "hệ thống của tỉnh trả về dữ liệu không phải JSON",
            code="welfare.protocol",
        ) from exc

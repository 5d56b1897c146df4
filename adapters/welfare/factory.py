"""Builds the welfare source the settings ask for (imported lazily by ``gateway.bootstrap``)."""

from __future__ import annotations

from pathlib import Path

from adapters.welfare.port import WelfareSource
from gateway.settings import Settings, SettingsError


def build(settings: Settings) -> WelfareSource:
    welfare = settings.welfare
    if welfare.backend == "rest":
        if not welfare.url:
            raise SettingsError("ANSINH_WELFARE_BACKEND=rest needs ANSINH_WELFARE_URL")
        from adapters.welfare.rest import RestWelfareSource

        return RestWelfareSource(settings)
    if welfare.backend == "files":
        if not welfare.inbox_dir:
            raise SettingsError("ANSINH_WELFARE_BACKEND=files needs ANSINH_WELFARE_INBOX_DIR")
        from adapters.welfare.inbox import FileInbox

        return FileInbox(Path(welfare.inbox_dir), welfare.mapping)
    raise SettingsError(f"unknown welfare backend {welfare.backend!r}")

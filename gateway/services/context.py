"""What every use case receives: the database, the vault, the ports and a clock.

Built once by ``gateway.bootstrap``; tests build it with fakes. Services depend on the port
*protocols*, never on a concrete adapter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.payments.port import PaymentChannel
from adapters.registry.port import RegistryPort
from adapters.welfare.port import WelfareSource
from gateway.db.database import Database
from gateway.security.vault import PiiVault
from gateway.settings import Settings


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Services:
    settings: Settings
    db: Database
    vault: PiiVault
    registry: RegistryPort
    welfare: WelfareSource
    payments: dict[str, PaymentChannel]  # by channel: "bank", "postoffice"
    clock: Callable[[], dt.datetime] = utcnow
    extras: dict[str, object] = field(default_factory=dict)

    def channel(self, name: str) -> PaymentChannel:
        try:
            return self.payments[name]
        except KeyError:
            from gateway.errors import problem

            raise problem(
                "channel",
                "channel.unknown",
                f"no payment channel {name!r} is configured",
                f"chưa cấu hình kênh chi trả {name!r}",
            ) from None

    def close(self) -> None:
        self.db.dispose()

"""Who is acting: a signed-in officer, an API client, or the system itself (scheduler, demo)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.states import Role


@dataclass(frozen=True)
class Actor:
    username: str
    role: Role | None  # None for the system
    unit_id: int | None = None  # scope root; None = national
    unit_path: str | None = None  # materialised path of the scope root ("79/" …)
    unit_scheme: str | None = None
    user_id: int | None = None

    @property
    def is_system(self) -> bool:
        return self.role is None

    @property
    def is_national(self) -> bool:
        return self.unit_id is None

    def label(self) -> str:
        return self.username if self.role is None else f"{self.username} ({self.role.value})"

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(username=name, role=None)

"""Where nuchal keeps its data: the warehouse, spool, models and reports (SPEC contract 4)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = Path("nuchal-data")


@dataclass(frozen=True)
class Home:
    """A nuchal data folder. Every path under it is derived here and nowhere else."""

    root: Path

    @classmethod
    def resolve(cls, cli_value: str | Path | None = None) -> Home:
        """``--home`` wins over ``NUCHAL_HOME``, which wins over ``./nuchal-data``."""
        raw = cli_value or os.environ.get("NUCHAL_HOME") or DEFAULT_HOME
        return cls(Path(raw).expanduser().resolve())

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    def ensure(self) -> Home:
        for p in (self.root, self.spool, self.models, self.reports, self.inbox):
            p.mkdir(parents=True, exist_ok=True)
        return self

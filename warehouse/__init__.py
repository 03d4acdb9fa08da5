"""DuckDB warehouse: connections, migrations, public views (SPEC contract 3)."""

from warehouse.db import Warehouse, open_warehouse, registered, writer_lock
from warehouse.errors import WarehouseBusyError, WarehouseError, WarehouseVersionError

PUBLIC_VIEWS = (
    "participants",
    "imu_samples",
    "stream_gaps",
    "diary",
    "quarantine",
    "participant_day_features",
    "predictions",
    "alerts",
)

__all__ = [
    "PUBLIC_VIEWS",
    "Warehouse",
    "WarehouseBusyError",
    "WarehouseError",
    "WarehouseVersionError",
    "open_warehouse",
    "registered",
    "writer_lock",
]

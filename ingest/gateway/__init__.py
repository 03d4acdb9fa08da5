"""The live BLE gateway: bleak links -> spool (fsync) -> exactly-once merge into DuckDB."""

from ingest.gateway.gateway import DeviceAssignment, Gateway, GatewayConfig, GatewayReport
from ingest.gateway.merge import Merger, MergeResult
from ingest.gateway.session import SessionDecoder
from ingest.gateway.spool import SessionMeta, SessionSpool

__all__ = [
    "DeviceAssignment",
    "Gateway",
    "GatewayConfig",
    "GatewayReport",
    "MergeResult",
    "Merger",
    "SessionDecoder",
    "SessionMeta",
    "SessionSpool",
]

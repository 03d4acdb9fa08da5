"""Errors of the warehouse package: one root, specific subclasses."""


class WarehouseError(Exception):
    """Root of every warehouse error; the message says what to do."""


class WarehouseBusyError(WarehouseError):
    """Another writer held the warehouse longer than we were willing to wait."""


class WarehouseVersionError(WarehouseError):
    """The warehouse was written by a newer nuchal than this one."""

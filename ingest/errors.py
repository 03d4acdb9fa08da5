"""Errors of the ingest package."""


class IngestError(Exception):
    """Root of ingest errors; messages name the file, row, column or device."""


class FileFormatError(IngestError):
    """A whole file cannot be read as the format it claims (its rows are not even looked at)."""

"""Turn the packages' own errors into one clear line and an exit code, never a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

log = logging.getLogger(__name__)


class NuchalError(Exception):
    """Root of errors raised by the CLI layer itself."""


@dataclass
class Outcome:
    code: int = 0


def _user_errors() -> tuple[type[BaseException], ...]:
    from ingest.errors import IngestError
    from warehouse.errors import WarehouseError

    found: list[type[BaseException]] = [NuchalError, WarehouseError, IngestError]
    for mod, name in (
        ("features.errors", "FeatureError"),
        ("models.errors", "ModelError"),
        ("simulator.errors", "SimulatorError"),
        ("ingest.gateway.errors", "GatewayError"),
    ):
        with suppress(ImportError, AttributeError):
            found.append(getattr(__import__(mod, fromlist=[name]), name))
    return tuple(found)


@contextmanager
def report_errors() -> Iterator[Outcome]:
    outcome = Outcome()
    try:
        yield outcome
    except _user_errors() as e:
        print(f"nuchal: error: {e}", file=sys.stderr)
        log.debug("details", exc_info=True)
        outcome.code = 1
    except KeyboardInterrupt:
        print("nuchal: interrupted", file=sys.stderr)
        outcome.code = 130

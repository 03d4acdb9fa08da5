"""What `nuchal demo` hands to each package's demo step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nuchal.home import Home


@dataclass(frozen=True)
class DemoContext:
    """The demo's home folder, the simulated cohort written for it, and its seed."""

    home: Home
    cohort_dir: Path
    seed: int

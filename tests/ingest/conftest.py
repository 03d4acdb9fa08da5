"""Shared set-up of the ingest tests."""

from __future__ import annotations

import sys
from pathlib import Path

# --import-mode=importlib does not put test folders on sys.path; ingest_fakes.py lives here.
sys.path.insert(0, str(Path(__file__).parent))

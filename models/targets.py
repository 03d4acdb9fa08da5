"""The three prediction targets and the outcome definitions they rest on (SPEC "Outcome definitions")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Target = Literal["flare_1d", "flare_3d", "responder"]
TARGETS: tuple[Target, ...] = ("flare_1d", "flare_3d", "responder")
FLARE_TARGETS: tuple[Target, ...] = ("flare_1d", "flare_3d")


@dataclass(frozen=True)
class OutcomeDefinition:
    """SPEC defaults; every field is configurable because cohorts differ.

    Attributes
    ----------
    flare_min_intensity : int
        A flare-up day is a headache day with ``intensity >= flare_min_intensity`` (0-10 scale).
    baseline_days : int
        Length of the baseline window, the days immediately before ``treatment_start``.
    outcome_first_day, outcome_last_day : int
        Outcome window, counted with ``treatment_start`` as day 1 (weeks 7-12 = days 43-84).
    min_filled_fraction : float
        A window's frequency is computed only when at least this fraction of its days has a diary
        entry (5/7: 20 of 28, 30 of 42); the frequency is scaled from the filled days to 28.
    responder_reduction : float
        Responder = headache frequency reduced by at least this fraction.
    """

    flare_min_intensity: int = 5
    baseline_days: int = 28
    outcome_first_day: int = 43
    outcome_last_day: int = 84
    min_filled_fraction: float = 5 / 7
    responder_reduction: float = 0.5

    def min_filled(self, window_days: int) -> int:
        """Minimum filled diary days for a window of ``window_days`` days (20 of 28, 30 of 42)."""
        return round(self.min_filled_fraction * window_days)


DEFAULT_OUTCOMES = OutcomeDefinition()

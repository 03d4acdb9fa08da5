"""Parameters of a simulated cohort and the summary of what was written."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from simulator.errors import SimulatorError

BASELINE_DAYS = 28  # SPEC: baseline window = the 28 days before treatment_start
OUTCOME_FIRST_DAY = 42  # SPEC: outcome window = days 43-84 after treatment_start (0-based 42..83)
OUTCOME_LAST_DAY = 83


@dataclass(frozen=True)
class SimulationParams:
    """Everything that determines a simulated cohort; the same params give identical files.

    Parameters
    ----------
    participants : number of participants.
    days : diary days after ``treatment_start``; the cohort spans 28 baseline days + ``days``.
    hours_per_day : IMU hours per wear day (0 writes a diary-only cohort, no IMU, no .blelog).
    rate_hz : IMU sample rate in Hz.
    seed : master seed; participant ``i`` draws from ``SeedSequence(seed, spawn_key=(i,))`` so adding
        participants never changes the earlier ones.
    imu_every_nth_day : a wear day every n-th day (plus a few forgotten days and the DST day).
    ble_fraction : fraction of wear days delivered as a ``.blelog`` BLE capture instead of a CSV.
    ble_samples_per_packet : samples per BLE notification; 0 alternates 1 (default 20-byte payload)
        and 19 (MTU 247) between captures.
    bad_rows : write the deliberate bad rows/packets listed in truth/expected_quarantine.csv.
    start_date : first possible baseline day (enrolment is staggered over the next 14 days).
    timezones : IANA zones assigned to participants (the first participant always gets the first).
    """

    participants: int = 6
    days: int = 84
    hours_per_day: float = 16.0
    rate_hz: int = 50
    seed: int = 0
    imu_every_nth_day: int = 7
    ble_fraction: float = 0.25
    ble_samples_per_packet: int = 0
    bad_rows: bool = True
    start_date: dt.date = dt.date(2026, 2, 16)
    timezones: tuple[str, ...] = field(
        default=("Europe/Berlin", "America/New_York", "Europe/London", "Asia/Tokyo")
    )

    def __post_init__(self) -> None:
        checks = [
            (self.participants >= 1, "participants must be >= 1"),
            (self.days >= 1, "days must be >= 1"),
            (
                0 <= self.hours_per_day <= 18,
                "hours_per_day must be within 0..18 (a wear day stays in one local day)",
            ),
            (1 <= self.rate_hz <= 1000, "rate_hz must be within 1..1000"),
            (self.imu_every_nth_day >= 1, "imu_every_nth_day must be >= 1"),
            (0.0 <= self.ble_fraction <= 1.0, "ble_fraction must be within 0..1"),
            (0 <= self.ble_samples_per_packet <= 19, "ble_samples_per_packet must be 0 (mix) or 1..19"),
            (len(self.timezones) >= 1, "timezones must name at least one IANA zone"),
        ]
        for ok, msg in checks:
            if not ok:
                raise SimulatorError(f"invalid simulation parameter: {msg}")

    @property
    def total_days(self) -> int:
        """Days written per participant: 28 baseline days + ``days``."""
        return BASELINE_DAYS + self.days

    def to_json_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start_date"] = self.start_date.isoformat()
        d["timezones"] = list(self.timezones)
        return d

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> SimulationParams:
        d = dict(d)
        d["start_date"] = dt.date.fromisoformat(d["start_date"])
        d["timezones"] = tuple(d["timezones"])
        return cls(**d)


@dataclass(frozen=True)
class CohortSummary:
    """Counts of what ``write_cohort`` wrote (bad rows are counted separately, never as data)."""

    participants: int
    diary_rows: int
    imu_files: int
    blelog_files: int
    imu_samples: int
    ble_packets: int
    bad_rows_written: int
    seconds: float

    def lines(self) -> list[str]:
        return [
            f"participants        {self.participants}",
            f"diary rows (valid)  {self.diary_rows}",
            f"IMU CSV files       {self.imu_files}",
            f".blelog captures    {self.blelog_files} ({self.ble_packets} notifications)",
            f"IMU samples         {self.imu_samples}",
            f"deliberate bad rows {self.bad_rows_written} (truth/expected_quarantine.csv)",
            f"took                {self.seconds:.1f} s",
        ]

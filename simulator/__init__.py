"""Seeded, realistic simulated CGH cohorts written in the contract-2 file formats, plus truth/.

Public API: :class:`SimulationParams`, :func:`write_cohort` -> :class:`CohortSummary`,
:func:`load_truth` -> :class:`Truth`, and :func:`simulator.imu.render_segment` for IMU samples.
"""

from simulator.cohort import write_cohort
from simulator.errors import SimulatorError
from simulator.params import CohortSummary, SimulationParams
from simulator.truth import Truth, load_truth

__all__ = ["CohortSummary", "SimulationParams", "SimulatorError", "Truth", "load_truth", "write_cohort"]

"""The truth/ folder: what really happened, for evaluation only (the pipeline never reads it).

Layout: ``participants.csv``, ``daily.csv``, ``mounting.csv``, ``angles/<stem>.parquet``,
``expected_quarantine.csv``, ``params.json``. Column meanings are in docs/simulator.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from simulator.errors import SimulatorError
from simulator.params import SimulationParams

ROM_COLUMNS = ("flexion", "extension", "lateral_left", "lateral_right", "rotation_left", "rotation_right")


@dataclass(frozen=True)
class Truth:
    """The simulator's truth for one cohort folder.

    ``participants`` one row per subject_id (p_responder, responder, lightheaded, ...); ``daily`` one
    row per subject_id and local day (latent states, p_flare_1d/p_flare_3d for the NEXT 1/3 days
    given the state at the end of that day, true flare/headache, IMU truths on wear days);
    ``mounting`` per recording stem; ``expected_quarantine`` file/location/kind of every deliberate
    bad row or packet.
    """

    root: Path
    params: SimulationParams
    participants: pd.DataFrame
    daily: pd.DataFrame
    mounting: pd.DataFrame
    expected_quarantine: pd.DataFrame

    def angles(self, stem: str) -> pd.DataFrame:
        """Per-second true head angles of one recording: t_utc, flexion_deg, lateral_deg, rotation_deg, worn."""
        path = self.root / "angles" / f"{stem}.parquet"
        if not path.exists():
            raise SimulatorError(f"{path}: no true angles for recording {stem!r}")
        return pd.read_parquet(path)


def load_truth(out_dir: Path | str) -> Truth:
    """Read ``<out_dir>/truth`` back (``out_dir`` is the folder given to ``write_cohort``)."""
    root = Path(out_dir) / "truth"
    if not (root / "params.json").exists():
        raise SimulatorError(
            f"{root}: not a simulated cohort's truth folder (no params.json); run `nuchal simulate`"
        )
    params = SimulationParams.from_json_dict(json.loads((root / "params.json").read_text())["params"])
    return Truth(
        root=root,
        params=params,
        participants=pd.read_csv(root / "participants.csv"),
        daily=pd.read_csv(root / "daily.csv", parse_dates=["day"]),
        mounting=pd.read_csv(root / "mounting.csv"),
        expected_quarantine=pd.read_csv(root / "expected_quarantine.csv"),
    )

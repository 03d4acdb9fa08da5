"""The models step of `nuchal demo` on the demo's small cohort (diary only here, for speed)."""

from __future__ import annotations

from pathlib import Path

from models.demo import demo_step
from nuchal.demo_context import DemoContext
from nuchal.home import Home
from warehouse import open_warehouse


def test_demo_step_trains_promotes_and_predicts(tmp_path: Path) -> None:
    import simulator
    from ingest.importer import import_paths

    home = Home(tmp_path / "home").ensure()
    cohort = tmp_path / "cohort"
    simulator.write_cohort(
        cohort, simulator.SimulationParams(participants=8, days=84, hours_per_day=0, seed=7)
    )
    with open_warehouse(home.warehouse) as wh:
        import_paths(wh, [cohort / "baseline.csv", cohort / "diary.csv"])
    lines = demo_step(DemoContext(home=home, cohort_dir=cohort, seed=7))
    text = "\n".join(lines)
    assert "flare_1d" in text and "oracle" in text and "predictions flare_1d" in text
    assert all(line.startswith("models:") for line in lines)
    with open_warehouse(home.warehouse) as wh:
        n = wh.count("predictions")
    assert n >= 8

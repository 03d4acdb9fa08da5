"""The features step of `nuchal demo`."""

from __future__ import annotations

from nuchal.demo_context import DemoContext


def demo_step(ctx: DemoContext) -> list[str]:
    """Compute features of the demo cohort already imported into ``ctx.home``; summary lines."""
    from features.pipeline import compute_features
    from warehouse import open_warehouse

    with open_warehouse(ctx.home.warehouse) as wh:
        n = compute_features(wh)
        row = (
            wh.cursor()
            .execute(
                "SELECT count(*), count(*) FILTER (WHERE wear_h > 0), avg(wear_h) FILTER (WHERE wear_h > 0), "
                "avg(flexion_gt20_pct), avg(rom_rotation_total_deg) FROM participant_day_features"
            )
            .fetchone()
        )
    assert row is not None
    total, imu_days, wear, gt20, rot = row
    lines = [f"features: {n} participant-days computed; {total} rows ({imu_days} with IMU)"]
    if imu_days:
        lines.append(
            f"features: mean wear {wear:.1f} h/day, {gt20:.0f} % of worn time above 20 deg flexion, "
            f"rotation ROM {rot or float('nan'):.0f} deg"
        )
    return lines

"""Write a whole simulated cohort: contract-2 files in OUT plus truth/ (see docs/simulator.md)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from simulator import ble, population
from simulator.diary import DIARY_COLUMNS, DiaryRows, bad_diary_rows, baseline_row, diary_rows
from simulator.errors import SimulatorError
from simulator.imu import RenderedChunk, SensorModel, iter_render
from simulator.imu_files import TimeZoneSpan, write_imu_csv, write_sidecar
from simulator.motion import MotionPlan, envelope_for_day, plan_motion
from simulator.params import BASELINE_DAYS, OUTCOME_LAST_DAY, CohortSummary, SimulationParams
from simulator.truth import ROM_COLUMNS

log = logging.getLogger(__name__)
FORGOT_DEVICE_P = 0.1
OUR_ENTRIES = ("baseline.csv", "diary.csv", "imu", "ble", "truth")


@dataclass
class _Acc:
    """Running truth metrics of one recording over its chunks."""

    worn_n: int = 0
    above30_n: int = 0
    hi: np.ndarray = field(default_factory=lambda: np.full(3, -np.inf))
    lo: np.ndarray = field(default_factory=lambda: np.full(3, np.inf))

    def add(self, c: RenderedChunk) -> None:
        a = c.angles_deg[c.worn]
        self.worn_n += len(a)
        self.above30_n += int(np.sum(a[:, 0] > 30.0))
        if len(a):
            self.hi = np.maximum(self.hi, a.max(axis=0))
            self.lo = np.minimum(self.lo, a.min(axis=0))


@dataclass
class _State:
    out: Path
    params: SimulationParams
    quarantine: list[tuple[str, str, str]] = field(default_factory=list)
    mounting: list[dict[str, object]] = field(default_factory=list)
    imu_files: int = 0
    ble_files: int = 0
    imu_samples: int = 0
    ble_packets: int = 0


def _prepare(out: Path) -> None:
    if out.exists():
        others = [p.name for p in out.iterdir() if p.name not in OUR_ENTRIES]
        ours = [p for p in out.iterdir() if p.name in OUR_ENTRIES]
        if others:
            raise SimulatorError(
                f"{out}: folder holds files that are not a simulated cohort ({others[:3]}); "
                "choose an empty or new folder"
            )
        if ours and not (out / "truth" / "params.json").exists():
            raise SimulatorError(f"{out}: looks like a cohort but has no truth/params.json; remove it first")
        for p in ours:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    for sub in ("imu", "ble", "truth/angles"):
        (out / sub).mkdir(parents=True, exist_ok=True)


def _dst_switch_day(tz: ZoneInfo, first: dt.date, n_days: int) -> tuple[int, float] | None:
    """(day index, UTC epoch of the switch) of the first DST change in the span, if any."""
    for d in range(n_days):
        day = first + dt.timedelta(days=d)
        a = dt.datetime.combine(day, dt.time(0), tz)
        b = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tz)
        if a.utcoffset() != b.utcoffset():
            lo, hi = a.timestamp(), b.timestamp()
            off0 = a.utcoffset()
            while hi - lo > 1:
                mid = (lo + hi) / 2
                if dt.datetime.fromtimestamp(mid, tz).utcoffset() == off0:
                    lo = mid
                else:
                    hi = mid
            return d, float(np.ceil(lo))
    return None


def _tz_span(tz: ZoneInfo, t0: float, duration_s: float) -> TimeZoneSpan:
    def off(t: float) -> int:
        o = dt.datetime.fromtimestamp(t, tz).utcoffset()
        return int(o.total_seconds()) if o is not None else 0

    a, b = off(t0), off(t0 + duration_s)
    if a == b:
        return TimeZoneSpan(a, a, float("inf"))
    lo, hi = 0.0, duration_s
    while hi - lo > 1e-3:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if off(t0 + mid) == a else (lo, mid)
    return TimeZoneSpan(a, b, float(np.ceil(hi)))


def write_cohort(out_dir: Path, params: SimulationParams, *, progress: bool = False) -> CohortSummary:
    """Write the cohort of ``params`` into ``out_dir`` (created; a previous cohort there is replaced).

    Files: ``baseline.csv``, ``diary.csv``, ``imu/<subject>_<YYYYMMDD>.csv`` + ``.json`` sidecars,
    ``ble/<subject>_<YYYYMMDD>.blelog`` and ``truth/``. Same params -> byte-identical files.
    """
    t_start = time.perf_counter()
    out = Path(out_dir)
    _prepare(out)
    st = _State(out, params)
    baselines: list[dict[str, object]] = []
    diaries: list[pd.DataFrame] = []
    entered: dict[str, np.ndarray] = {}
    truth_p: list[dict[str, object]] = []
    truth_d: list[pd.DataFrame] = []
    participants: list[population.Participant] = []
    bar = tqdm(range(params.participants), desc="simulate", unit="participant", disable=not progress)
    for i in bar:
        p, rows_p, rows_d, dia = _participant(st, i)
        participants.append(p)
        baselines.append(baseline_row(p))
        diaries.append(dia.rows)
        entered[p.subject_id] = dia.entered
        truth_p.append(rows_p)
        truth_d.append(rows_d)
    pd.DataFrame(baselines).to_csv(out / "baseline.csv", index=False)
    diary = pd.concat(diaries, ignore_index=True)
    _write_diary(st, diary, participants, entered)
    _write_truth(st, pd.DataFrame(truth_p), pd.concat(truth_d, ignore_index=True))
    summary = CohortSummary(
        participants=params.participants,
        diary_rows=len(diary),
        imu_files=st.imu_files,
        blelog_files=st.ble_files,
        imu_samples=st.imu_samples,
        ble_packets=st.ble_packets,
        bad_rows_written=len(st.quarantine),
        seconds=time.perf_counter() - t_start,
    )
    log.info("simulated cohort in %s: %s", out, summary)
    return summary


def _participant(
    st: _State, i: int
) -> tuple[population.Participant, dict[str, object], pd.DataFrame, DiaryRows]:
    params = st.params
    ss = np.random.SeedSequence(params.seed, spawn_key=(i,))
    rng_pop, rng_oracle, rng_diary, rng_imu = (np.random.default_rng(s) for s in ss.spawn(4))
    horizon = max(params.total_days, BASELINE_DAYS + OUTCOME_LAST_DAY + 1) + 3
    while True:  # trial entry: >= 1 headache/week in the run-in, else the next candidate is enrolled
        p = population.draw_participant(rng_pop, i, params.participants, params.timezones, params.start_date)
        path = population.simulate_paths(rng_pop, p, horizon, 1)
        if population.passes_screening(path.headache)[0]:
            break
    n = params.total_days
    f1, f3 = population.flare_probabilities(rng_oracle, p, path)
    p_resp = population.p_responder(rng_oracle, p, path)
    resp = population.responder_outcome(path.headache[:, : horizon - 3])[0]
    dia = diary_rows(rng_diary, p, path, n)
    h = path.headache[0, :n]
    it = path.intensity[0, :n]
    days = [p.first_day + dt.timedelta(days=d) for d in range(n)]
    daily = pd.DataFrame(
        {
            "subject_id": p.subject_id,
            "day": [d.isoformat() for d in days],
            "day_index": np.arange(n),
            "days_since_start": np.arange(n) - BASELINE_DAYS,
            "posture_load": np.round(path.posture_load[0, :n], 4),
            "rom_restriction": np.round(path.rom_restriction[0, :n], 4),
            "treatment_progress": np.round(path.progress[:n], 4),
            "p_headache": np.round(path.p_headache[0, :n], 5),
            "p_flare_1d": np.round(f1[:n], 5),
            "p_flare_3d": np.round(f3[:n], 5),
            "headache": h,
            "intensity": it,
            "flare": ((h == 1) & (it >= 5)).astype(int),
            "diary_entered": dia.entered.astype(int),
        }
    )
    for c in ("wear_h", "minutes_above_30_deg", *[f"rom_{r}_deg" for r in ROM_COLUMNS]):
        daily[c] = np.nan
    daily["imu_file"] = ""
    if params.hours_per_day > 0:
        _imu_days(st, p, path, daily, rng_imu)
    hd = path.headache[0]
    lo, hi = BASELINE_DAYS + 42, BASELINE_DAYS + OUTCOME_LAST_DAY + 1
    row: dict[str, object] = {
        "subject_id": p.subject_id,
        "p_responder": round(p_resp, 4),
        "responder": int(resp),
        "lightheaded": p.lightheaded,
        "symptomatic_side": p.symptomatic_side,
        "response_odds_p": round(p.type_probability, 4),
        "headache_reduction": round(p.reduction, 4),
        "baseline_headache_days": int(hd[:BASELINE_DAYS].sum()),
        "outcome_headache_days": int(hd[lo:hi].sum()),
        "headache_p": round(p.headache_p, 4),
        "intensity_mean": round(p.intensity_mean, 3),
        "rom_restriction_baseline": round(p.rom_q, 4),
        "rom_improvement": round(p.rom_improvement, 4),
        "posture_mean_logit": round(p.posture_mean, 4),
        "diary_compliance": round(p.compliance, 4),
        "diary_dropout_day": p.dropout_day if p.dropout_day < n else "",
        "timezone": p.timezone,
        "placement": p.placement,
        "device_id": p.device_id,
        "first_day": p.first_day.isoformat(),
    }
    return p, row, daily, dia


def _imu_days(
    st: _State,
    p: population.Participant,
    path: population.DailyPath,
    daily: pd.DataFrame,
    rng: np.random.Generator,
) -> None:
    params = st.params
    n = params.total_days
    tz = ZoneInfo(p.timezone)
    offset = int(rng.integers(0, params.imu_every_nth_day))
    wear = [
        d
        for d in range(n)
        if (d + offset) % params.imu_every_nth_day == 0 and rng.random() >= FORGOT_DEVICE_P
    ]
    dst = _dst_switch_day(tz, p.first_day, n)
    if dst is not None and dst[0] not in wear:
        wear = sorted([*wear, dst[0]])
    dur = params.hours_per_day * 3600.0
    for k, d in enumerate(wear):
        day = p.first_day + dt.timedelta(days=d)
        if dst is not None and d == dst[0]:
            t0 = dst[1] - 300.0  # a night-shift recording that runs across the clock change
        else:
            latest = max(0.0, min(8.0, 23.75 - params.hours_per_day))
            start_h = float(rng.uniform(min(6.0, latest), latest))
            t0 = dt.datetime.combine(day, dt.time(0), tz).timestamp() + start_h * 3600.0
        env = envelope_for_day(
            float(path.rom_restriction[0, d]),
            int(path.headache[0, d]),
            p.symptomatic_side,
            p.rom_scale,
            float(rng.normal(1.0, 0.03)),
        )
        plan = plan_motion(rng, dur, float(path.posture_load[0, d]), env)
        model = SensorModel.draw(rng, p.placement)
        stem = f"{p.subject_id}_{day:%Y%m%d}"
        is_dst = dst is not None and d == dst[0]
        as_ble = (
            (not is_dst)
            and params.ble_fraction > 0
            and (rng.random() < params.ble_fraction or (p.index == 0 and k == 1))
        )
        acc = _Acc()
        if as_ble:
            rel = _write_ble(st, p, stem, plan, model, rng, t0, acc)
        else:
            rel = _write_csv(st, p, stem, plan, model, rng, t0, acc, tz, is_dst)
        _write_angles(st.out / "truth" / "angles" / f"{stem}.parquet", plan, t0)
        m = model.mounting
        mat = m.as_matrix().ravel()
        eul = m.as_euler("xyz", degrees=True)
        st.mounting.append(
            {
                "stem": stem,
                "file": rel,
                "subject_id": p.subject_id,
                "placement": p.placement,
                **{
                    f"r{a}{b}": round(float(mat[3 * (a - 1) + b - 1]), 8)
                    for a in (1, 2, 3)
                    for b in (1, 2, 3)
                },
                "euler_x_deg": round(float(eul[0]), 4),
                "euler_y_deg": round(float(eul[1]), 4),
                "euler_z_deg": round(float(eul[2]), 4),
                "misalignment_deg": round(float(np.rad2deg(m.magnitude())), 4),
            }
        )
        period = 1.0 / params.rate_hz
        row = daily.index[d]
        daily.loc[row, "wear_h"] = round(plan.worn_s / 3600.0, 5)
        daily.loc[row, "minutes_above_30_deg"] = round(acc.above30_n * period / 60.0, 4)
        vals = [acc.hi[0], -acc.lo[0], -acc.lo[1], acc.hi[1], -acc.lo[2], acc.hi[2]]
        for name, v in zip(ROM_COLUMNS, vals, strict=True):
            daily.loc[row, f"rom_{name}_deg"] = round(float(v), 3)
        daily.loc[row, "imu_file"] = rel


def _write_csv(
    st: _State,
    p: population.Participant,
    stem: str,
    plan: MotionPlan,
    model: SensorModel,
    rng: np.random.Generator,
    t0: float,
    acc: _Acc,
    tz: ZoneInfo,
    is_dst: bool,
) -> str:
    params = st.params
    n = round(params.hours_per_day * 3600.0 * params.rate_hz)
    style = "iso" if is_dst or rng.random() < 0.6 else "epoch"
    bad: dict[int, str] = {}
    if params.bad_rows and st.imu_files in (0, 3) and n > 10:
        bad[int(rng.integers(1, n - 1))] = "truncated" if st.imu_files == 0 else "nonnumeric"
    rel = f"imu/{stem}.csv"

    def chunks() -> Iterator[RenderedChunk]:
        for c in iter_render(plan, model, n, 1.0 / params.rate_hz, rng):
            acc.add(c)
            yield c

    write_imu_csv(
        st.out / rel, chunks(), t0, style, _tz_span(tz, t0, n / params.rate_hz), params.rate_hz, bad
    )
    write_sidecar(
        st.out / f"imu/{stem}.json", p.subject_id, p.device_id, p.placement, params.rate_hz, p.timezone
    )
    for k, kind in bad.items():
        st.quarantine.append((rel, f"row {k + 2}", kind))
    st.imu_files += 1
    st.imu_samples += n - len(bad)
    return rel


def _write_ble(
    st: _State,
    p: population.Participant,
    stem: str,
    plan: MotionPlan,
    model: SensorModel,
    rng: np.random.Generator,
    t0: float,
    acc: _Acc,
) -> str:
    params = st.params
    n = round(params.hours_per_day * 3600.0 * params.rate_hz)
    spp = params.ble_samples_per_packet or (1 if st.ble_files % 2 == 0 else 19)
    cap = ble.draw_capture_plan(
        rng, n, params.rate_hz, spp, corrupt=params.bad_rows and st.ble_files in (0, 2)
    )
    taken = ble.sample_mask(cap, n)
    parts = list(iter_render(plan, model, n, 1.0 / (params.rate_hz * cap.clock_scale), rng))
    for c in parts:
        acc.add(c)
    t_s = np.concatenate([c.t_s for c in parts])[taken]
    acc_g = np.concatenate([c.acc_g for c in parts])[taken]
    gyro = np.concatenate([c.gyro_dps for c in parts])[taken]
    rel = f"ble/{stem}.blelog"
    n_pk, n_samp, bad_line = ble.write_blelog(
        st.out / rel,
        rng,
        cap,
        subject_id=p.subject_id,
        device_id=p.device_id,
        placement=p.placement,
        rate_hz=params.rate_hz,
        t0_utc_s=t0,
        t_s=t_s,
        acc_g=acc_g,
        gyro_dps=gyro,
    )
    if bad_line is not None:
        st.quarantine.append((rel, f"line {bad_line}", "corrupt"))
    st.ble_files += 1
    st.ble_packets += n_pk
    st.imu_samples += n_samp
    return rel


def _write_angles(path: Path, plan: MotionPlan, t0: float) -> None:
    from simulator.motion import MotionPlan

    assert isinstance(plan, MotionPlan)
    t = np.arange(0.0, np.floor(plan.duration_s), 1.0)
    ang = plan.angles_deg(t)
    worn = plan.worn(t)
    ang[~worn] = np.nan
    table = pa.table(
        {
            "t_utc": pa.array(np.rint((t0 + t) * 1000).astype("int64"), type=pa.timestamp("ms", tz="UTC")),
            "flexion_deg": np.round(ang[:, 0], 3),
            "lateral_deg": np.round(ang[:, 1], 3),
            "rotation_deg": np.round(ang[:, 2], 3),
            "worn": worn,
        }
    )
    pq.write_table(table, path, compression="zstd")


def _write_diary(
    st: _State,
    diary: pd.DataFrame,
    participants: list[population.Participant],
    entered: dict[str, np.ndarray],
) -> int:
    rng = np.random.default_rng(np.random.SeedSequence(st.params.seed, spawn_key=(1_000_000,)))
    diary = diary.sort_values(["record_id", "diary_date"], kind="stable").reset_index(drop=True)
    rows: list[dict[str, object]] = [
        {str(k): v for k, v in r.items()}
        for r in diary.astype(object).where(diary.notna(), None).to_dict("records")
    ]
    if st.params.bad_rows and len(rows) > 10:
        bad = bad_diary_rows(rng, diary, participants, entered)
        for row, kind in bad:
            if kind == "duplicate":
                orig = next(
                    j
                    for j, r in enumerate(rows)
                    if r["record_id"] == row["record_id"] and r["diary_date"] == row["diary_date"]
                )
                pos = int(rng.integers(orig + 1, len(rows) + 1))
            else:
                pos = int(rng.integers(0, len(rows) + 1))
            row = dict(row, _bad=kind)
            rows.insert(pos, row)
    out = pd.DataFrame(rows, columns=[*DIARY_COLUMNS, "_bad"])
    for j in np.flatnonzero(out["_bad"].notna().to_numpy()):
        st.quarantine.append(("diary.csv", f"row {j + 2}", str(out["_bad"].iloc[j])))
    out = out.drop(columns="_bad")
    out["intensity"] = out["intensity"].astype("Int64")
    out.to_csv(st.out / "diary.csv", index=False)
    return int(out.shape[0])


def _write_truth(st: _State, participants: pd.DataFrame, daily: pd.DataFrame) -> None:
    root = st.out / "truth"
    participants.to_csv(root / "participants.csv", index=False)
    daily.to_csv(root / "daily.csv", index=False)
    cols = [
        "stem",
        "file",
        "subject_id",
        "placement",
        *[f"r{a}{b}" for a in (1, 2, 3) for b in (1, 2, 3)],
        "euler_x_deg",
        "euler_y_deg",
        "euler_z_deg",
        "misalignment_deg",
    ]
    pd.DataFrame(st.mounting, columns=cols).to_csv(root / "mounting.csv", index=False)
    q = pd.DataFrame(st.quarantine, columns=["file", "location", "kind"])
    q.to_csv(root / "expected_quarantine.csv", index=False)
    meta = {
        "params": st.params.to_json_dict(),
        "conventions": {
            "p_flare_1d": "P(flare on day+1) given the latent state at the end of `day`",
            "p_flare_3d": "P(any flare in day+1..day+3) given the latent state at the end of `day`",
            "p_responder": "P(responder) at treatment_start (response to physio not yet known)",
            "location": "CSV: 'row N' = line number in the file (header = 1); blelog: 'line N'",
            "mounting": "r11..r33 = sensor->head rotation matrix (v_head = R v_sensor), row-major",
        },
    }
    (root / "params.json").write_text(json.dumps(meta, indent=2) + "\n")

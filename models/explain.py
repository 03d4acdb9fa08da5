"""Explanations a therapist can read: the few inputs that moved this prediction most, in words.

Contributions are measured the same way for every model kind (model-agnostic occlusion): replace
one input by its typical training value and see how far the probability moves. An input that is
missing today contributes nothing (it cannot be the reason). Phrases are written from the
participant's point of view ("headache on 5 of the last 7 days"), never with feature names.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from models.targets import Target

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _count(v: float, w: int) -> str:
    return f"{round(v * w)} of the last {w} days"


def _yes_no(yes: str, no: str) -> Callable[[float], str]:
    return lambda v: yes if v >= 0.5 else no


_EXACT: dict[str, Callable[[float], str]] = {
    "diary_entered_today": _yes_no("diary filled in today", "diary not yet filled in today"),
    "headache_today": _yes_no("headache today", "no headache today"),
    "flare_today": _yes_no("moderate-to-severe headache today", "no moderate-to-severe headache today"),
    "intensity_today": lambda v: (
        f"today's headache intensity {v:.0f}/10" if v > 0 else "no headache pain today"
    ),
    "duration_h_today": lambda v: f"headache lasted {v:.0f} h today",
    "medication_today": _yes_no("took headache medication today", "no headache medication today"),
    "neck_pain_today": lambda v: f"neck pain {v:.0f}/10 today",
    "lightheaded_today": _yes_no("felt light-headed today", "not light-headed today"),
    "headache_yesterday": _yes_no("headache yesterday", "no headache yesterday"),
    "intensity_yesterday": lambda v: f"yesterday's headache intensity {v:.0f}/10",
    "headache_frac_all": lambda v: f"headache on {v:.0%} of all diary days so far",
    "flare_frac_all": lambda v: f"moderate-to-severe headache on {v:.0%} of all diary days so far",
    "headache_logodds_all": lambda v: f"headache on {1 / (1 + np.exp(-v)):.0%} of their diary days so far",
    "flare_logodds_all": lambda v: f"bad headache on {1 / (1 + np.exp(-v)):.0%} of their diary days so far",
    "headache_severity_all": lambda v: f"their headaches average {v:.1f}/10",
    "headache_severity_28d": lambda v: f"their headaches averaged {v:.1f}/10 over the last 4 weeks",
    "days_since_headache": lambda v: (
        f"{v:.0f} days since the last headache" if v < 60 else "no headache for 2 months"
    ),
    "days_since_flare": lambda v: (
        f"{v:.0f} days since the last bad headache" if v < 60 else "no bad headache for 2 months"
    ),
    "headache_streak_d": lambda v: f"{v:.0f} headache days in a row" if v > 0 else "headache-free today",
    "days_since_treatment_start": lambda v: (
        f"day {v + 1:.0f} of physiotherapy" if v >= 0 else f"{-v:.0f} days before physiotherapy starts"
    ),
    "in_treatment": _yes_no("in physiotherapy", "not yet in physiotherapy"),
    "headache_7d_vs_run_in": lambda v: f"headache days this week at {v:.0%} of the pre-treatment rate",
    "weekend_today": _yes_no("today is a weekend day", "today is a working day"),
    "weekday_tomorrow": lambda v: f"tomorrow is a {_WEEKDAYS[int(v) % 7]}",
    "weekend_tomorrow": _yes_no("tomorrow is a weekend day", "tomorrow is a working day"),
    "age_y": lambda v: f"age {v:.0f}",
    "female": _yes_no("female", "male"),
    "headache_years": lambda v: f"headaches for {v:.0f} years",
    "lightheadedness": _yes_no("reports light-headedness", "no light-headedness"),
    "weeks_in_treatment": lambda v: f"{v:.0f} weeks into physiotherapy",
    "baseline_medication_frac": lambda v: f"medication on {v:.0%} of days before treatment",
    "baseline_neck_pain_mean": lambda v: f"average neck pain {v:.1f}/10 before treatment",
    "baseline_lightheaded_frac": lambda v: f"light-headed on {v:.0%} of days before treatment",
    "baseline_duration_h_mean": lambda v: f"headaches lasted {v:.1f} h on average before treatment",
    "baseline_diary_filled_frac": lambda v: f"diary filled on {v:.0%} of the days before treatment",
    "sensor_days_7d": lambda v: f"sensor worn on {v:.0f} of the last 7 days",
}

_WINDOWED = {
    "headache_frac": lambda v, w: f"headache on {_count(v, w)}",
    "flare_frac": lambda v, w: f"moderate-to-severe headache on {_count(v, w)}",
    "medication_frac": lambda v, w: f"medication on {_count(v, w)}",
    "diary_filled": lambda v, w: f"diary filled on {_count(v, w)}",
    "intensity_mean": lambda v, w: f"average headache intensity {v:.1f}/10 over the last {w} days",
    "neck_pain_mean": lambda v, w: f"average neck pain {v:.1f}/10 over the last {w} days",
}

_EWM = {
    "headache": "recent headache days (weighted to the last few days)",
    "intensity_day": "recent headache intensity",
    "neck_pain": "recent neck pain",
    "flare": "recent moderate-to-severe headaches",
}

_PERIODS = {
    "baseline": "before treatment",
    "treatment": "since treatment started",
    "recent14d": "over the last 2 weeks",
}

_UNITS = {"dps": " °/s", "deg": "°", "h": " h", "min": " min", "pct": " %", "s": " s", "g": " g"}


def human_name(column: str) -> str:
    """``minutes_above_30_deg`` -> ``minutes above 30 deg``; ``wear_h`` -> ``sensor wear time``."""
    if column == "wear_h":
        return "sensor wear time"
    column = column.replace("angvel", "head movement speed")
    words = column.split("_")
    if words and words[-1] in _UNITS:
        words = words[:-1]
    text = " ".join(words)
    text = re.sub(r"\bgt(\d+)\b", r"above \1°", text)
    text = re.sub(r"\bp(\d+)\b", r"\1th percentile", text)
    return re.sub(r"\brom\b", "range of motion", text)


def _unit(column: str) -> str:
    last = column.rsplit("_", 1)[-1]
    return _UNITS.get(last, "")


def phrase(name: str, value: float) -> str:
    """Words for one input ``name`` at ``value``."""
    if name in _EXACT:
        return _EXACT[name](value)
    m = re.fullmatch(r"(\w+?)_(\d+)d", name)
    if m and m.group(1) in _WINDOWED:
        return _WINDOWED[m.group(1)](value, int(m.group(2)))
    m = re.fullmatch(r"(\w+)_ewm3d", name)
    if m and m.group(1) in _EWM:
        return f"{_EWM[m.group(1)]}: {value:.2g}"
    m = re.fullmatch(r"(baseline|treatment|recent14d)_(headache|flare)_per_28d", name)
    if m:
        kind = "headache" if m.group(2) == "headache" else "moderate-to-severe headache"
        return f"{value:.0f} {kind} days per 4 weeks {_PERIODS[m.group(1)]}"
    m = re.fullmatch(r"(baseline|treatment|recent14d)_intensity_mean", name)
    if m:
        return f"average daily headache intensity {value:.1f}/10 {_PERIODS[m.group(1)]}"
    m = re.fullmatch(r"(treatment|recent14d)_vs_baseline_ratio", name)
    if m:
        return f"headache frequency {_PERIODS[m.group(1)]} at {value:.0%} of the pre-treatment rate"
    # Sensor features: <column>_<suffix>.
    for suffix, text in (
        ("_today", "today"),
        ("_mean7d", "on average over the last 7 days"),
        ("_mean28d", "on average over the last 4 weeks"),
        ("_baseline_mean", "on average before treatment"),
        ("_treatment_mean", "on average since treatment started"),
    ):
        if name.endswith(suffix):
            col = name.removesuffix(suffix)
            return f"{human_name(col)} {value:.3g}{_unit(col)} {text}"
    if name.endswith("_vs28d"):
        col = name.removesuffix("_vs28d")
        side = "above" if value > 0 else "below"
        return f"{human_name(col)} today {abs(value):.3g}{_unit(col)} {side} their 4-week average"
    if name.endswith("_change"):
        col = name.removesuffix("_change")
        return f"{human_name(col)} changed by {value:+.3g}{_unit(col)} since treatment started"
    return f"{name.replace('_', ' ')} {value:.3g}"


def contributions(
    predict_proba: Callable[[np.ndarray], np.ndarray], X: np.ndarray, reference: np.ndarray
) -> np.ndarray:
    """Occlusion contributions, (n_rows, n_features): p(x) - p(x with feature j set to reference).

    Parameters
    ----------
    predict_proba : callable
        Maps (n, n_features) to (n, 2) probabilities.
    X : ndarray
        (n_rows, n_features) inputs.
    reference : ndarray
        (n_features,) typical training values (medians); NaN where the training data had none.
    """
    n, k = X.shape
    if n == 0:
        return np.zeros((0, k))
    base = predict_proba(X)[:, 1]
    stacked = np.repeat(X[None, :, :], k, axis=0)  # (k, n, k)
    for j in range(k):
        stacked[j, :, j] = reference[j]
    moved = predict_proba(stacked.reshape(k * n, k))[:, 1].reshape(k, n).T
    out = base[:, None] - moved
    # A missing input or one without a reference cannot be the reason for anything.
    out[np.isnan(X) | np.isnan(reference)[None, :]] = 0.0
    return np.asarray(out)


def explain_rows(
    target: Target,
    X: np.ndarray,
    contrib: np.ndarray,
    feature_names: tuple[str, ...],
    top: int = 3,
    min_effect: float = 0.005,
) -> list[str]:
    """One sentence per row naming the inputs that raised and lowered the probability most."""
    up_label = "Raises the chance of responding" if target == "responder" else "Raises risk"
    down_label = "Lowers it" if target == "responder" else "Lowers risk"
    out = []
    for i in range(X.shape[0]):
        order = np.argsort(-contrib[i])
        ups = [phrase(feature_names[j], X[i, j]) for j in order[:top] if contrib[i, j] >= min_effect]
        downs = [phrase(feature_names[j], X[i, j]) for j in order[::-1][:1] if contrib[i, j] <= -min_effect]
        parts = []
        if ups:
            parts.append(f"{up_label}: " + "; ".join(ups))
        if downs:
            parts.append(f"{down_label}: " + "; ".join(downs))
        out.append(
            ". ".join(parts) + "."
            if parts
            else "No single input stands out; close to this person's usual level."
        )
    return out

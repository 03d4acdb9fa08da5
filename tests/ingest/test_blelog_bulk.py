"""Bulk `.blelog` parsing gives exactly what the line-by-line parser gives, odd lines included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_fakes import T0_UTC_S, config, simulate_session

import ingest.blelog as blelog
from ingest.blelog import BleCapture, read_blelog

HEADER = {
    "device_id": "DEV-X",
    "subject_id": "P001",
    "placement": "occiput",
    "config": config(50).to_bytes().hex(),
}


def _clean_lines(n_packets: int = 300, seed: int = 5) -> list[str]:
    s = simulate_session(
        rng=np.random.default_rng(seed),
        start_utc_s=T0_UTC_S,
        n_packets=n_packets,
        fs_hz=50,
        per_packet=5,
        drift_ppm=20.0,
    )
    # Receive times as a gateway writes them, and with every digit repr gives.
    return [
        json.dumps({"rx": round(float(r), 6) if i % 2 else float(r), "data": p.hex()})
        for i, (r, p) in enumerate(zip(s.rx_s, s.payloads, strict=True))
    ]


def _write(path: Path, lines: list[str], end: str = "\n", final_newline: bool = True) -> Path:
    text = end.join([json.dumps(HEADER), *lines]) + (end if final_newline else "")
    path.write_bytes(text.encode("utf-8"))
    return path


def _by_lines(path: Path) -> BleCapture:
    raw = path.read_bytes()
    end = raw.find(b"\n")
    return blelog._read_blelog_lines(path, blelog._parse_header(path, raw if end < 0 else raw[: end + 1]))


def assert_same_capture(a: BleCapture, b: BleCapture) -> None:
    assert (a.device_id, a.subject_id, a.placement, a.config) == (
        b.device_id,
        b.subject_id,
        b.placement,
        b.config,
    )
    np.testing.assert_array_equal(a.rx_s.view(np.int64), b.rx_s.view(np.int64))
    assert a.payloads == b.payloads
    np.testing.assert_array_equal(a.line_numbers, b.line_numbers)
    assert a.bad_lines == b.bad_lines


def test_clean_capture_takes_the_bulk_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "a.blelog", _clean_lines())
    expected = _by_lines(path)

    def no_line_parser(*_: object) -> BleCapture:
        raise AssertionError("a clean capture fell back to the line parser")

    monkeypatch.setattr(blelog, "_read_blelog_lines", no_line_parser)
    got = read_blelog(path)
    assert_same_capture(got, expected)
    assert got.line_numbers.tolist() == list(range(2, 302))


@pytest.mark.parametrize(
    ("end", "final_newline"), [("\n", True), ("\n", False), ("\r\n", True)], ids=["lf", "no-final-lf", "crlf"]
)
def test_line_endings(tmp_path: Path, end: str, final_newline: bool) -> None:
    path = _write(tmp_path / "a.blelog", _clean_lines(40), end, final_newline)
    got = read_blelog(path)
    assert got.rx_s.shape[0] == 40 and not got.bad_lines
    assert_same_capture(got, _by_lines(path))


def test_header_only(tmp_path: Path) -> None:
    for final_newline in (True, False):
        path = _write(tmp_path / "h.blelog", [], final_newline=final_newline)
        got = read_blelog(path)
        assert got.rx_s.shape[0] == 0 and got.payloads == []
        assert_same_capture(got, _by_lines(path))


ODD_LINES = [
    "",  # blank
    "   ",  # whitespace only
    '{"rx": 1711846800.5, "data": "zz-not-hex"}',
    '{"rx": 1711846800.5, "data": "1"}',  # odd length
    '{"rx": 1711846800.5, "data": "10 00"}',  # bytes.fromhex accepts the space
    '{"rx": 1711846800.5, "data": "ABCDEF"}',  # upper case is hex
    '{"rx": 1711846800.5, "data": ""}',  # empty payload: rejected later by the codec
    '{"rx": 1711846800.5, "data": "\\u0031\\u0030"}',  # escaped digits
    '{"rx": NaN, "data": "00"}',
    '{"rx": 1e400, "data": "00"}',
    '{"rx": "1711846800.5", "data": "00"}',  # a string float() accepts
    '{"rx": true, "data": "00"}',
    '{"rx": null, "data": "00"}',
    '{"rx": 1711846800, "data": 1234}',
    '{"data": "00"}',
    '{"rx": 1711846800.5, "data": "00", "rx": 1711846801.5}',  # duplicate key: the last wins
    '{"rx": 1711846800.5, "data": "00"} {"rx": 1711846801.5, "data": "01"}',
    '{"rx": 1711846800.5, "data": "00", "note": {"x": [1, 2]}}',
    '[1711846800.5, "00"]',
    '{"rx": 1711846800.5, "data": "00"',
    ' {"rx": 1711846800.5, "data": "0a"}',  # leading space: fine for both
]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    inserts=st.lists(st.tuples(st.integers(0, 40), st.sampled_from(ODD_LINES)), max_size=4),
    final_newline=st.booleans(),
)
def test_odd_lines_are_read_as_the_line_parser_reads_them(
    tmp_path: Path, inserts: list[tuple[int, str]], final_newline: bool
) -> None:
    lines = _clean_lines(40)
    for at, odd in inserts:
        lines.insert(at, odd)
    path = _write(tmp_path / "odd.blelog", lines, final_newline=final_newline)
    assert_same_capture(read_blelog(path), _by_lines(path))


def test_unreadable_line_is_quarantined_with_its_number(tmp_path: Path) -> None:
    lines = _clean_lines(40)
    lines.insert(10, '{"rx": 1711846800.5, "data": "zz-not-hex"}')
    lines.insert(20, "")
    got = read_blelog(_write(tmp_path / "q.blelog", lines))
    assert [q.location for q in got.bad_lines] == ["line 12"]
    assert got.rx_s.shape[0] == 40
    assert 12 not in got.line_numbers and 22 not in got.line_numbers


def test_two_objects_on_a_line_and_a_blank_line_do_not_shift_line_numbers(tmp_path: Path) -> None:
    """The row count matches the line count here; the line starts still tell the bulk path off."""
    lines = _clean_lines(40)
    lines.insert(5, "")
    lines.insert(30, '{"rx": 1711846800.5, "data": "00"} {"rx": 1711846801.5, "data": "01"}')
    path = _write(tmp_path / "two.blelog", lines)
    got = read_blelog(path)
    assert [q.location for q in got.bad_lines] == ["line 32"]
    assert_same_capture(got, _by_lines(path))

"""Run every benchmark and write bench/out/results.json (SPEC contract 5).

Each ``bench/bench_*.py`` module exposes ``run() -> dict[str, float]``; figures that compare two
approaches are measured inside that one call, in this process, so the ratio is fair on a noisy
shared machine. ``python -m bench NAME...`` runs only the named modules (e.g. ``import``).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out" / "results.json"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    wanted = set(argv)
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_")
    )
    results: dict[str, object] = {}
    if OUT.exists() and wanted:
        results = json.loads(OUT.read_text())
    for name in names:
        if wanted and name.removeprefix("bench_") not in wanted and name not in wanted:
            continue
        t0 = time.perf_counter()
        figures = importlib.import_module(f"bench.{name}").run()
        for key, value in figures.items():
            print(f"{key:40s} {value:,.4g}", flush=True)
        results.update(figures)
        print(f"-- {name} took {time.perf_counter() - t0:.1f} s", flush=True)
    results["machine"] = {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": sys.version.split()[0],
    }
    results["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2, sort_keys=True))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

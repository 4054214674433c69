"""``bench/simulate.py --mode service`` drives a real service as a client would, at a fixed rate,
so that the offers' outcome window (seconds) is the in-process run's (decisions)."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from tests.services import Service

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import simulate  # noqa: E402


def test_the_default_window_is_the_in_process_one_at_the_paced_rate() -> None:
    args = simulate.parse_args(["--ignore-after", "750", "--rate", "200"])
    assert args.outcome_window_s == 4  # 750 decisions at 200/s: 3.75 s
    assert simulate.parse_args(["--ignore-after", "100", "--rate", "400"]).outcome_window_s == 1
    assert simulate.parse_args(["--rate", "0"]).outcome_window_s == 8  # unpaced: as before
    explicit = simulate.parse_args(["--rate", "200", "--outcome-window-s", "9"])
    assert explicit.outcome_window_s == 9


def test_a_paced_service_run_reconciles(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--mode", "service", "--url", service.url, "--key", service.admin_key,
        "--decisions", "500", "--rate", "250", "--window", "100", "--warmup", "100",
        "--new-offer-at", "200", "--drift-at", "300", "--new-offer-target", "200",
        "--customers", "150", "--offers", "12", "--delay-mean", "20", "--delay-max", "60",
        "--ignore-after", "250", "--settle-s", "1.2",
    ]  # fmt: skip
    started = time.perf_counter()
    assert simulate.main(argv) == 0
    elapsed = time.perf_counter() - started
    out = capsys.readouterr().out
    # paced: 500 decisions at 250/s take at least 2 s of sending
    line = re.search(r"500 decisions in ([\d.]+) s \((\d+)/s, paced at 250/s", out)
    assert line is not None, out
    assert float(line.group(1)) >= 1.9 and elapsed >= 1.9
    assert int(line.group(2)) <= 260
    assert "decisions failed 0, empty 0, unknown offers 0" in out, out
    assert "outcome reports failed 0" in out and "duplicates 0" in out, out
    # the window is --ignore-after decisions at the rate, and the summary says what it became
    assert re.search(
        r"outcome window \(1 s, \d+ decisions at the achieved rate; in-process: 250\)", out
    )

"""One BLAS thread per process (app/blas.py), in a fresh interpreter: limits are per process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
import numpy
from threadpoolctl import threadpool_info
from app.blas import limit_blas_threads
before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
limit_blas_threads(int(sys.argv[1]))
after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
print(json.dumps([before, after]))
"""


@pytest.mark.parametrize("threads", [0, 1])
def test_blas_threads_are_limited_when_asked(threads: int) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(threads)], capture_output=True, text=True, check=True
    )
    before, after = json.loads(out.stdout)
    assert before, "numpy's BLAS is visible to threadpoolctl"
    assert after == ([1] * len(before) if threads else before)

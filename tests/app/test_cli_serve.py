"""``nbo serve`` on the embedded defaults: bundled Redis and SQLite under NBO_DATA_DIR.

This is what a new user runs; it is started as a real process, driven over HTTP, and stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from feature_store.server import free_port


def _wait_ready(url: str, process: subprocess.Popen[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"nbo serve exited: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("nbo serve did not become ready")


def test_serve_demo_on_embedded_defaults(tmp_path: Path) -> None:
    port = free_port()
    # the defaults a new user gets: no REDIS_URL, no DATABASE_URL, NBO_DATA_DIR=./.nbo
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "DATABASE_URL", "NBO_DATA_DIR", "NBO_ADMIN_KEY")
    }
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        admin_key = (tmp_path / ".nbo" / "admin.key").read_text().strip()
        auth = {"Authorization": f"Bearer {admin_key}"}
        offers = httpx.get(f"{url}/v1/offers", headers=auth).json()
        assert len(offers) >= 24
        assert sum(o["kind"] == "service" for o in offers) >= 4
        assert {c for o in offers for c in o["channels"]} >= {
            "web",
            "call_center",
            "app",
            "email",
            "sms",
        }
        assert httpx.get(f"{url}/v1/customers/C00001", headers=auth).status_code == 200
        decision = httpx.post(
            f"{url}/v1/decisions",
            json={"customer_id": "C00001", "channel": "web", "interaction": "visit"},
            headers=auth,
        ).json()
        assert decision["known_customer"] is True and decision["offers"]
        assert (tmp_path / ".nbo" / "nbo.db").exists()
        assert (tmp_path / ".nbo" / "redis" / "appendonly.aof").exists() or any(
            (tmp_path / ".nbo" / "redis").glob("appendonly*")
        )
    finally:
        process.send_signal(signal.SIGTERM)  # what Docker and Kubernetes send
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"admin key: {admin_key}" in output
    # the bundled redis-server was stopped with the service
    leftover = subprocess.run(
        ["pgrep", "-f", f"redis-server.*{tmp_path}"], capture_output=True, text=True
    )
    assert leftover.stdout.strip() == ""

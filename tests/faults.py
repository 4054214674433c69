"""Real faults for the failure-mode tests: a throwaway PostgreSQL cluster we may stop, and a tiny
filesystem we may fill. Nothing is mocked; each helper skips the test when the machine cannot
provide it (no PostgreSQL server binaries; not root, so no tmpfs)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from feature_store.server import free_port


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    return versions[0].parent if versions else None


@dataclass
class OwnPostgres:
    """A PostgreSQL cluster in a temporary folder, on a free port, that the test may stop."""

    bin: Path
    data: Path
    port: int
    user: str | None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.data / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        """Stop at once, as a crash would: open connections are cut."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@contextlib.contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip("needs the PostgreSQL server binaries (pg_ctl, initdb) to stop a database")
    user = "postgres" if os.geteuid() == 0 else None
    # not under pytest's tmp_path: as root that is private (0700) and "postgres" must reach it
    folder = Path(tempfile.mkdtemp(prefix="nbo-pg-"))
    folder.chmod(0o755)
    data = folder / "pg"
    data.mkdir()
    if user:
        shutil.chown(data, user)
    cluster = OwnPostgres(binaries, data, free_port(), user)
    cluster._run(
        "initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"
    )
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def tiny_disk(path: Path, size: str = "16m") -> Iterator[Path]:
    """A small tmpfs at ``path`` (needs root): a disk that really fills up."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    path.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write a file in ``folder`` until the disk is full; returns it (delete it to free)."""
    filler = folder / "filler"
    block = b"\0" * (1 << 16)
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(block)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        with contextlib.suppress(OSError):  # the last few bytes
            while True:
                out.write(b"\0" * 512)
    return filler

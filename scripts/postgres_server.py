"""A throw-away PostgreSQL server on a free loopback port, for tests and benchmarks.

    from postgres_server import postgres_server
    with postgres_server() as url:      # postgresql://postgres@127.0.0.1:PORT/postgres
        ...

Uses the server binaries found (Debian's /usr/lib/postgresql/N/bin, or initdb on PATH); when
there are none and we are root, installs Debian's `postgresql` package with apt-get (CI starts
from a fresh machine). The cluster lives in a temporary directory, removed on exit. As root it
runs as the `postgres` user (the server refuses to run as root). Authentication is `trust` on
loopback only; fsync is off (the data is thrown away).

Run it by hand to get a server until Ctrl-C: `.venv/bin/python scripts/postgres_server.py`.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

START_TIMEOUT = 60.0
# Held while the server binaries are looked for and installed (and the postgres user made), so
# that test processes starting servers at once (pytest-xdist workers) install only once.
INSTALL_LOCK = Path(tempfile.gettempdir()) / "postgres-server-install.lock"


def find_bin_dir() -> Path | None:
    """The directory holding initdb and postgres, newest version first; None when absent."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for directory in candidates:
        if (Path(directory) / "initdb").exists() and (Path(directory) / "postgres").exists():
            return Path(directory)
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).resolve().parent / "postgres").exists():
        return Path(initdb).resolve().parent
    return None


def install_postgres() -> Path:
    """Install Debian's postgresql package (root only) and return its bin directory."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(
            "no PostgreSQL server binaries found (initdb, postgres) and cannot install them "
            "(needs root and apt-get); install the postgresql package, then run again"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = [
        "apt-get",
        "-o",
        "DPkg::Lock::Timeout=300",
        "install",
        "-y",
        "--no-install-recommends",
        "postgresql",
    ]
    if subprocess.run(cmd, env=env, timeout=900, capture_output=True).returncode != 0:
        # A fresh machine may have no package lists yet.
        update = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "update"]
        subprocess.run(update, env=env, timeout=600, check=True, capture_output=True)
        done = subprocess.run(cmd, env=env, timeout=900, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"apt-get install postgresql failed: {done.stderr[-2000:]}")
    found = find_bin_dir()
    if found is None:
        raise RuntimeError("postgresql was installed but no initdb/postgres binaries were found")
    return found


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) of the user to run the server as: `postgres` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "postgres"],
            check=True,
            timeout=60,
            capture_output=True,
        )
        entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def _as_user(ids: tuple[int, int] | None) -> dict[str, Any]:
    """Subprocess arguments that run a command as that user, without root's groups."""
    if ids is None:
        return {}
    return {"user": ids[0], "group": ids[1], "extra_groups": []}


def _wait_ready(bin_dir: Path, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"PostgreSQL exited with {proc.returncode}: {log.read_text()[-2000:]}"
            )
        ready = subprocess.run(
            [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)],
            timeout=10,
            check=False,
        )
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"PostgreSQL did not start within {START_TIMEOUT:.0f} s: {log.read_text()[-2000:]}"
    )


@contextlib.contextmanager
def postgres_server(settings: dict[str, str] | None = None) -> Iterator[str]:
    """Start a PostgreSQL server; yield its URL (user postgres, database postgres); stop it.

    `settings` are extra server settings (`-c name=value`).
    """
    with INSTALL_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bin_dir = find_bin_dir() or install_postgres()
        ids = _run_as()
    root = Path(tempfile.mkdtemp(prefix="pgtest-"))
    data, log = root / "data", root / "server.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        if ids is not None:
            os.chown(root, *ids)
        initdb = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            **_as_user(ids),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=root,
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {initdb.stderr[-2000:]}")
        port = free_port()
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(root),
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            **(settings or {}),
        }
        args = [str(bin_dir / "postgres"), "-D", str(data)]
        for name, value in options.items():
            args += ["-c", f"{name}={value}"]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, **_as_user(ids), cwd=root
            )
        _wait_ready(bin_dir, port, proc, log)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # fast shutdown: ends sessions, no waiting for them
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    """Run a PostgreSQL server and print its URL until interrupted."""
    with postgres_server() as url:
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()

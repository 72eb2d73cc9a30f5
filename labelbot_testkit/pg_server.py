"""A throwaway PostgreSQL server from Debian's `postgresql` package (scripts/setup.sh installs
it), on a free loopback port: for the tests (one fresh database per test) and the loopback
replicas benchmark. Never for production data: fsync is off."""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from labelbot.net import free_port


class PostgresServer:
    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not binaries:
            raise RuntimeError(
                "PostgreSQL is not installed: run scripts/setup.sh (it installs Debian's "
                "postgresql package), or apt-get install postgresql"
            )
        self.bin = Path(binaries[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="labelbot-pg-"))
        self.port = free_port()
        self._databases = 0
        self._as = []  # PostgreSQL refuses to run as root: then it runs as its own user
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chmod(self.root, 0o755)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://labelbot@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        data = self.root / "cluster"
        self._run("initdb", "-D", data, "-U", "labelbot", "-A", "trust", "-E", "UTF8", "--no-sync")
        self._run("pg_ctl", "-D", data, "-o", self._options, "-l", self.root / "log", "-w", "start")
        atexit.register(self.stop)  # also when the caller is interrupted before its own stop
        return self

    @property
    def _options(self) -> str:
        return f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"

    def new_database(self) -> str:
        """A fresh, empty database's URL."""
        self._databases += 1
        name = f"test_{self._databases}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "labelbot", name)
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def restart(self) -> None:
        """A fast restart: every open connection is dropped, as in a failover."""
        data = self.root / "cluster"
        self._run(
            "pg_ctl",
            "-D",
            data,
            "-o",
            self._options,
            "-l",
            self.root / "log",
            "-m",
            "fast",
            "-w",
            "restart",
        )  # a log file: the server must not hold our captured pipes open

    def stop(self) -> None:
        """Stops the server and deletes its files; a second call does nothing."""
        if not self.root.exists():
            return
        atexit.unregister(self.stop)
        self._run("pg_ctl", "-D", self.root / "cluster", "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args) -> None:
        command = [*self._as, str(self.bin / program), *map(str, args)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{program} failed: {done.stderr or done.stdout}")

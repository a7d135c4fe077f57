"""Run the web server and a django-q2 worker together; Ctrl-C or SIGTERM stops both.

Both run as child processes in this process group. On SIGINT/SIGTERM the supervisor signals
each child's main process (never the whole group with SIGTERM: qcluster hangs on that) and
waits for both; a child that has not stopped after the grace period is killed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from kroma.settings import envbool, is_loopback_bind

GRACE_SECONDS = 15


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM if the supervisor dies without cleaning up."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Command(BaseCommand):
    help = "Serve Kroma (gunicorn) and run a django-q2 worker until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=settings.BIND, help="host:port (KROMA_BIND)")
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument(
            "--threads", type=int, default=8, help="threads per web worker (slow clients)"
        )
        parser.add_argument("--no-worker", action="store_true", help="Serve the web only.")

    def handle(
        self,
        *args: Any,
        bind: str,
        web_workers: int,
        threads: int,
        no_worker: bool,
        **opts: Any,
    ) -> None:
        # The address actually served decides single-user mode, in the children too.
        env = {**os.environ, "KROMA_BIND": bind}
        if envbool("KROMA_SINGLE_USER", "0") and not is_loopback_bind(bind):
            env["KROMA_SINGLE_USER"] = "0"
            self.stderr.write(
                f"Single-user mode is off: {bind} is not a loopback address, so everyone who can "
                "reach it would be signed in. Log in with a password (manage.py changepassword "
                f"{settings.SINGLE_USER_NAME}), or bind to 127.0.0.1 behind a reverse proxy "
                "(docs/security.md)."
            )
        web_cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "kroma.wsgi:application",
            "--bind",
            bind,
            "--worker-class",
            "gthread",
            "--workers",
            str(web_workers),
            "--threads",
            str(threads),
            "--graceful-timeout",
            "5",
            "--access-logfile",
            "-",
        ]
        children = {"web": subprocess.Popen(web_cmd, env=env, preexec_fn=_die_with_parent)}
        if not no_worker:
            worker_cmd = [sys.executable, "manage.py", "qcluster"]
            children["worker"] = subprocess.Popen(
                worker_cmd, cwd=settings.BASE_DIR, env=env, preexec_fn=_die_with_parent
            )
        self.stdout.write(f"Kroma is up on http://{bind}/  (Ctrl-C stops web and worker)")
        stopping = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        while not stopping and all(p.poll() is None for p in children.values()):
            time.sleep(0.2)
        exited = [name for name, p in children.items() if p.poll() is not None]
        if exited and not stopping:
            self.stderr.write(f"{', '.join(exited)} exited unexpectedly; stopping the rest.")
        self._stop(children)
        if exited and not stopping:
            raise SystemExit(1)

    def _stop(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        for name, proc in children.items():
            if proc.poll() is None:
                # gunicorn: SIGTERM is a graceful stop; qcluster: SIGINT to its main pid.
                proc.send_signal(signal.SIGTERM if name == "web" else signal.SIGINT)
        deadline = time.monotonic() + GRACE_SECONDS
        for name, proc in children.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {GRACE_SECONDS}s; killing it.")
                proc.kill()
                proc.wait()
        self.stdout.write("Kroma stopped.")

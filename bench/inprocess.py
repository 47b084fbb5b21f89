"""What bench/profile_lists.py and bench/profile_submit.py share: the command line, and
timing, profiling or counting the instructions of one request sent through Django's test client
in this process.

Time on these shared machines moves by a fifth within minutes, more than most single changes
save. ``--instructions`` runs the script again under valgrind's callgrind, instrumenting
nothing until a count starts, and prints each request's instructions: the same count to about
0.1 % from run to run whatever else the machine does, so a change of a few per cent shows.
Instructions are not time (a cache miss costs more than an add), and the database server's
work is not in them.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def arguments(doc: str | None, requests: int) -> argparse.Namespace:
    """Parse the shared options and set Django up (the scripts import the project after)."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--requests", type=int, default=requests)
    parser.add_argument("--profile", default="")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", default="", help="also write the raw profile to this file")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count each request's instructions under callgrind instead of timing it "
        "(about 50 times slower: use --requests 30)",
    )
    args = parser.parse_args()
    if args.instructions:
        under_callgrind()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    import django

    django.setup()
    return args


def profile(send: Callable[[], object], args: argparse.Namespace) -> None:
    """Print (and with --dump save) a cProfile of ``args.requests`` sends after a warm-up."""
    for _ in range(5):
        send()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.requests):
        send()
    profiler.disable()
    if args.dump:
        profiler.dump_stats(args.dump)
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


def database_cpu() -> Callable[[], float] | None:
    """A clock of the CPU seconds the PostgreSQL backend serving this process's connection has
    used (user + system, from /proc: the server must run on this machine), or None (SQLite,
    or a server elsewhere). Its resolution is the kernel's clock tick (10 ms): time many
    requests."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    stat = Path(f"/proc/{pid}/stat")
    # The server's process id means this machine's process only when the server runs here
    # (not in a container or elsewhere): then the process is a postgres.
    comm = Path(f"/proc/{pid}/comm")
    if not comm.exists() or comm.read_text().strip() != "postgres":
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def used() -> float:
        # Fields after the command name (which may hold spaces): utime and stime are the
        # 14th and 15th of the line.
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    return used


@dataclass(frozen=True)
class Timing:
    """Seconds per send: wall and this process's CPU, and the database backend's CPU (None
    where ``database_cpu`` has no clock)."""

    wall: float
    cpu: float
    database: float | None

    def database_ms(self) -> str:
        return "     -" if self.database is None else f"{self.database * 1000:6.2f}"


def timed(send: Callable[[], object], requests: int, warm: int) -> Timing:
    """Seconds per send of ``requests`` sends, after ``warm`` sends not counted (the database's
    clock is read after them: the connection whose backend it reads is open by then)."""
    for _ in range(warm):
        send()
    server = database_cpu()
    before = server() if server else 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        send()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    database = (server() - before) / requests if server else None
    return Timing(wall / requests, cpu / requests, database)


# Set in the run under callgrind, so that it does not start valgrind again.
_UNDER_CALLGRIND = "BENCH_UNDER_CALLGRIND"


def under_callgrind() -> None:
    """Run this script again under callgrind with instrumentation off (until ``instructions``
    turns it on) and the same hash seed each time; return when already there."""
    if os.environ.get(_UNDER_CALLGRIND):
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (Debian's package valgrind).")
    # callgrind's own profile of the run, for callgrind_annotate (BENCH_CALLGRIND_DIR: elsewhere).
    out = Path(os.environ.get("BENCH_CALLGRIND_DIR") or ROOT / "var" / "bench") / "callgrind.out.%p"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, _UNDER_CALLGRIND: "1", "PYTHONHASHSEED": "0"}
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        *sys.argv,
    ]
    sys.stdout.flush()
    os.execvpe("valgrind", command, env)  # noqa: S606 - valgrind on this same script


def _callgrind(*options: str) -> str:
    return subprocess.run(
        ["callgrind_control", *options, str(os.getpid())],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _counted() -> int:
    """Instructions since callgrind's counters were last zeroed, all threads."""
    shown = _callgrind("-e", "Ir")
    threads = re.findall(r"^\s*Th \d+\s+([\d,]+)\s*$", shown, re.MULTILINE)
    if not threads:
        raise RuntimeError(f"callgrind_control printed no counts: {shown!r}")
    return sum(int(count.replace(",", "")) for count in threads)


def instructions(send: Callable[[], object], requests: int, warm: int) -> int:
    """Instructions per send of ``requests`` sends after ``warm`` sends not counted, under
    callgrind (``under_callgrind``). Asking callgrind for its counters costs instructions of
    its own (a process started); that cost, counted with no sends, is taken off."""
    for _ in range(warm):
        send()
    _callgrind("--instr=on")
    try:
        _callgrind("--zero")
        asking = _counted()
        _callgrind("--zero")
        for _ in range(requests):
            send()
        counted = _counted()
    finally:
        _callgrind("--instr=off")
    return max(counted - asking, 0) // requests

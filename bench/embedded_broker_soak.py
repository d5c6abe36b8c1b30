"""Soak of the embedded default's broker (the filesystem transport under var/broker).

Run from the repository root:  .venv/bin/python bench/embedded_broker_soak.py [--tasks 100000]

What it does, on a scratch SALLOQ_VAR_DIR (removed at the end), bounded by --time-limit:
  1. starts --workers real `celery worker` processes (prefork, --concurrency each) and, unless
     --no-beat, `celery beat` publishing a task every second;
  2. publishes --tasks tasks from this process while they run: every --countdown-every'th with a
     countdown of 1 to 3 s, every --retry-every'th asking for one retry (a countdown of 1 s);
  3. optionally (--kill-every S) kills a whole worker (its process group, SIGKILL) every S seconds
     and starts it again, as a crash or the OOM killer would;
  4. waits until every task has run, then a few seconds more for late duplicates, and reports
     tasks/s, tasks missing, tasks run twice, workers that exited on their own, unreadable
     messages, and "Unrecoverable error" lines in the workers' logs.
--transport kombu measures kombu's own filesystem transport instead of salloq/core/broker.py.
Exit status 0 when the run was clean: nothing missing, no worker exited on its own, and no
duplicate unless workers were killed (a task running when its worker is killed runs again).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the project is importable from the root
    sys.path.insert(0, str(ROOT))

TRANSPORTS = {"salloq": "", "kombu": "kombu.transport.filesystem:Transport"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes per worker (default 2)")
    parser.add_argument("--no-beat", action="store_true", help="do not run celery beat alongside")
    parser.add_argument("--countdown-every", type=int, default=10)
    parser.add_argument("--retry-every", type=int, default=7)
    parser.add_argument("--kill-every", type=float, default=0, help="SIGKILL a worker every S seconds (0: never)")
    parser.add_argument("--transport", choices=sorted(TRANSPORTS), default="salloq")
    parser.add_argument("--time-limit", type=float, default=1200, help="give up (and clean up) after this long")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "embedded_broker_soak.json")
    args = parser.parse_args(argv)
    if min(args.tasks, args.workers, args.concurrency, args.countdown_every, args.retry_every) < 1:
        parser.error("--tasks, --workers, --concurrency, --countdown-every and --retry-every must be at least 1")
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Soak:
    def __init__(self, args: argparse.Namespace, scratch: Path):
        self.args = args
        self.scratch = scratch
        for sub in ("done", "duplicates", "ticks", "logs"):
            (scratch / sub).mkdir()
        self.env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CACHE_URL"}}
        self.env.update(
            CELERY_BROKER_URL="filesystem://",
            SALLOQ_VAR_DIR=str(scratch / "var"),
            SOAK_DIR=str(scratch),
            SOAK_TRANSPORT_CLASS=TRANSPORTS[args.transport],
            DJANGO_SETTINGS_MODULE="salloq.settings",
            PYTHONPATH=str(ROOT),
        )
        self.workers: list[subprocess.Popen | None] = [None] * args.workers
        self.beat: subprocess.Popen | None = None
        self.exited: list[str] = []  # processes that exited on their own
        self.kills = 0
        self.starts = 0
        self.next_kill = time.monotonic() + args.kill_every if args.kill_every else None

    def _spawn(self, name: str, *celery_args: str) -> subprocess.Popen:
        output = open(self.scratch / "logs" / f"{name}.log", "ab")  # noqa: SIM115 (kept by the child)
        command = [sys.executable, "-m", "celery", "-A", "bench.soak_app", *celery_args]
        # A session of its own: a kill takes the whole worker, pool processes included.
        return subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start_worker(self, index: int) -> None:
        self.starts += 1
        self.workers[index] = self._spawn(
            f"worker{index}",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(self.args.concurrency),
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"soak{index}-{self.starts}@%h",
            "--loglevel",
            "WARNING",
        )

    def start(self) -> None:
        for index in range(self.args.workers):
            self.start_worker(index)
        if not self.args.no_beat:
            schedule = self.scratch / "beat-schedule"
            self.beat = self._spawn(
                "beat", "beat", "--scheduler", "celery.beat:PersistentScheduler", "--schedule", str(schedule)
            )

    def check_processes(self) -> None:
        for index, worker in enumerate(self.workers):
            if worker is not None and worker.poll() is not None:
                self.exited.append(f"worker{index} exited with code {worker.returncode}")
                log(self.exited[-1] + "; starting it again")
                self.start_worker(index)
        if self.beat is not None and self.beat.poll() is not None:
            self.exited.append(f"beat exited with code {self.beat.returncode}")
            self.beat = None

    def watch(self) -> None:
        """Restart workers that exited; kill one when --kill-every says so."""
        self.check_processes()
        if self.next_kill and time.monotonic() >= self.next_kill:
            self.kill_one()
            self.next_kill = time.monotonic() + self.args.kill_every

    def kill_one(self) -> None:
        index = self.kills % len(self.workers)
        worker = self.workers[index]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        self.kills += 1
        log(f"killed worker{index} (kill {self.kills})")
        self.start_worker(index)

    def stop(self) -> None:
        # Everything has been counted by now, and a warm shutdown takes seconds per worker.
        for process in [*self.workers, self.beat]:
            if process is not None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def count(self, sub: str) -> int:
        return len(os.listdir(self.scratch / sub))

    def log_lines(self, needle: str) -> list[str]:
        lines = []
        for path in sorted((self.scratch / "logs").iterdir()):
            text = path.read_text(errors="replace")
            lines += [f"{path.name}: {line}" for line in text.splitlines() if needle in line]
        return lines


def publish(args: argparse.Namespace, soak: Soak) -> float:
    """Send every task from this process, watching the workers meanwhile; returns the seconds it took."""
    os.environ.update(soak.env)
    from bench.soak_app import record  # the environment decides the broker: import after setting it

    rng = random.Random(9)  # noqa: S311 (countdowns, not secrets)
    started = time.monotonic()
    for n in range(args.tasks):
        countdown = rng.uniform(1, 3) if n % args.countdown_every == 0 else None
        record.apply_async((n, n % args.retry_every == 0), countdown=countdown)
        if n % 200 == 199:
            soak.watch()
    return time.monotonic() - started


def run(args: argparse.Namespace) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="salloq-soak-"))
    soak = Soak(args, scratch)
    deadline = time.monotonic() + args.time_limit
    try:
        soak.start()
        log("started the workers and beat")
        started = time.monotonic()
        publish_seconds = publish(args, soak)
        log(f"published {args.tasks} tasks in {publish_seconds:.1f}s")
        while soak.count("done") < args.tasks and time.monotonic() < deadline:
            soak.watch()
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        time.sleep(3)  # late duplicates, if any
        soak.check_processes()
        done = soak.count("done")
        result = {
            "transport": args.transport,
            "tasks": args.tasks,
            "workers": args.workers,
            "concurrency": args.concurrency,
            "beat": not args.no_beat,
            "kills": soak.kills,
            "done": done,
            "missing": args.tasks - done,
            "duplicates": soak.count("duplicates"),
            "beat_ticks": soak.count("ticks"),
            "exited": soak.exited,
            "unrecoverable": soak.log_lines("Unrecoverable error")[:5],
            "corrupt_messages": len(os.listdir(scratch / "var" / "broker" / "corrupt"))
            if (scratch / "var" / "broker" / "corrupt").exists()
            else 0,
            "publish_seconds": round(publish_seconds, 2),
            "seconds": round(elapsed, 2),
            "tasks_per_second": round(done / elapsed, 1),
        }
        result["clean"] = (
            result["missing"] == 0
            and not result["exited"]
            and not result["unrecoverable"]
            and (result["duplicates"] == 0 or soak.kills > 0)
        )
        return result
    finally:
        stopping = time.monotonic()
        soak.stop()
        log(f"stopped the workers and beat in {time.monotonic() - stopping:.1f}s")
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on SIGTERM too
    result = run(args)
    print(json.dumps(result, indent=2))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2))
    return 0 if result["clean"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Imported by the campaign send bench's Celery workers (`celery worker --include
bench.campaign_profile`): while the file BENCH_PROFILE_FLAG exists, every task a pool process runs
is profiled with cProfile (CPU time: time.process_time), and the process's profile so far is written after each task to
BENCH_PROFILE_DIR/worker-<pid>.pstats. Without the flag it costs one stat() per task."""

from __future__ import annotations

import cProfile
import os
import time
from pathlib import Path

from celery.signals import task_postrun, task_prerun

_FLAG = os.environ.get("BENCH_PROFILE_FLAG", "")
_DIR = os.environ.get("BENCH_PROFILE_DIR", "")
_profiler: cProfile.Profile | None = None
_running = False


@task_prerun.connect
def _start(**kwargs) -> None:
    global _profiler, _running
    if not _FLAG or not os.path.exists(_FLAG):
        return
    if _profiler is None:
        _profiler = cProfile.Profile(time.process_time)  # CPU time, not waits
    _profiler.enable()
    _running = True


@task_postrun.connect
def _stop(**kwargs) -> None:
    global _running
    if not _running or _profiler is None:
        return
    _profiler.disable()
    _running = False
    _profiler.dump_stats(str(Path(_DIR) / f"worker-{os.getpid()}.pstats"))

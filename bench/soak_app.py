"""The Celery app and tasks of bench/embedded_broker_soak.py: the project's app (settings, broker)
with two tasks that leave a file behind, so the runner can tell what ran and how often.

Workers load it with `celery -A bench.soak_app`; the runner sets SOAK_DIR (and, to measure kombu's
own transport, SOAK_TRANSPORT_CLASS) in their environment.
"""

import os
import uuid
from pathlib import Path

from salloq.celery import app

SOAK_DIR = Path(os.environ["SOAK_DIR"])
if os.environ.get("SOAK_TRANSPORT_CLASS"):
    app.conf.broker_transport = os.environ["SOAK_TRANSPORT_CLASS"]
# Beat publishes as well during the soak: a tick every second (instead of the product's schedule,
# whose jobs need a migrated database).
app.conf.beat_schedule = {"soak-tick": {"task": "soak.tick", "schedule": 1.0}}


@app.task(bind=True, name="soak.record", max_retries=1)
def record(self, n: int, retry: bool = False) -> None:
    """Task n: the first run of a `retry` task asks for a retry in a second; the run that counts
    creates done/<n>, and a second such run leaves a file in duplicates/."""
    if retry and not self.request.retries:
        raise self.retry(countdown=1)
    try:
        fd = os.open(SOAK_DIR / "done" / str(n), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        (SOAK_DIR / "duplicates" / f"{n}-{uuid.uuid4().hex}").touch()
    else:
        os.close(fd)


@app.task(name="soak.tick")
def tick() -> None:
    (SOAK_DIR / "ticks" / uuid.uuid4().hex).touch()

"""bench.campaign_settings: the project's settings, with every Celery task on the run's own queue
(BENCH_CELERY_QUEUE), so the bench's two workers take only the bench's tasks and a worker of
another run sharing the Redis database never takes them."""

import os

from salloq.settings import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "celery")
CELERY_TASK_ROUTES = {"*": {"queue": CELERY_TASK_DEFAULT_QUEUE}}

"""The project's settings for the events benches: /bench/events/plain beside the API, and the
dispatch messages on a queue of the run's own (deleted afterwards) instead of the shared "celery"."""

import os

from bench.settings import *  # noqa: F403 - every setting, middleware and env knob as in production

ROOT_URLCONF = "bench.events_urls"
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("BENCH_EVENTS_QUEUE", "celery")

"""The project's settings plus the benchmark's URLs (a plain view to compare the API against)."""

from salloq.settings import *  # noqa: F403 - every setting, middleware and env knob as in production

ROOT_URLCONF = "bench.urls"

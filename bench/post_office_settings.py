"""bench.post_office_settings: the project's settings plus django-post-office, for the campaign
send bench's peer (bench/campaign_peer.py). django-post-office is not a dependency of the project:
the bench installs a pinned copy outside the tree and puts it on PYTHONPATH for this process only.

Its documented bulk path with 2 processes and one thread (one SMTP connection) each, the same
number of connections as the two Celery workers. BATCH_SIZE is raised from its default of 100 to
1000 (a batch forks a pool of processes): the faster setting for the peer."""

import os

from salloq.settings import *  # noqa: F403
from salloq.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "post_office"]
POST_OFFICE = {
    "BATCH_SIZE": int(os.environ.get("BENCH_POST_OFFICE_BATCH_SIZE", "1000")),
    "THREADS_PER_PROCESS": 1,
    "LOCK_FILE_NAME": os.environ.get("BENCH_POST_OFFICE_LOCK", "post_office"),
}

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salloq.settings")

app = Celery("salloq")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _freeze_worker_process(**kwargs):
    # Each pool process, once started: tasks such as imports and sends allocate many objects
    # too (salloq/core/runtime.py says why this helps).
    from salloq.core.runtime import freeze_loaded_objects

    freeze_loaded_objects()

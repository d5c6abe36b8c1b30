"""Process start-up for long-running servers: the web workers and the Celery workers."""

import gc

from django.urls import get_resolver


def freeze_loaded_objects() -> None:
    """Load what every request needs, then move everything loaded so far out of the cyclic
    garbage collector's reach (`gc.freeze`).

    A loaded Django project is hundreds of thousands of long-lived objects (modules, classes,
    URL patterns, model and serializer metadata). Each full collection walks all of them, and a
    request that allocates many objects (a 1000-contact bulk upsert: parsed JSON, rows, results)
    sets off several: in bench/contacts_bulk_upsert.py that walking was a quarter of the request's
    time. Frozen objects are never walked; they live as long as the process anyway. It also keeps
    a forked worker from writing to the pages it shares with its parent (the gc docs' advice).
    """
    # The URLconf loads lazily on the first request: load it (and with it every view,
    # serializer and form module) now, so that it is frozen too.
    get_resolver().url_patterns  # noqa: B018 - the property loads the URLconf
    gc.collect()  # what is garbage already should be freed, not frozen
    gc.freeze()

"""The project's URLs plus /bench/plain, the baseline that GET /api/ is measured against.

The plain view goes through the same gunicorn server and the same middleware stack
(the API gateway lets it pass untouched, being outside /api/), so the difference
between the two is what the API path adds: key authentication, the rate-limit
counter and DRF.
"""

import functools
import json
import os
from pathlib import Path
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path

from salloq.urls import urlpatterns as salloq_urlpatterns

# The benchmark writes the real GET /api/ body here before it first requests the plain view.
BODY_FILE_ENV = "BENCH_PLAIN_BODY_FILE"


@functools.cache
def _body() -> dict[str, Any]:
    # Read once per worker: the baseline should cost no file I/O per request.
    return json.loads(Path(os.environ[BODY_FILE_ENV]).read_text())


def plain(request: HttpRequest) -> JsonResponse:
    """The same JSON as GET /api/ with nothing in front: no key lookup, no counter, no DRF."""
    # Compact and non-ASCII-escaped like DRF's JSONRenderer, so both bodies are byte for byte the same.
    return JsonResponse(_body(), json_dumps_params={"separators": (",", ":"), "ensure_ascii": False})


urlpatterns = [path("bench/plain", plain, name="bench-plain"), *salloq_urlpatterns]

"""The project's URLs plus POST /bench/events/plain, the floor POST /api/events is measured against:
the same gunicorn, the same middleware, a raw INSERT of the body into a jsonb table and a 201."""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from bench.events_ingest import PLAIN_TABLE
from salloq.urls import urlpatterns as salloq_urlpatterns


@csrf_exempt
def plain(request: HttpRequest) -> JsonResponse:
    """Only insert the raw JSON: no key lookup, no rate-limit counter, no DRF, no validation, no contact."""
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {PLAIN_TABLE} (body) VALUES (%s::jsonb) RETURNING id", [request.body.decode()])  # noqa: S608
        event_id = cursor.fetchone()[0]
    return JsonResponse({"event_id": event_id}, status=201)


urlpatterns = [path("bench/events/plain", plain, name="bench-events-plain"), *salloq_urlpatterns]

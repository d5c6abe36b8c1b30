"""The API's one error shape (the Salloq Marketing API): {"error", "code", "message"[, "details"]}."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from .cache import RETRY_SECONDS
from .db import TIMEOUT_ERROR, is_statement_timeout, timeout_message

logger = logging.getLogger("salloq.api")

SHORT_ERRORS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def error_body(status: int, message: str, error: str | None = None, details=None) -> dict:
    body = {"error": error or SHORT_ERRORS.get(status, "Error"), "code": status, "message": message}
    if details is not None:
        body["details"] = details
    return body


def error_response(status: int, message: str, error: str | None = None, details=None, headers=None) -> JsonResponse:
    """For code outside DRF views (middleware, catch-all routes)."""
    response = JsonResponse(error_body(status, message, error, details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class ApiError(exceptions.APIException):
    """An API error with its own short `error` text, e.g. "Invalid API key"."""

    def __init__(self, status: int, error: str, message: str, details=None):
        self.status_code = status
        self.error = error
        self.details = details
        super().__init__(detail=message)


def payload_too_large_body() -> dict:
    return error_body(413, f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")


def _validation_details(detail) -> dict:
    if isinstance(detail, dict):
        return detail
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


def _field_names(details: dict) -> str:
    return ", ".join(str(name) for name in details)


def api_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every exception raised in an API view becomes the API's one error shape."""
    if isinstance(exc, RequestDataTooBig):
        return Response(payload_too_large_body(), status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ApiError):
        body = error_body(exc.status_code, str(exc.detail), exc.error, exc.details)
    elif isinstance(exc, exceptions.ValidationError):
        details = _validation_details(exc.detail)
        body = error_body(400, f"Invalid input: check {_field_names(details)}.", "Validation failed", details)
    elif isinstance(exc, exceptions.ParseError):
        body = error_body(400, str(exc.detail), "Malformed request")
    elif isinstance(exc, exceptions.NotFound):
        body = error_body(404, "The requested resource does not exist.")
    elif isinstance(exc, exceptions.MethodNotAllowed):
        request = context["request"]
        body = error_body(405, f"Method {request.method} is not allowed on {request.path}.")
    elif isinstance(exc, exceptions.APIException):
        body = error_body(exc.status_code, str(exc.detail))
    elif is_statement_timeout(exc):
        # 503, not 4xx: the request was valid and the server gave up on it (WEB_STATEMENT_TIMEOUT_MS);
        # not 504 either, which reports a gateway whose upstream did not answer.
        logger.warning("Statement timeout in API view %s", getattr(context.get("request"), "path", "?"))
        body = error_body(503, timeout_message(), TIMEOUT_ERROR)
    elif isinstance(exc, OperationalError):
        # The database failed the request for a passing reason (the connection was lost in a
        # restart or failover, a deadlock, too many connections): the client retries, as after the
        # gateway's other 503s. Logged whole, as a 500 would be, in case it is not passing.
        logger.exception("Database unavailable in API view %s", getattr(context.get("request"), "path", "?"))
        body = error_body(
            503,
            f"The database could not complete the request. Retry after {RETRY_SECONDS} seconds.",
            "Service unavailable",
        )
    else:
        request = context.get("request")
        logger.exception("Unhandled error in API view %s", getattr(request, "path", "?"))
        body = error_body(500, "An unexpected error occurred. It has been logged.")
        return Response(body, status=500)

    response = Response(body, status=body["code"])
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        response["Retry-After"] = str(int(exc.wait))
    elif isinstance(exc, OperationalError) and not is_statement_timeout(exc):
        response["Retry-After"] = str(RETRY_SECONDS)
    return response

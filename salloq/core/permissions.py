from rest_framework.permissions import SAFE_METHODS, BasePermission

from .errors import ApiError


class HasApiKeyScope(BasePermission):
    """A view names `read_scope` and `write_scope`; the key must hold the one the method needs.

    A view that names neither only needs a valid key (e.g. the credentials check at GET /api/).
    """

    def has_permission(self, request, view) -> bool:
        principal = request.auth
        if principal is None:
            raise ApiError(401, "Missing API key", "Send your API key in the header 'Authorization: Bearer <key>'.")
        scope = (
            getattr(view, "read_scope", None) if request.method in SAFE_METHODS else getattr(view, "write_scope", None)
        )
        if scope and not principal.has_scope(scope):
            raise ApiError(
                403,
                "Insufficient scope",
                f"This API key lacks the '{scope}' scope needed for {request.method} {request.path}.",
            )
        return True

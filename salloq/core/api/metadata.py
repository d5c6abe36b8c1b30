"""OPTIONS answers for the API."""

from rest_framework.metadata import SimpleMetadata


class ApiMetadata(SimpleMetadata):
    """DRF's OPTIONS answer (name, description, renders, parses, and for a view with a serializer
    the fields its writes take). A view that validates its body without a serializer (the events
    endpoints check theirs against a JSON Schema) describes no fields instead of failing with a 500;
    /api/schema/ is the full description of every body."""

    def determine_actions(self, request, view):
        if getattr(view, "serializer_class", None) is None:
            return {}
        return super().determine_actions(request, view)

from rest_framework.negotiation import DefaultContentNegotiation


class JsonOnlyContentNegotiation(DefaultContentNegotiation):
    """API views have one renderer (JSON): answer with it whatever the Accept header says.

    Negotiating among one renderer cost a fifth of DRF's time per request (bench/README.md),
    and a 406 for `Accept: text/html` helps no integrator. Views with several renderers (the
    OpenAPI schema: YAML or JSON) negotiate as usual.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        if len(renderers) == 1:
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)

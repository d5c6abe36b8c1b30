from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """The Salloq Marketing API writes paths without a trailing slash (/api/contacts); both spellings are served."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"

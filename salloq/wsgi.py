import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salloq.settings")
application = get_wsgi_application()

from salloq.core.runtime import freeze_loaded_objects  # noqa: E402 - needs the apps loaded above

freeze_loaded_objects()

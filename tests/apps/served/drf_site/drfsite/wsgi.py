import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drfsite.settings")
application = get_wsgi_application()

# Load the URL conf now rather than on the first request, so every worker
# process answers its first request like any later one.
from django.urls import get_resolver  # noqa: E402  (needs the settings above)

get_resolver().url_patterns

"""Faults the server outlives: a database that does not answer is a 503, never a 500 or
a traceback, and the service comes back by itself when the database does."""

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from playground.api.errors import api_error_of, error_json

JSON_PREFIXES = ("/v1/", "/runs", "/mcp")
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandpit is briefly unavailable</title></head>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 3rem auto">
<h1>Sandpit is briefly unavailable</h1>
<p>It cannot reach its database just now. Nothing you sent is lost; try again in a few
seconds.</p></body></html>"""


class DatabaseUnavailable(MiddlewareMixin):
    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DatabaseError):
            return None
        error = api_error_of(exception)
        wants_json = "application/json" in request.headers.get("Accept", "")
        if request.path.startswith(JSON_PREFIXES) or request.path.endswith("/run") or wants_json:
            return error_json(error)
        return HttpResponse(
            PAGE, status=error.status, headers={"Retry-After": str(error.retry_after_s)}
        )

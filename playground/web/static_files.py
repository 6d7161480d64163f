"""WhiteNoise's static files, without sending every other request through a thread.

WhiteNoise's middleware is synchronous. Among async middleware, Django runs a sync one
in a thread, and everything after it back on the event loop: two thread hops on every
request, static or not (about 2 ms of an API call). This asks WhiteNoise only about
paths under the static prefix, and in a thread, since serving opens a file.
"""

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware

from playground.web.middleware import AsyncMiddleware, GetResponse


class StaticFiles(AsyncMiddleware):
    def __init__(self, get_response: GetResponse) -> None:
        super().__init__(get_response)
        self.whitenoise = WhiteNoiseMiddleware(get_response=None)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(self.whitenoise.static_prefix):
            response = await sync_to_async(self._serve, thread_sensitive=False)(request)
            if response is not None:
                return response
        return await self.get_response(request)

    def _serve(self, request: HttpRequest) -> HttpResponse | None:
        whitenoise = self.whitenoise
        path = request.path_info
        found = whitenoise.find_file(path) if whitenoise.autorefresh else whitenoise.files.get(path)
        if found is None:
            return None
        response: HttpResponse = whitenoise.serve(found, request)
        return response

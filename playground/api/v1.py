"""The /v1 API: one NinjaAPI, its key, its body parser and error shape, and a router
per resource (executions, runtimes, tools, secrets, sessions), each parsing, authorising, calling
one service and shaping the response."""

from ninja import NinjaAPI

from playground.api.auth import ApiKeyAuth
from playground.api.bodies import JsonParser
from playground.api.errors import install_error_handlers
from playground.api.executions import router as executions_router
from playground.api.runtimes import router as runtimes_router
from playground.api.secrets import router as secrets_router
from playground.api.sessions import router as sessions_router
from playground.api.tools import router as tools_router

api = NinjaAPI(
    title="Sandpit",
    version="1",
    description="Riza-compatible code execution: Python, JavaScript and TypeScript in sandboxes.",
    auth=ApiKeyAuth(),
    parser=JsonParser(),
    urls_namespace="v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_error_handlers(api)
for router in (executions_router, runtimes_router, tools_router, secrets_router, sessions_router):
    api.add_router("/", router)

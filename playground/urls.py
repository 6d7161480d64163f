from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from playground.api.v1 import api
from playground.cluster import health
from playground.mcp import server as mcp_server
from playground.web import notebook_pages as notebooks
from playground.web import pages as views
from playground.web import tool_pages as tool_views

urlpatterns = [
    path("", views.home, name="home"),
    path("runs", views.start_run, name="start_run"),
    path("e/<str:execution_id>", views.execution_page, name="execution"),
    path("e/<str:execution_id>/share", views.share, name="share"),
    path("e/<str:execution_id>/files/<path:path>", views.execution_file, name="execution_file"),
    path("notebook", notebooks.notebook_page, name="notebook_new"),
    path("notebook/<str:notebook_id>", notebooks.notebook_page, name="notebook"),
    path("notebooks", notebooks.notebook_create, name="notebook_create"),
    path("notebook/<str:notebook_id>/run", notebooks.notebook_run, name="notebook_run"),
    path("notebook/<str:notebook_id>/cells", notebooks.notebook_cells, name="notebook_cells"),
    path(
        "notebook/<str:notebook_id>/interrupt",
        notebooks.notebook_interrupt,
        name="notebook_interrupt",
    ),
    path("notebook/<str:notebook_id>/restart", notebooks.notebook_restart, name="notebook_restart"),
    path("notebook/<str:notebook_id>/end", notebooks.notebook_end, name="notebook_end"),
    path("notebook/<str:notebook_id>/session", notebooks.notebook_session, name="notebook_session"),
    path("n/<str:notebook_id>", notebooks.notebook_permalink, name="notebook_permalink"),
    path("n/<str:notebook_id>/share", notebooks.notebook_share, name="notebook_share"),
    path("history", views.history, name="history"),
    path("keys", views.api_keys, name="api_keys"),
    path("tools", tool_views.tool_list, name="tools"),
    path("tools/new", tool_views.tool_edit, name="tool_new"),
    path("tools/<str:tool_id>", tool_views.tool_edit, name="tool"),
    path("tools/<str:tool_id>/run", tool_views.tool_run, name="tool_run"),
    path("secrets", tool_views.secret_list, name="secrets"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    # Where MCP clients look for OAuth, at the root and under /mcp, both ways round.
    re_path(
        r"^(?:mcp/)?\.well-known/"
        r"(?:oauth-protected-resource|oauth-authorization-server|openid-configuration)(?:/.*)?$",
        mcp_server.no_oauth,
        name="no_oauth",
    ),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("v1/", api.urls),
    path("admin/", admin.site.urls),
]

"""Credentials out of stored requests: what is kept of a request never holds a secret."""

import copy
from typing import Any

MASK = "********"
# Per auth kind, the parts that are credentials; the rest (user_id, header name, query
# key) says how a credential is used and is kept.
SECRET_AUTH_FIELDS = {
    "bearer": ("token",),
    "basic": ("password",),
    "header": ("value",),
    "query": ("value",),
}


def mask_request(request: dict[str, Any]) -> dict[str, Any]:
    """A copy of an execute request with every credential and env value masked.

    Env values are masked too: they are where people put their API keys, and the API
    promises that env is never logged.
    """
    masked = copy.deepcopy(request)
    env = masked.get("env")
    if isinstance(env, dict):
        masked["env"] = dict.fromkeys(env, MASK)
    elif isinstance(env, list):  # tools: [{name, value | secret_id}]
        for item in env:
            if isinstance(item, dict) and "value" in item:
                item["value"] = MASK
    http = masked.get("http")
    allow = http.get("allow") if isinstance(http, dict) else None
    for rule in allow if isinstance(allow, list) else []:
        auth = rule.get("auth") if isinstance(rule, dict) else None
        if not isinstance(auth, dict):
            continue
        for kind, fields in SECRET_AUTH_FIELDS.items():
            part = auth.get(kind)
            if isinstance(part, dict):
                for name in fields:
                    if part.get(name) is not None:
                        part[name] = MASK
    return masked

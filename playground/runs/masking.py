"""What is kept of a request: never a secret, and never megabytes.

Credentials and env values are masked. Large parts (stdin, files, args, input) are kept
up to a budget per request and cut with a marker past it: a run's record says what it
was asked, not a second copy of a 40 MiB upload.
"""

import copy
import json
from typing import Any

MASK = "********"
# Per auth kind, the parts that are credentials; the rest (user_id, header name, query
# key) says how a credential is used and is kept.
SECRET_AUTH_FIELDS = {
    "bearer": ("token",),
    "basic": ("password",),
    "header": ("value", "token"),
    "query": ("value", "token"),
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


def _cut(text: str, room: int) -> tuple[str, int]:
    """`text` within `room` bytes of UTF-8, with a marker when cut; and the bytes used."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= room:
        return text, len(data)
    kept = data[: max(0, room)].decode("utf-8", "ignore")
    return f"{kept}\n[Sandpit: {len(data) - len(kept.encode())} more bytes not kept]", room


def trim_request(request: dict[str, Any], *, max_bytes: int) -> dict[str, Any]:
    """A copy whose stdin, args, file contents and input take at most `max_bytes` in all.

    They are kept in that order until the budget runs out; each part cut says so, and an
    input too large to keep whole becomes a marker string.
    """
    trimmed = dict(request)
    room = max_bytes
    if isinstance(trimmed.get("stdin"), str):
        trimmed["stdin"], used = _cut(trimmed["stdin"], room)
        room -= used
    if "input" in trimmed:
        size = len(json.dumps(trimmed["input"]))
        if size > room:
            trimmed["input"] = f"[Sandpit: an input of {size} bytes as JSON, not kept]"
        else:
            room -= size
    if isinstance(trimmed.get("files"), list):
        files = []
        for item in trimmed["files"]:
            if isinstance(item, dict) and isinstance(item.get("contents"), str):
                contents, used = _cut(item["contents"], room)
                item = {**item, "contents": contents}
                room -= used
            files.append(item)
        trimmed["files"] = files
    if isinstance(trimmed.get("args"), list):
        args = []
        for arg in trimmed["args"]:
            kept, used = _cut(arg, room) if isinstance(arg, str) else (arg, 0)
            args.append(kept)
            room -= used
        trimmed["args"] = args
    return trimmed

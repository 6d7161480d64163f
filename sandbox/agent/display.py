"""display() for Python runs: IPython's display protocol, without IPython.

`display(*objs)` turns each object into a Jupyter `display_data` bundle, as IPython
does: `_repr_mimebundle_` first, then each `_repr_*_` method, and `text/plain` (repr)
always; bytes of binary types become base64. Each bundle goes to the supervisor on the
display descriptor (a 4-byte length, then JSON), a channel of its own: not stdout, and
not the function's result. The supervisor checks every bundle; nothing here is trusted.

matplotlib's backend is sandpit_mpl.py (MPLBACKEND=module://sandpit_mpl): its show()
displays each open figure as a PNG and closes it, as Jupyter's inline backend does, and
figures left open when the run ends are shown then (`show_open_figures`). Where IPython
is installed, `IPython.display.display` is this display.
"""

import base64
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import struct
import sys

# matplotlib's backend (sandpit_mpl.py beside this file), found by name when pyplot
# asks for it: a run that draws nothing pays nothing for it.
BACKEND_MODULE = "sandpit_mpl"
AGENT_DIR = os.path.dirname(os.path.abspath(__file__))
REPR_METHODS = (
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
    ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"),
    ("_repr_pdf_", "application/pdf"),
)
BINARY = frozenset({"image/png", "image/jpeg", "image/gif", "application/pdf"})
# IPython modules whose `display` becomes ours when the code imports them.
IPYTHON_DISPLAY_MODULES = ("IPython.core.display_functions", "IPython.display")

_fd: int | None = None


def attach(fd: int | None) -> None:
    """Send bundles to `fd` from now on; make `display` a builtin; be matplotlib's
    backend unless the run chose another; take over IPython's display if imported."""
    global _fd
    _fd = fd
    import builtins

    builtins.display = display  # type: ignore[attr-defined]
    os.environ.setdefault("MPLBACKEND", f"module://{BACKEND_MODULE}")
    # matplotlib's cache: the root is read-only, and it would say so on stderr.
    os.environ.setdefault("MPLCONFIGDIR", "/tmp/matplotlib")
    sys.meta_path.insert(0, _Hook())


def display(*objs: object, raw: bool = False, metadata: dict | None = None, **_: object) -> None:
    """Show each object as a result; `raw=True` takes each as a mime bundle already."""
    for obj in objs:
        if raw and isinstance(obj, dict):
            data, meta = dict(obj), {}
        else:
            data, meta = mime_bundle(obj)
        send({"data": data, "metadata": {**meta, **(metadata or {})}})


def mime_bundle(obj: object) -> tuple[dict, dict]:
    """The object's data by mime type, and its metadata, as IPython's formatter makes them."""
    data: dict = {}
    metadata: dict = {}
    if not isinstance(obj, type):
        method = getattr(obj, "_repr_mimebundle_", None)
        if callable(method):
            found = _call(method, include=None, exclude=None)
            if isinstance(found, tuple) and len(found) == 2:
                found, more = found
                metadata.update(more if isinstance(more, dict) else {})
            if isinstance(found, dict):
                data.update({k: _encoded(k, v) for k, v in found.items()})
        for name, mime in REPR_METHODS:
            method = getattr(obj, name, None)
            if mime in data or not callable(method):
                continue
            value = _call(method)
            if isinstance(value, tuple) and len(value) == 2:
                value, more = value
                metadata[mime] = more
            if value is not None:
                data[mime] = _encoded(mime, value)
    if "text/plain" not in data:
        data["text/plain"] = _plain(obj)
    return data, metadata


def _call(method: object, **kwargs: object) -> object:
    try:
        return method(**kwargs)  # type: ignore[operator]
    except Exception as exc:  # IPython too skips a formatter that fails, saying so
        print(f"display: {getattr(method, '__name__', 'a repr')} failed: {exc!r}", file=sys.stderr)
        return None


def _encoded(mime: str, value: object) -> object:
    if mime in BINARY and isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return value


def _plain(obj: object) -> str:
    try:
        return repr(obj)
    except Exception as exc:
        return f"<{type(obj).__name__} whose repr failed: {exc!r}>"


def send(bundle: dict) -> None:
    if _fd is None:
        return
    try:
        body = json.dumps(bundle, allow_nan=False, default=str).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        print(f"display: the result is not JSON ({exc})", file=sys.stderr)
        return
    data = struct.pack(">I", len(body)) + body
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(_fd, view) :]
    except OSError as exc:
        print(f"display: the result could not be sent ({exc})", file=sys.stderr)


def show_open_figures() -> None:
    """At the run's end: figures still open are shown, as Jupyter's inline backend does."""
    backend = sys.modules.get(BACKEND_MODULE)
    if backend is not None:
        backend.show()


# --- matplotlib and IPython ------------------------------------------------------------
class _Hook(importlib.abc.MetaPathFinder):
    """Finds the matplotlib backend beside this file; when the code imports IPython's
    display functions, they become ours."""

    def find_spec(self, name: str, path: object, target: object = None) -> object:
        if name == BACKEND_MODULE:
            location = os.path.join(AGENT_DIR, f"{BACKEND_MODULE}.py")
            return importlib.util.spec_from_file_location(name, location)
        if name not in IPYTHON_DISPLAY_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(name, path, target)  # type: ignore[attr-defined]
            if spec is not None and spec.loader is not None:
                spec.loader = _Patching(spec.loader)
                return spec
        return None


class _Patching(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> object:
        return self.loader.create_module(spec)

    def exec_module(self, module: object) -> None:
        self.loader.exec_module(module)  # type: ignore[arg-type]
        module.display = display  # type: ignore[attr-defined]

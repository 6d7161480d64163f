"""Code for playground runs that make results and files, shared by the UI tests."""

# A PNG made by the run itself (no image library in the base image): png(w, h, rgb).
MAKE_PNG = """
import struct, zlib
def png(width, height, rgb):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
"""

ORANGE = (224, 165, 38)
PNG_RESULT = (
    MAKE_PNG
    + f"""
class Picture:
    def _repr_png_(self):
        return png(160, 90, {ORANGE})
    def __repr__(self):
        return "An orange rectangle"
print("drawn")
display(Picture())
"""
)

# One of each kind of result, each wider than a phone, and files the run writes.
WIDE = "a-long-word-without-any-space-" * 6
EVERY_KIND = (
    MAKE_PNG
    + f"""
print("every kind of result, {WIDE}")
class Picture:
    def _repr_png_(self):
        return png(1200, 120, (11, 99, 196))
    def __repr__(self):
        return "A wide blue band"
display(Picture())
cells = "".join(f"<td>column {{i}} {WIDE}</td>" for i in range(8))
display({{"text/html": f"<table><tr>{{cells}}</tr></table>", "text/plain": "a wide table"}}, raw=True)
display({{"image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg" width="900" height="60">'
          '<rect width="900" height="60" fill="#1a7f37"/></svg>', "text/plain": "A green band"}}, raw=True)
display({{"text/markdown": "## Notes\\n\\n| a | b |\\n|---|---|\\n| {WIDE} | {WIDE} |\\n\\n`{WIDE}`"}}, raw=True)
display({{"application/json": {{"name": "{WIDE}", "nested": {{"list": [1, 2, 3], "ok": True}}}}}}, raw=True)
display({{"text/latex": r"$\\int_0^1 x^2 \\, dx = \\frac{{1}}{{3}}$ {WIDE}"}}, raw=True)
import os
os.makedirs("out", exist_ok=True)
open("out/{WIDE}.txt", "w").write("wide\\n")
open("chart.png", "wb").write(png(640, 80, (198, 40, 40)))
"""
)

"""matplotlib's backend in a sandbox (MPLBACKEND=module://sandpit_mpl): Agg's canvas,
and a show() that makes each open figure a PNG result (display.py) and closes it, as
Jupyter's inline backend does."""

import base64
import io
import sys

from matplotlib import pyplot
from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args: object, **kwargs: object) -> None:
    send = sys.modules["sandpit_display"].send
    for manager in Gcf.get_all_fig_managers():
        figure = manager.canvas.figure
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        width, height = figure.get_size_inches() * figure.dpi
        axes = len(figure.axes)
        send(
            {
                "data": {
                    "image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
                    "text/plain": f"<Figure size {width:g}x{height:g} with {axes} Axes>",
                },
                "metadata": {},
            }
        )
    pyplot.close("all")

"""The phone histogram before and after sample selection, like CRAN's Fig. 3.

Two stacked bar charts over the 39 phones (PHONES order, every phone labelled),
with a dashed line at the uniform level each panel would have if all phones were
equally frequent. Rendered with matplotlib's Agg canvas directly (no pyplot, no
global backend switch), so it works headless and inside workers.
"""

from __future__ import annotations

import io
from typing import Protocol

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from avprep.phonetics.phoneset import PHONES


class PlottedSelection(Protocol):
    """What the figure needs of a selection (:class:`avprep.selection.SelectionResult` has
    it). Declared here instead of imported: ``avprep.selection`` imports this module to
    write ``selection.png``, so importing it back would make an import circle."""

    hist_before: np.ndarray
    hist_after: np.ndarray

    def figure_titles(self) -> tuple[str, str]: ...


def selection_figure(
    hist_before: np.ndarray,
    hist_after: np.ndarray,
    title_before: str = "(a) before selection",
    title_after: str = "(b) after selection",
    log_scale: bool = False,
) -> Figure:
    """Build the two-panel figure (returned unrendered, so tests can inspect it)."""
    fig = Figure(figsize=(14, 8), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    x = np.arange(len(PHONES))
    axes = fig.subplots(2, 1)
    for ax, hist, title, color in (
        (axes[0], hist_before, title_before, "#4C72B0"),
        (axes[1], hist_after, title_after, "#DD8452"),
    ):
        counts = np.asarray(hist, dtype=np.float64)
        ax.bar(x, counts, width=0.8, color=color)
        total = counts.sum()
        if total > 0:
            ax.axhline(
                total / len(PHONES), color="0.3", linestyle="--", linewidth=1, label="uniform"
            )
            ax.legend(loc="upper right", fontsize=9)
        ax.set_xticks(x)
        ax.set_xticklabels(PHONES, fontsize=9)
        ax.set_xlim(-0.6, len(PHONES) - 0.4)
        ax.set_ylabel("phone occurrences")
        ax.set_title(title, fontsize=11)
        if log_scale:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    axes[1].set_xlabel("phone (ARPAbet)")
    return fig


def figure_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.canvas.print_png(buf)
    return buf.getvalue()


def render_selection_png(result: PlottedSelection, log_scale: bool = False) -> bytes:
    """PNG bytes of the before/after figure for a selection result."""
    before, after = result.figure_titles()
    fig = selection_figure(result.hist_before, result.hist_after, before, after, log_scale)
    return figure_png(fig)

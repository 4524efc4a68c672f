"""The suite's one plotting style: small, legible figures that read the same everywhere."""
from __future__ import annotations

import matplotlib as mpl

STYLE = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "font.size": 10,
    "lines.linewidth": 1.6,
    "savefig.bbox": "tight",
    "axes.prop_cycle": mpl.cycler(color=["#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                         "#E69F00", "#56B4E9", "#000000"]),
}



def use_style() -> None:
    """Apply the suite's style to matplotlib (Okabe-Ito colours, light grid)."""
    mpl.rcParams.update(STYLE)

"""PNG maps: one parameter over the scan, with a colour bar in its unit (angstrom for R) and a scale bar
in the navigation axes' unit. Masked pixels are left blank (grey)."""

from __future__ import annotations

import numpy as np

from .pixels import MASK_NAMES


def _nice_length(span: float) -> float:
    """A round length (1, 2 or 5 times a power of ten) near a fifth of ``span``."""
    target = max(span / 5.0, 1e-12)
    power = 10 ** np.floor(np.log10(target))
    return float(min((1, 2, 5, 10), key=lambda m: abs(m * power - target)) * power)


def save_map_png(result, name: str, path) -> str:
    """Write the map of ``name`` to ``path`` (PNG) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .result import unit_of

    values = np.asarray(result[name], float)
    axes = result.nav_axes  # HyperSpy order: x first
    img = values if values.ndim == 2 else values.reshape(1, -1)
    x = axes[0]
    y = axes[1] if len(axes) > 1 else {"offset": 0.0, "scale": x["scale"] * max(img.shape[1] / 12, 1), "units": ""}
    extent = [x["offset"] - 0.5 * x["scale"], x["offset"] + (img.shape[1] - 0.5) * x["scale"],
              y["offset"] + (img.shape[0] - 0.5) * y["scale"], y["offset"] - 0.5 * y["scale"]]
    fig, ax = plt.subplots(figsize=(6, 4.5 if values.ndim == 2 else 2.2))
    codes = len(MASK_NAMES) + 1
    if name == "mask":
        cmap = matplotlib.colors.ListedColormap(matplotlib.colormaps["tab10"].colors[:codes])
    else:
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")
    shown = ax.imshow(np.ma.masked_invalid(img), extent=extent, cmap=cmap, interpolation="nearest",
                      aspect="equal" if values.ndim == 2 else "auto",
                      **({"vmin": -0.5, "vmax": codes - 0.5} if name == "mask" else {}))
    unit = unit_of(name)
    bar = fig.colorbar(shown, ax=ax)
    if name == "mask":
        bar.set_ticks([0] + list(MASK_NAMES))
        bar.set_ticklabels(["answered"] + [v.replace("_", " ") for v in MASK_NAMES.values()])
    else:
        bar.set_label(f"{name} ({unit})" if unit else name)
    # scale bar along x in the navigation unit
    span = abs(extent[1] - extent[0])
    length = _nice_length(span)
    x0 = min(extent[0], extent[1]) + 0.05 * span
    yb = extent[2] - 0.08 * abs(extent[2] - extent[3])
    ax.plot([x0, x0 + length], [yb, yb], color="white", lw=4, solid_capstyle="butt")
    ax.plot([x0, x0 + length], [yb, yb], color="black", lw=2, solid_capstyle="butt")
    ax.text(x0 + length / 2, yb - 0.04 * abs(extent[2] - extent[3]), f"{length:g} {x['units'] or '(axis units)'}",
            ha="center", va="bottom", fontsize=8, color="black",
            bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1})
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{result.setup.plan.edge} {name} ({result.setup.method})")
    fig.tight_layout()
    fig.savefig(str(path), dpi=100)
    plt.close(fig)
    return str(path)

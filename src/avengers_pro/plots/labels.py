"""A small deterministic label-repel for the scatter figures.

:func:`place_labels` keeps model labels off each other, off the plotted points and lines and inside
the axes, with a leader line when a label had to move away from its point.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

from avengers_pro.plots.style import LABEL_FONTSIZE, MARKER_SIZE_PT, renderer_of

# --------------------------------------------------------------------------- label placement

_ANGLES = np.deg2rad(
    np.array([0, 180, 90, 270, 45, 315, 135, 225, 22.5, 337.5, 157.5, 202.5, 67.5, 112.5, 247.5, 292.5])
)
_RADII_PT = (2.0, 5.0, 9.0, 14.0, 20.0, 27.0, 35.0, 45.0, 57.0)

# Costs of a candidate label position, per pixel² of overlap (or per pixel, or per event). Their
# order is what matters: a label on another label is unreadable, so that costs most; one outside the
# axes is cut off; a leader line crossing another leader or running through a label confuses whose
# label is whose; covering the legend or another model's marker hides data; sitting nearer another
# marker than its own misleads; covering a line or a sweep point only clutters; and among equally
# clean places the one nearest its point wins.
COST_ON_LABEL = 1e4
COST_OUTSIDE_AXES = 1e3
COST_LEADER_CROSSES_LEADER = 5e3
COST_LEADER_THROUGH_LABEL = 5e3
COST_LEADER_OVER_MARKER = 2e2
COST_ON_LEGEND = 3e2
COST_NEARER_OTHER_MARKER = 2e2
#: A visible leader line says whose label it is, so being nearer another marker weighs less there.
LEADER_AMBIGUITY_DISCOUNT = 0.3
COST_ON_MARKER = 2e1
COST_ON_LEADER = 2e1
COST_ON_OBSTACLE = 2.0
COST_PER_POINT_OF_DISTANCE = 3.0


def _overlap(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Summed intersection area of each box (m, 4) with all ``others`` (n, 4); boxes are x0, y0, x1, y1."""
    if len(others) == 0:
        return np.zeros(len(boxes))
    width = np.minimum(boxes[:, None, 2], others[None, :, 2]) - np.maximum(boxes[:, None, 0], others[None, :, 0])
    height = np.minimum(boxes[:, None, 3], others[None, :, 3]) - np.maximum(boxes[:, None, 1], others[None, :, 1])
    return (np.clip(width, 0, None) * np.clip(height, 0, None)).sum(axis=1)


def _segments_cross(a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """(m, n) mask: segment a0[i]-a1[i] properly crosses segment b0[j]-b1[j] (all in pixels)."""
    if len(b0) == 0:
        return np.zeros((len(a0), 0), dtype=bool)

    def side(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        return np.sign(
            (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])
        )

    p0, p1, q0, q1 = a0[:, None, :], a1[:, None, :], b0[None, :, :], b1[None, :, :]
    return (side(p0, p1, q0) * side(p0, p1, q1) < 0) & (side(q0, q1, p0) * side(q0, q1, p1) < 0)


def _box_distance(boxes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(m, n) distances from each (m, 4) box to each (n, 2) point; 0 for a point inside the box."""
    dx = np.maximum.reduce(
        [
            boxes[:, None, 0] - points[None, :, 0],
            np.zeros((len(boxes), len(points))),
            points[None, :, 0] - boxes[:, None, 2],
        ]
    )
    dy = np.maximum.reduce(
        [
            boxes[:, None, 1] - points[None, :, 1],
            np.zeros((len(boxes), len(points))),
            points[None, :, 1] - boxes[:, None, 3],
        ]
    )
    return np.hypot(dx, dy)


def _points_in_boxes(samples: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """For (m, s, 2) sample points, how many of each row's samples fall inside any of the (n, 4) boxes."""
    if len(boxes) == 0:
        return np.zeros(len(samples))
    x, y = samples[..., 0][..., None], samples[..., 1][..., None]
    inside = (x >= boxes[:, 0]) & (x <= boxes[:, 2]) & (y >= boxes[:, 1]) & (y <= boxes[:, 3])
    return inside.any(axis=-1).sum(axis=1)


def place_labels(
    ax: Axes,
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    labels: Sequence[str],
    *,
    obstacles: np.ndarray | None = None,
    avoid: Sequence[Bbox] = (),
    italic: Sequence[bool] | None = None,
    fontsize: float = LABEL_FONTSIZE,
    marker_size_pt: float = MARKER_SIZE_PT,
) -> list[Annotation]:
    """Label points without overlaps: a greedy, deterministic label-repel.

    Call it after the layout and the axis limits are final (the plot functions call
    :func:`_freeze_layout` first). Each label tries 16 directions at growing distances from its
    point and takes the cheapest position, where the cost weighs, from worst to mildest: overlap with
    a label already placed, lying outside the axes, overlap with a box in ``avoid`` (a legend),
    overlap with a labelled point, overlap with an obstacle point, and the distance moved. Labels are
    placed most-crowded first. A label set away from its point gets a thin leader line.

    Parameters
    ----------
    ax
        The axes, with its final layout and limits.
    x, y
        Data coordinates of the labelled points.
    labels
        One text per point.
    obstacles
        Extra (n, 2) data points to keep clear of (other markers, samples along lines).
    avoid
        Display-space boxes to keep clear of (legends).
    italic
        Per label, whether to set it in italics (reference methods).
    fontsize
        Label size in points.
    marker_size_pt
        Diameter of the labelled markers in points.

    Returns
    -------
    list of matplotlib.text.Annotation
        The placed labels, in the order of ``labels``.
    """
    fig = ax.figure
    renderer = renderer_of(fig)
    px_per_pt = fig.dpi / 72.0
    points = ax.transData.transform(np.column_stack([np.asarray(x, float), np.asarray(y, float)]))
    italic = [False] * len(labels) if italic is None else list(italic)

    half_marker = marker_size_pt * px_per_pt / 2
    point_boxes = np.column_stack([points - half_marker, points + half_marker])
    if obstacles is not None and len(obstacles):
        obstacle_px = ax.transData.transform(np.asarray(obstacles, float))
        obstacle_px = obstacle_px[np.isfinite(obstacle_px).all(axis=1)]
        obstacle_boxes = np.column_stack([obstacle_px - 1.5 * px_per_pt, obstacle_px + 1.5 * px_per_pt])
    else:
        obstacle_boxes = np.zeros((0, 4))
    avoid_boxes = np.array([[b.x0, b.y0, b.x1, b.y1] for b in avoid]).reshape(-1, 4)
    axes_box = ax.get_window_extent(renderer)

    sizes = []
    for label, slanted in zip(labels, italic):
        probe = ax.text(0, 0, label, fontsize=fontsize, style="italic" if slanted else "normal")
        extent = probe.get_window_extent(renderer)
        probe.remove()
        sizes.append((extent.width + 2.0, extent.height + 1.0))  # a hair of padding between labels

    # candidate anchors: every (radius, angle); alignment follows the direction so the box grows away
    radii = np.array(_RADII_PT) * px_per_pt + half_marker
    radius_grid, angle_grid = np.meshgrid(radii, _ANGLES, indexing="ij")
    radius_flat, angle_flat = radius_grid.ravel(), angle_grid.ravel()
    cos, sin = np.cos(angle_flat), np.sin(angle_flat)
    # anchors on a square ring rather than a circle, so a diagonal label clears the marker's corner
    ring = np.maximum(np.abs(cos), np.abs(sin))
    cos, sin = cos / ring, sin / ring
    frac_x = np.where(cos > 0.3, 0.0, np.where(cos < -0.3, 1.0, 0.5))  # share of the width left of the anchor
    frac_y = np.where(sin > 0.3, 0.0, np.where(sin < -0.3, 1.0, 0.5))
    tie_break = np.arange(len(radius_flat)) * 1e-6

    has_leader = radius_flat > radii[0] + 1e-9
    leader_t = np.linspace(0.0, 1.0, 33)

    def greedy(order: Sequence[int]) -> tuple[float, dict[int, tuple[float, float, float, float, bool]]]:
        """Place the labels one by one in ``order``; return the summed cost and the chosen offsets."""
        placed = np.zeros((0, 4))
        leader_starts = np.zeros((0, 2))
        leader_ends = np.zeros((0, 2))
        leader_boxes = np.zeros((0, 4))
        chosen: dict[int, tuple[float, float, float, float, bool]] = {}
        total = 0.0
        for i in order:
            width, height = sizes[i]
            anchor_x = points[i, 0] + radius_flat * cos
            anchor_y = points[i, 1] + radius_flat * sin
            x0 = anchor_x - frac_x * width
            y0 = anchor_y - frac_y * height
            boxes = np.column_stack([x0, y0, x0 + width, y0 + height])
            inside_w = np.clip(np.minimum(boxes[:, 2], axes_box.x1) - np.maximum(boxes[:, 0], axes_box.x0), 0, None)
            inside_h = np.clip(np.minimum(boxes[:, 3], axes_box.y1) - np.maximum(boxes[:, 1], axes_box.y0), 0, None)
            outside = width * height - inside_w * inside_h
            others = np.delete(point_boxes, i, axis=0)
            # a leader line runs from the point to the label's centre (where matplotlib aims it); it
            # must not cross another leader, run through a label or pass over another point
            centres = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2])
            starts = np.broadcast_to(points[i], centres.shape)
            samples = starts[:, None, :] + (centres - starts)[:, None, :] * leader_t[None, :, None]
            # the stretch over the labelled point's own marker does not count (moved far off-screen)
            own = np.hypot(*(samples - points[i]).transpose(2, 0, 1)) < 1.3 * half_marker
            samples = np.where(own[..., None], -1e9, samples)
            leader_cost = (
                COST_LEADER_CROSSES_LEADER * _segments_cross(starts, centres, leader_starts, leader_ends).sum(axis=1)
                + COST_LEADER_THROUGH_LABEL * _points_in_boxes(samples, placed)
                + COST_LEADER_OVER_MARKER * _points_in_boxes(samples, others)
            )
            # a label nearer another model's marker than its own reads as that model's label
            own_gap = _box_distance(boxes, points[i : i + 1])[:, 0]
            other_points = np.delete(points, i, axis=0)
            nearest_other = _box_distance(boxes, other_points).min(axis=1) if len(other_points) else np.inf
            ambiguous = np.clip(own_gap - nearest_other + 3 * px_per_pt, 0, None)
            ambiguous = np.where(radius_flat > radii[1] + 1e-9, LEADER_AMBIGUITY_DISCOUNT, 1.0) * ambiguous
            cost = (
                COST_ON_LABEL * _overlap(boxes, placed)
                + COST_NEARER_OTHER_MARKER * ambiguous
                + COST_OUTSIDE_AXES * outside
                + COST_ON_LEGEND * _overlap(boxes, avoid_boxes)
                + COST_ON_MARKER * _overlap(boxes, others)
                + COST_ON_LEADER * _overlap(boxes, leader_boxes)
                + COST_ON_OBSTACLE * _overlap(boxes, obstacle_boxes)
                + np.where(has_leader, leader_cost, 0.0)
                + COST_PER_POINT_OF_DISTANCE * (radius_flat - radii[0])
                + tie_break
            )
            best = int(np.argmin(cost))
            total += float(cost[best])
            placed = np.vstack([placed, boxes[best]])
            if has_leader[best]:
                leader_starts = np.vstack([leader_starts, points[i]])
                leader_ends = np.vstack([leader_ends, centres[best]])
                leader_boxes = np.vstack(
                    [
                        leader_boxes,
                        np.column_stack([samples[best] - 0.5 * px_per_pt, samples[best] + 0.5 * px_per_pt]),
                    ]
                )
            chosen[i] = (
                anchor_x[best] - points[i, 0],
                anchor_y[best] - points[i, 1],
                frac_x[best],
                frac_y[best],
                bool(has_leader[best]),
            )
        return total, chosen

    # greedy placement depends on the order; a few fixed orders are tried and the cheapest layout
    # kept (crowded points first, then top-down, bottom-up, left-right, right-left, least crowded first)
    near = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1)) < 40 * px_per_pt
    crowding = near.sum(axis=1)
    indices = range(len(labels))
    crowded_first = sorted(indices, key=lambda i: (-crowding[i], points[i, 0], points[i, 1], labels[i]))
    orders = [
        crowded_first,
        sorted(indices, key=lambda i: (-points[i, 1], points[i, 0])),
        sorted(indices, key=lambda i: (points[i, 1], points[i, 0])),
        sorted(indices, key=lambda i: (points[i, 0], points[i, 1])),
        sorted(indices, key=lambda i: (-points[i, 0], points[i, 1])),
        crowded_first[::-1],
    ]
    layouts = [greedy(order) for order in orders]
    chosen = min(layouts, key=lambda layout: layout[0])[1]  # min keeps the first of equal costs

    horizontal = {0.0: "left", 0.5: "center", 1.0: "right"}
    vertical = {0.0: "bottom", 0.5: "center", 1.0: "top"}
    annotations = []
    for i, label in enumerate(labels):
        dx, dy, fx, fy, leader = chosen[i]
        arrow = (
            dict(arrowstyle="-", color="#555555", lw=0.45, shrinkA=0.0, shrinkB=marker_size_pt / 2 + 0.3)
            if leader
            else None
        )
        annotations.append(
            ax.annotate(
                label,
                xy=(float(np.asarray(x, float)[i]), float(np.asarray(y, float)[i])),
                xytext=(dx / px_per_pt, dy / px_per_pt),
                textcoords="offset points",
                ha=horizontal[float(fx)],
                va=vertical[float(fy)],
                fontsize=fontsize,
                style="italic" if italic[i] else "normal",
                color="#222222",
                # a faint white box keeps a label legible where it crosses a line or sweep markers
                bbox=dict(boxstyle="square,pad=0.05", facecolor="white", edgecolor="none", alpha=0.75),
                arrowprops=arrow,
                annotation_clip=False,
                zorder=6,
            )
        )
    return annotations


def _line_samples(ax: Axes, xs: np.ndarray, ys: np.ndarray, step_px: float = 4.0) -> np.ndarray:
    """Data points every ``step_px`` pixels along a polyline, so labels can keep off the line."""
    pixels = ax.transData.transform(np.column_stack([xs, ys]))
    samples = [pixels[:1]]
    for start, end in zip(pixels[:-1], pixels[1:]):
        count = max(int(np.hypot(*(end - start)) / step_px), 1)
        samples.append(start + (end - start) * np.linspace(0, 1, count + 1)[1:, None])
    return ax.transData.inverted().transform(np.vstack(samples))

"""Layout helpers that keep the dock usable on a laptop screen: tab pages that scroll, compact margins."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QFrame,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

#: The dock's width (px) when it opens: the forms fit, and a 1280 px wide window keeps more than
#: half of its width for the canvas (napari's own layer dock takes about 310 px). Wider by dragging.
DOCK_WIDTH = 285
#: The least width of an editor (px): long names and choices do not widen the dock.
EDITOR_MIN_WIDTH = 50


def scrolling(page: QWidget) -> QVBoxLayout:
    """Make ``page`` a vertical scroll area; return the layout of its content.

    The page's height then never forces the dock (and napari's window) to grow, and a 720 px high
    screen shows every tab, scrolling where needed.
    """
    outer = QVBoxLayout(page)
    outer.setContentsMargins(0, 0, 0, 0)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    inner = QWidget()
    layout = QVBoxLayout(inner)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.setSpacing(6)
    scroll.setWidget(inner)
    outer.addWidget(scroll)
    return layout


def narrow(root: QWidget) -> None:
    """Let the editors under ``root`` shrink to the dock's width: combo boxes no wider than about
    six characters (their lists still show every choice in full), spin boxes and text fields
    down to :data:`EDITOR_MIN_WIDTH`."""
    for combo in root.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(6)
    for kind in (QAbstractSpinBox, QLineEdit):
        for editor in root.findChildren(kind):
            editor.setMinimumWidth(EDITOR_MIN_WIDTH)
    # napari's style sheet gives spin boxes a 70 px least width (plus padding): ours, under it, wins
    rule = f"QAbstractSpinBox {{ min-width: {EDITOR_MIN_WIDTH - 20}px; }}"
    if rule not in root.styleSheet():
        root.setStyleSheet(root.styleSheet() + rule)

"""The widgets of notebook 07's interactive demo: ipywidgets sliders, an ipycanvas drawing surface and
one image per model, wired to a :class:`~inpainting.teaching.demo.Demo` (the state and the
computations, tested without a browser). Headless (papermill) the notebook drives the same
callbacks with fixed values (:meth:`DemoUI.set_values`, :meth:`DemoUI.stroke`, the training
button's ``click()``)."""
from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np

from .demo import Column, Demo, missing_message, train_tiny


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """PNG of a uint8 (H, W, 3) image, each pixel drawn as a ``scale`` x ``scale`` block."""
    from PIL import Image
    if scale > 1:
        image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="png")
    return buf.getvalue()


class DemoUI:
    """Widgets over a :class:`Demo`. ``widget`` is the box to display.

    Controls: dataset, image index (0 .. test-set size - 1), rectangle (top, left, height, width; 0
    height or width = no rectangle), brush width, "Clear strokes", and the canvas, on which a drag
    paints a free-hand stroke. Each change recomputes every completion and its hole metrics.
    CSS classes (``inpainting-demo-*``) name the parts for the browser test.
    """

    DISPLAY_PX = 256     # canvas side on screen
    TILE_PX = 128        # completion side on screen

    def __init__(self, demo: Demo):
        import ipywidgets as w
        from ipycanvas import Canvas

        self.demo = demo
        s = demo.size
        self.scale = max(1, self.DISPLAY_PX // s)
        self.tile_scale = max(1, self.TILE_PX // s)
        self.updates = 0
        self._drawing: list[tuple[float, float]] | None = None
        self._quiet = False
        self._tiles: list[tuple[str, Any, Any]] = []

        def slider(value, lo, hi, desc, cls):
            sl = w.IntSlider(value=value, min=lo, max=hi, description=desc, continuous_update=False,
                             style={"description_width": "70px"}, layout=w.Layout(width="300px"))
            sl.add_class(f"inpainting-demo-{cls}")
            return sl

        top, left, height, width = demo.rect
        self.role = w.Dropdown(options=list(demo.datasets), value=demo.role, description="dataset",
                               style={"description_width": "70px"}, layout=w.Layout(width="300px"))
        self.role.add_class("inpainting-demo-role")
        self.index = slider(demo.index, 0, demo.test_size() - 1, "image", "index")
        self.top = slider(top, 0, s - 1, "top", "top")
        self.left = slider(left, 0, s - 1, "left", "left")
        self.height = slider(height, 0, s, "height", "height")
        self.width = slider(width, 0, s, "width", "width")
        self.brush = slider(demo.brush, 1, max(2, s // 4), "brush", "brush")
        self.clear = w.Button(description="Clear strokes", icon="eraser")
        self.clear.add_class("inpainting-demo-clear")
        self.train_button = w.Button(description="Quick tiny training", icon="play",
                                     button_style="warning", layout=w.Layout(width="220px"))
        self.train_button.add_class("inpainting-demo-train")
        self.hole_label = w.HTML()
        self.hole_label.add_class("inpainting-demo-hole")
        self.status = w.HTML()
        self.status.add_class("inpainting-demo-status")
        self.log = w.Output()
        self.canvas = Canvas(width=s * self.scale, height=s * self.scale,
                             layout=w.Layout(width=f"{s * self.scale}px", height=f"{s * self.scale}px"))
        self.canvas.add_class("inpainting-demo-canvas")
        self.tiles = w.Box(layout=w.Layout(display="flex", flex_flow="row wrap"))
        self.tiles.add_class("inpainting-demo-tiles")

        for control in (self.index, self.top, self.left, self.height, self.width):
            control.observe(self._on_change, names="value")
        self.role.observe(self._on_role, names="value")
        self.brush.observe(self._on_brush, names="value")
        self.clear.on_click(self._on_clear)
        self.train_button.on_click(self._on_train)
        self.canvas.on_mouse_down(self._on_mouse_down)
        self.canvas.on_mouse_move(self._on_mouse_move)
        self.canvas.on_mouse_up(self._on_mouse_up)
        self.canvas.on_mouse_out(self._on_mouse_up)

        help_text = w.HTML("<b>Draw on the image</b> (drag) to add a free-hand hole; the sliders "
                           "place a rectangle (height or width 0: none).")
        controls = w.VBox([self.role, self.index, self.top, self.left, self.height, self.width,
                           self.brush, self.clear, self.hole_label])
        self.widget = w.VBox([help_text, w.HBox([self.canvas, controls]), self.status,
                              self.train_button, self.log, self.tiles])
        self.widget.add_class("inpainting-demo")
        self.refresh()

    # ---- driving it from code (headless runs, exercises, tests): the same callbacks
    def set_values(self, **values) -> None:
        """Set controls by name (``role``, ``index``, ``top``, ``left``, ``height``, ``width``,
        ``brush``) as a user would; each change runs its callback, and the completions are
        recomputed once at the end."""
        unknown = set(values) - {"role", "index", "top", "left", "height", "width", "brush"}
        if unknown:
            raise ValueError(f"no control named {', '.join(sorted(unknown))}")
        self._quiet = True
        try:
            if "role" in values:
                self.role.value = values.pop("role")
            for name, value in values.items():
                getattr(self, name).value = value
        finally:
            self._quiet = False
        self._apply()

    def stroke(self, points: Sequence[tuple[float, float]]) -> None:
        """A drag over the canvas through ``points`` (canvas pixels, as mouse events give them)."""
        (x0, y0), *rest = points
        self._on_mouse_down(x0, y0)
        for x, y in rest:
            self._on_mouse_move(x, y)
        self._on_mouse_up(*points[-1])

    # ---- callbacks
    def _on_role(self, change) -> None:
        n = self.demo.test_size(change["new"])
        quiet, self._quiet = self._quiet, True
        try:   # the index slider spans exactly the new test set
            self.index.value = min(self.index.value, n - 1)
            self.index.max = n - 1
        finally:
            self._quiet = quiet
        if not self._quiet:
            self._apply()

    def _on_change(self, change) -> None:
        if not self._quiet:
            self._apply()

    def _apply(self) -> None:
        self.demo.select(self.role.value, self.index.value)
        self.demo.set_rect(self.top.value, self.left.value, self.height.value, self.width.value)
        self.refresh()

    def _on_brush(self, change) -> None:
        self.demo.brush = change["new"]

    def _on_clear(self, _button=None) -> None:
        self.demo.clear_strokes()
        self.refresh()

    def _on_mouse_down(self, x: float, y: float) -> None:
        self._drawing = [(x, y)]
        self._paint_dab(x, y)

    def _on_mouse_move(self, x: float, y: float) -> None:
        if self._drawing is not None:
            self._drawing.append((x, y))
            self._paint_dab(x, y)

    def _on_mouse_up(self, x: float, y: float) -> None:
        if self._drawing is None:
            return
        points, self._drawing = self._drawing, None
        self.demo.add_stroke([(px / self.scale, py / self.scale) for px, py in points])
        self.refresh()

    def _paint_dab(self, x: float, y: float) -> None:
        """Instant feedback while dragging (the hole is recomputed when the drag ends)."""
        self.canvas.fill_style = "white"
        self.canvas.fill_circle(x, y, self.demo.brush * self.scale / 2)

    def _on_train(self, _button=None) -> None:
        self.train_button.disabled = True
        self.status.value = "<i>Training the full model with a tiny budget…</i>"
        try:
            with self.log:
                train_tiny(self.demo.profile, self.demo.role)
        finally:
            self.train_button.disabled = False
        self.demo.refresh_models()
        self.refresh()

    # ---- drawing the state
    def refresh(self) -> None:
        import ipywidgets as w
        from ipycanvas import hold_canvas
        demo = self.demo
        with hold_canvas(self.canvas):
            self.canvas.clear()
            self.canvas.put_image_data(np.repeat(np.repeat(demo.masked_input(), self.scale, 0),
                                                 self.scale, 1), 0, 0)
        mask = demo.mask()
        self.hole_label.value = (f"hole: <b>{int(mask.sum())}</b> px "
                                 f"({demo.hole_fraction():.1%} of the image)")
        models = demo.models()
        if models:
            self.status.value = (f"{len(models)} trained model(s) of profile "
                                 f"<code>{demo.profile.name}</code>; hole metrics against the "
                                 "ground truth (canonical protocol: composite, uint8, SSIM on the "
                                 "hole's bounding box).")
            self.train_button.layout.display = "none"
        else:
            self.status.value = f"<b>{missing_message(demo.profile, demo.role)}</b>"
            self.train_button.layout.display = None
        columns = [Column("ground truth", demo.ground_truth())] + demo.columns()
        names = [c.name for c in columns]
        if names != [name for name, _, _ in self._tiles]:
            for box in self.tiles.children:
                box.close()
            for _, img, caption in self._tiles:
                img.close()
                caption.close()
            self._tiles = []
            for col in columns:
                img = w.Image(format="png", layout=w.Layout(width=f"{demo.size * self.tile_scale}px"))
                img.add_class("inpainting-demo-truth" if col.name == "ground truth"
                              else "inpainting-demo-completion")
                caption = w.HTML()
                caption.add_class("inpainting-demo-metrics")
                self._tiles.append((col.name, img, caption))
            self.tiles.children = [w.VBox([img, caption], layout=w.Layout(margin="4px"))
                                   for _, img, caption in self._tiles]
        grey = np.full((demo.size, demo.size, 3), 200, np.uint8)
        for col, (_, img, caption) in zip(columns, self._tiles):
            img.value = png_bytes(grey if col.image is None else col.image, self.tile_scale)
            caption.value = (f"<div style='width:{demo.size * self.tile_scale}px;font-size:11px;"
                             f"line-height:1.3'><b>{col.name}</b><br>{col.caption()}</div>")
        self.updates += 1

"""docs/exports/overview.png: one picture per format as its outside runtime played it, taken
from the export tests' side-by-side pictures (first run them with
`DIGIGAMI_SHOTS=docs/exports .venv/bin/python -m pytest tests/export`).

    .venv/bin/python -m tests.export.make_overview"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "exports"
CELL = 200
# (label, shot, the runtime's panel as (column, row, columns, rows) of the shot)
PANELS = [
    ("PNG · Chromium", "raster_png.png", (0, 0, 2, 1)),
    ("GIF · Chromium", "raster_gif.png", (0, 0, 2, 1)),
    ("APNG · Chromium", "raster_apng.png", (0, 0, 2, 1)),
    ("WebM · Chromium", "webm_chromium.png", (0, 0, 2, 1)),
    ("Spritesheet · PixiJS", "spritesheet-pixi.png", (0, 0, 2, 1)),
    ("SVG · Chromium", "svg.png", (0, 0, 3, 1)),
    ("SVG · cairosvg", "svg.png", (1, 0, 3, 1)),
    ("Lottie · lottie-web", "lottie_walk.png", (0, 0, 3, 1)),
    ("Lottie · rlottie", "lottie_walk.png", (1, 0, 3, 1)),
    ("glTF · three.js", "gltf_threejs_vs_ours.png", (2, 0, 8, 2)),
    ("Spine · bone model", "spine-wave-30.png", (0, 0, 2, 1)),
    ("Discord sticker", "preset_discord_sticker.png", (0, 0, 2, 1)),
    ("our renderer", "raster_png.png", (1, 0, 2, 1)),
]


def main() -> None:
    cols = 5
    rows = (len(PANELS) + cols - 1) // cols
    out = Image.new("RGB", (cols * CELL, rows * (CELL + 22)), (236, 236, 240))
    draw = ImageDraw.Draw(out)
    for i, (label, shot, (c, r, nc, nr)) in enumerate(PANELS):
        img = Image.open(SHOTS / shot).convert("RGB")
        w, h = img.width // nc, img.height // nr
        panel = img.crop((c * w, r * h, (c + 1) * w, (r + 1) * h)).resize(
            (CELL, CELL), Image.LANCZOS
        )
        x, y = (i % cols) * CELL, (i // cols) * (CELL + 22)
        out.paste(panel, (x, y + 22))
        draw.text((x + 6, y + 5), label, fill=(20, 20, 30))
    out.save(SHOTS / "overview.png", optimize=True)
    print(f"wrote {SHOTS / 'overview.png'}")


if __name__ == "__main__":
    main()

"""The contact sheet of every style on every test photo: rows are photos, columns the
aligned crop and the four styles. Run: .venv/bin/python -m tests.style.make_sheet [out.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.style import STYLES, generate
from engine.style.face import process_face
from tests.photos import PHOTOS

OUT = Path(__file__).resolve().parents[2] / "docs" / "styles" / "contact_sheet.png"
CELL = 320
LABEL = 24


def make_sheet(out: Path = OUT) -> Path:
    cols = ["photo (aligned crop)", *STYLES]
    sheet = Image.new("RGB", (CELL * len(cols), (CELL + LABEL) * len(PHOTOS)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (name, load) in enumerate(PHOTOS.items()):
        photo = load()
        cells = [process_face(photo).crop]
        cells += [generate(photo, style).outputs["full"] for style in STYLES]
        y = row * (CELL + LABEL)
        for col, (title, cell) in enumerate(zip(cols, cells, strict=True)):
            x = col * CELL
            sheet.paste(Image.fromarray(np.asarray(cell)).resize((CELL, CELL), Image.LANCZOS),
                        (x, y + LABEL))  # fmt: skip
            draw.text((x + 6, y + 6), f"{name}: {title}", fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    return out


if __name__ == "__main__":
    print(make_sheet(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))

"""The worn-face sheet: Digi wearing every style of every test photo, each at rest, mouth
open, eyes shut, turned both ways and looking up, drawn by the GL renderer over the puppet
page's backdrop. Rows are (photo, style). Run: .venv/bin/python -m tests.face.make_sheet [out.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.render import AvatarRenderer, create_context
from engine.session import AvatarSession, Inputs
from engine.style import STYLES
from streaming.live import BACKGROUND
from tests.photos import PHOTOS
from tests.worn import worn

OUT = Path(__file__).resolve().parents[2] / "docs" / "styles" / "worn_sheet.png"
CELL = 224
LABEL = 22
POSES = {
    "rest": {},
    "mouth open": {"ParamMouthOpenY": 1.0},
    "eyes shut": {"ParamEyeLOpen": 0.0, "ParamEyeROpen": 0.0},
    "glance right": {"ParamEyeBallX": 1.0},
    "turn right": {"ParamAngleX": 30.0},
    "turn left, 'o'": {"ParamAngleX": -30.0, "ParamMouthOpenY": 0.6, "ParamO": 1.0},
    "up, smile": {"ParamAngleY": 25.0, "ParamMouthForm": 1.0, "ParamBrowLY": 1.0, "ParamBrowRY": 1.0},
    "full body": {},
}
REST = {"ParamMouthOpenY": 0.0, "ParamEyeLOpen": 1.0, "ParamEyeROpen": 1.0}


def make_sheet(out: Path = OUT) -> Path:
    rows = [(p, s) for p in PHOTOS for s in STYLES]
    sheet = Image.new("RGB", (CELL * len(POSES), (CELL + LABEL) * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    ctx = create_context()
    try:
        for r, (photo, style) in enumerate(rows):
            bundle = worn(photo, style)
            renderer = AvatarRenderer(ctx, bundle.rig, bundle.pictures(), (CELL, CELL))
            y = r * (CELL + LABEL)
            for c, (title, params) in enumerate(POSES.items()):
                session = AvatarSession(bundle, seed=1)
                session.step(0.0, Inputs(parameters={**REST, **params}))
                framing = "full" if title == "full body" else "face"
                img = renderer.render(session.pose, framing).astype(np.float64)
                rgb = img[..., :3] + np.array(BACKGROUND, float) * (1 - img[..., 3:] / 255)
                sheet.paste(Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)), (c * CELL, y + LABEL))
                draw.text((c * CELL + 6, y + 5), f"{photo} {style}: {title}", fill="black")
            renderer.release()
    finally:
        ctx.release()
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    return out


if __name__ == "__main__":
    print(make_sheet(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))

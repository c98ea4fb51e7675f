"""The likeness sheet: every test photo beside the character assembled from it (measured by
engine/likeness, assembled on Digi's rig), in three expressions and full body, a row for
each render style (engine/render/looks.py), drawn by the GL renderer over the puppet page's
backdrop, with the measured features written above it.
Run: .venv/bin/python -m tests.likeness.make_sheet [out.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.likeness.assemble import assemble
from engine.likeness.character import character_from
from engine.likeness.measure import measure
from engine.render import AvatarRenderer, create_context
from engine.render.looks import LOOK_NAMES, render_style
from engine.session import AvatarSession, Inputs
from streaming.live import BACKGROUND
from tests.photos import PHOTOS

OUT = Path(__file__).resolve().parents[2] / "docs" / "styles" / "likeness_sheet.png"
CELL = 224
LABEL = 40  # the photo's measured features
TITLE = 18  # each cell's style and expression
REST = {"ParamMouthOpenY": 0.0, "ParamEyeLOpen": 1.0, "ParamEyeROpen": 1.0}
POSES = {
    "neutral": {},
    "smile": {"ParamMouthForm": 1.0, "ParamMouthOpenY": 0.35, "ParamBrowLY": 0.6, "ParamBrowRY": 0.6},
    "surprised": {"ParamMouthOpenY": 0.9, "ParamO": 1.0, "ParamBrowLY": 1.0, "ParamBrowRY": 1.0},
    "full body": {},
}  # fmt: skip


def _over_backdrop(img: np.ndarray) -> Image.Image:
    rgb = img[..., :3].astype(np.float64) + np.array(BACKGROUND, float) * (1 - img[..., 3:] / 255)
    return Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8))


def _photo_cell(photo: np.ndarray) -> Image.Image:
    im = Image.fromarray(photo)
    im.thumbnail((CELL, CELL))
    cell = Image.new("RGB", (CELL, CELL), "white")
    cell.paste(im, ((CELL - im.width) // 2, (CELL - im.height) // 2))
    return cell


def make_sheet(out: Path = OUT) -> Path:
    cols = 1 + len(POSES)
    block = LABEL + len(LOOK_NAMES) * (CELL + TITLE)
    sheet = Image.new("RGB", (CELL * cols, block * len(PHOTOS)), "white")
    draw = ImageDraw.Draw(sheet)
    ctx = create_context()
    try:
        for r, (name, load) in enumerate(PHOTOS.items()):
            photo = load()
            m = measure(photo)
            character = character_from(m)
            bundle = assemble(character)
            renderer = AvatarRenderer(ctx, bundle.rig, bundle.pictures(), (CELL, CELL))
            top = r * block
            sheet.paste(_photo_cell(photo), (0, top + LABEL + TITLE))
            poses = {}
            for title, params in POSES.items():
                session = AvatarSession(bundle, seed=1)
                for _ in range(30):  # springs settle
                    session.advance(1 / 60, Inputs(parameters={**REST, **params}))
                poses[title] = session.pose
            # a row per render style: the same character, the same expressions
            for s, look in enumerate(LOOK_NAMES):
                y = top + LABEL + s * (CELL + TITLE)
                for c, (title, pose) in enumerate(poses.items(), start=1):
                    framing = "full" if title == "full body" else "face"
                    img = renderer.render(pose, framing, style=render_style(look))
                    sheet.paste(_over_backdrop(img), (c * CELL, y + TITLE))
                    draw.text((c * CELL + 6, y + 3), f"{look}: {title}", fill="black")
            renderer.release()
            hair = m.hair_colour.value.hex if m.hair_colour.value is not None else "none"
            draw.text(
                (6, top + 4), f"{name}: {character.hairstyle}, skin {character.skin}", fill="black"
            )
            draw.text(
                (6, top + 20),
                f"hair {m.hair_length.value}/{m.hair_texture.value}/{m.fringe.value} {hair}; "
                f"glasses {m.glasses.value}; facial hair {m.facial_hair.value}; "
                f"face {m.face_shape.value}",
                fill="black",
            )  # fmt: skip
    finally:
        ctx.release()
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    return out


if __name__ == "__main__":
    print(make_sheet(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))

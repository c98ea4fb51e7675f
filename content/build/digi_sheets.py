#!/usr/bin/env python3
"""Contact sheets of Digi, rendered with the engine's GL renderer:

    .venv/bin/python content/build/digi_sheets.py

- docs/digi/animations.png: every clip at several times (springs and sprite library live);
- docs/digi/variants.png: outfits x builds, accessories (base and winter libraries), head
  turns, eyes, mouth shapes and expressions.

Each clip is played from its start at 60 Hz on a bare pose (so idle, dance and locomotion
variants can be shown one by one), with the rig's springs stepping as in a session.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine.assets import ROOT, load_bundle  # noqa: E402
from engine.params.parameters import ParameterSet  # noqa: E402
from engine.pose.pose import Pose  # noqa: E402
from engine.pose.springs import SpringSystem  # noqa: E402
from engine.render import AvatarRenderer, create_context, load_atlas  # noqa: E402
from engine.sprites import SpriteSelection  # noqa: E402

OUT = REPO / "docs" / "digi"
BG = (118, 124, 138)
INK = (245, 245, 250)
BUST = (-125.0, 200.0, 125.0, 450.0)  # head and shoulders (engine space, square)


def font(size):
    for f in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",):
        if Path(f).exists():
            return ImageFont.truetype(f, size)
    return ImageFont.load_default()


class Stage:
    def __init__(self, size=512):
        self.ctx = create_context()
        self.bundles = {
            "base": load_bundle("digi"),
            "winter": load_bundle("digi", sprites="winter"),
        }
        rig = self.bundles["base"].rig
        self.rig = rig
        self.r = AvatarRenderer(
            self.ctx, rig, load_atlas(ROOT / "content" / "atlases" / "digi"), size=(size, size)
        )

    def pose(self, lib="base", swaps=None, params=None):
        b = self.bundles[lib]
        pose = Pose(self.rig)
        sel = SpriteSelection(b.sprites, pose)
        for c, l in (swaps or {}).items():
            sel.swap(c, l)
        ps = ParameterSet(self.rig)
        ps.update(params or {})
        return pose, ps

    def play(self, clip, times, lib="base", swaps=None, params=None, framing="full"):
        """Frames of one clip at the given times (seconds from its start)."""
        b = self.bundles[lib]
        c = b.clips[clip] if clip else None
        pose, ps = self.pose(lib, swaps, params)
        springs = SpringSystem(self.rig)
        ones_b = np.ones((len(self.rig.bones), 4))
        ones_s = np.ones(len(self.rig.slots))
        out, k, last = [], 0, max(times)
        want = sorted(times)
        while True:
            t = k / 60.0
            pose.reset()
            if c is not None:
                tt = t % c.length if c.looping else min(t, c.length)
                c.apply_bones(tt, self.rig.setup_local, pose.local, ones_b, False)
                c.apply_slots(tt, pose.slot_attachment, pose.slot_color, ones_s)
            ps.apply(pose)
            pose.update_world()
            springs.step(pose, 1 / 60.0)
            while want and t >= want[0] - 1e-9:
                want.pop(0)
                out.append(self.shot(pose, framing))
            if t >= last - 1e-9:
                break
            k += 1
        return out

    def shot(self, pose, framing="full"):
        px = self.r.render(pose, framing)
        a = px[..., 3:4].astype(np.float32) / 255.0
        rgb = px[..., :3].astype(np.float32) + np.array(BG, np.float32) * (1 - a)
        return Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8))


def grid(cells, cols, cell, title, path, label_h=22, pad=6):
    """cells: (label, [images]) groups laid out left to right, wrapping after `cols` images."""
    f, ft = font(14), font(20)
    flat = []
    for label, ims in cells:
        for i, im in enumerate(ims):
            flat.append((label if i == 0 else None, im, i == 0))
    rows = (len(flat) + cols - 1) // cols
    W = cols * (cell + pad) + pad
    H = 40 + rows * (cell + label_h + pad) + pad
    sheet = Image.new("RGB", (W, H), (54, 58, 68))
    d = ImageDraw.Draw(sheet)
    d.text((pad, 8), title, fill=INK, font=ft)
    for n, (label, im, first) in enumerate(flat):
        x = pad + (n % cols) * (cell + pad)
        y = 40 + (n // cols) * (cell + label_h + pad)
        sheet.paste(im.resize((cell, cell), Image.LANCZOS), (x, y + label_h))
        if label:
            d.text((x + 2, y + 3), label, fill=INK, font=f)
        if first:
            d.line(
                [(x, y + label_h - 2), (x + cell, y + label_h - 2)], fill=(240, 190, 90), width=2
            )
    OUT.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)
    return path


def animations(st: Stage):
    b = st.bundles["base"]
    order = (
        [
            "idle_1",
            "idle_2",
            "idle_3",
            "walk",
            "run",
            "climb",
            "swim",
            "jump",
            "fall",
            "land",
            "sit",
            "wave",
            "point",
            "cheer",
            "laugh",
        ]
        + [f"dance_{k}" for k in range(1, 10)]
        + ["toolnone", "toolslash", "toollunge"]
    )
    cells = []
    for name in order:
        c = b.clips[name]
        fr = (0.0, 0.2, 0.4, 0.6, 0.8) if c.looping else (0.0, 0.25, 0.5, 0.75, 1.0)
        times = [round(f * c.length, 3) for f in fr]
        ims = st.play(name, times)
        cells += [(f"{name}  t={times[0]:.2f}", [ims[0]])] + [
            (f"t={t:.2f}", [im]) for t, im in zip(times[1:], ims[1:], strict=False)
        ]
    return grid(
        cells,
        10,
        150,
        "Digi - animations (5 frames each, springs on; engine GL renderer)",
        OUT / "animations.png",
    )


def variants(st: Stage):
    cells = []
    for o in ("casual", "formal", "armor"):
        for bd in ("default", "muscular", "slim"):
            cells.append((f"{o} / {bd}", st.play(None, [0.0], swaps={"outfit": o, "body": bd})))
    for lib, acc in (
        ("base", "none"),
        ("base", "glasses"),
        ("base", "hat"),
        ("base", "scarf"),
        ("winter", "hat"),
        ("winter", "scarf"),
    ):
        cells.append(
            (
                f"{acc} ({lib})",
                st.play(None, [0.0], lib=lib, swaps={"accessories": acc}, framing=BUST),
            )
        )
    heads = [
        ("AngleX -30", {"ParamAngleX": -30}),
        ("AngleX +30", {"ParamAngleX": 30}),
        ("AngleY +30", {"ParamAngleY": 30}),
        ("AngleY -30", {"ParamAngleY": -30}),
        ("AngleZ +30", {"ParamAngleZ": 30}),
        ("eyes half", {"ParamEyeLOpen": 0.5, "ParamEyeROpen": 0.5}),
        ("eyes closed", {"ParamEyeLOpen": 0, "ParamEyeROpen": 0}),
        ("wink", {"ParamEyeLOpen": 0}),
        ("gaze left-down", {"ParamEyeBallX": -1, "ParamEyeBallY": -1}),
        ("brows up", {"ParamBrowLY": 1, "ParamBrowRY": 1}),
        ("brows down", {"ParamBrowLY": -1, "ParamBrowRY": -1}),
        ("mouth A", {"ParamA": 1}),
        ("I", {"ParamI": 1}),
        ("U", {"ParamU": 1}),
        ("E", {"ParamE": 1}),
        ("O", {"ParamO": 1}),
        ("MouthOpenY 1", {"ParamMouthOpenY": 1}),
        ("open + smile", {"ParamMouthOpenY": 1, "ParamMouthForm": 1}),
        ("smile", {"ParamMouthForm": 1}),
        ("frown", {"ParamMouthForm": -1, "ParamBrowLY": -1, "ParamBrowRY": -1}),
    ]
    for label, p in heads:
        cells.append((label, st.play(None, [0.0], params=p, framing="face")))
    cells.append(("laugh (clip)", st.play("laugh", [0.6], framing="face")))
    cells.append(("cheer (clip)", st.play("cheer", [0.7], framing="face")))
    cells.append(("dance_2 (clip)", st.play("dance_2", [0.5], framing="face")))
    cells.append(
        (
            "turn + talk",
            st.play(
                None,
                [0.0],
                params={"ParamAngleX": 20, "ParamAngleY": 10, "ParamA": 0.7, "ParamEyeBallX": 0.6},
                framing="face",
            ),
        )
    )
    return grid(
        cells,
        8,
        200,
        "Digi - outfits x builds, accessories, head turns, eyes, mouths, expressions",
        OUT / "variants.png",
    )


def main():
    st = Stage()
    for p in (animations(st), variants(st)):
        print(f"{p.relative_to(REPO)}: {p.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()

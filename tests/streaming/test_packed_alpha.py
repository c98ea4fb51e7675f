"""The packed layout's alpha through the real codec (streaming.encoder's VP8 settings, then a
VP8 decoder converting to RGB as a browser does, BT.601 limited range): where the avatar is
opaque, or a scene's backdrop covers the frame, the alpha half decodes to exactly 255; where
nothing is drawn, exactly 0, in every frame, the worst ones just after a keyframe included.

Why it matters: the OBS page snaps alpha above 251 to opaque and below 4 to clear. With the
alpha's ends coded as grey's white and black (Y 235 and 16) the codec's noise on a flat
half went past both (an opaque scene decoded as 244 here and let OBS's canvas through in
CI; the clear surround as 9 to 15, a faint box). engine/kernels/yuv.py now codes the ends
outside the studio range, which a decoder clamps."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from engine.kernels.yuv import to_yuv420
from engine.render.scene import cover
from streaming.frames import frame_from_i420
from tests.streaming.encoding import encode_each

SUNSET = Path(__file__).resolve().parents[2] / "content" / "backgrounds" / "sunset.png"
FRAMES = 30
KEYFRAMES = (0, 15)  # the first frame, and a refresh halfway


def _picture(w: int, h: int) -> np.ndarray:
    return cover(np.asarray(Image.open(SUNSET).convert("RGB")), w, h)


def _decoded_alpha(rgba: np.ndarray, backdrop: np.ndarray | None) -> list[np.ndarray]:
    """The alpha half's red channel (what the OBS page reads) of every frame, after the
    same packed frame went through the shared encoder FRAMES times."""
    h, w = rgba.shape[:2]
    planes = to_yuv420(rgba, "packed", backdrop=backdrop)
    i420 = np.concatenate([planes[0], planes[1].reshape(-1, 2 * w), planes[2].reshape(-1, 2 * w)])

    out: list[np.ndarray] = []
    dec = av.CodecContext.create("vp8", "r")

    def decode(packet: av.packet.Packet) -> None:
        for f in dec.decode(packet):
            out.append(f.to_ndarray(format="rgb24")[:, w:, 0])

    frames = ((frame_from_i420(i420, i / 60), i in KEYFRAMES[1:]) for i in range(FRAMES))
    # the product's own rate for this frame size (codec.target_bitrate)
    encode_each(frames, 2 * w, h, decode)
    return out


def test_an_opaque_scene_decodes_opaque_to_the_seam() -> None:
    w, h = 640, 360  # a 16:9 scene, as the failing 720p one in CI
    rgba = np.zeros((h, w, 4), np.uint8)
    for k, alpha in enumerate(_decoded_alpha(rgba, _picture(w, h))):
        short = alpha < 255
        assert not short.any(), (
            f"frame {k}: {short.sum()} alpha pixels under 255 (down to {alpha.min()}), "
            f"columns {sorted(set(np.nonzero(short)[1].tolist()))[:10]}"
        )


@pytest.mark.parametrize("size", [512, 256])
def test_the_clear_surround_and_the_solid_body_decode_exactly(size: int) -> None:
    """A sunset-coloured disc with a soft rim and a half-transparent band, over nothing."""
    yy, xx = np.mgrid[:size, :size]
    c = size / 2
    alpha = np.clip((0.35 * size - np.hypot(xx - c, yy - c)) / 6, 0, 1)
    alpha[np.abs(xx - c) < size / 25] *= 0.5
    a8 = np.round(alpha * 255).astype(np.uint8)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = np.round(_picture(size, size) * (a8[..., None] / 255)).astype(np.uint8)
    rgba[..., 3] = a8
    # a few pixels in from the rim and the half-transparent band: the codec rings on edges
    solid = ndimage.binary_erosion(a8 == 255, iterations=4)
    clear = ndimage.binary_erosion(a8 == 0, iterations=4)
    assert solid.mean() > 0.1 and clear.mean() > 0.2
    for k, got in enumerate(_decoded_alpha(rgba, None)):
        assert got[solid].min() == 255, f"frame {k}: the body's alpha down to {got[solid].min()}"
        assert got[clear].max() == 0, f"frame {k}: the surround's alpha up to {got[clear].max()}"

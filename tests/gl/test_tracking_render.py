"""Retargeting seen in the render: tracked signals through Digi's tracking.json, the
tracking layer and the state machine (idle underneath), drawn by the GL renderer."""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

from engine.assets import ATLASES, AvatarBundle
from engine.render import AvatarRenderer, load_atlas
from engine.session import AvatarSession, Inputs
from engine.tracking import FaceSignals, FaceTracker
from tests.gl.golden import assert_matches_golden

SIZE = 192
TICK = 1 / 60


@pytest.fixture(scope="module")
def face_renderer(gl: moderngl.Context, digi: AvatarBundle) -> AvatarRenderer:
    return AvatarRenderer(gl, digi.rig, load_atlas(ATLASES / "digi"), size=(SIZE, SIZE))


def tracked(bundle: AvatarBundle, signals: FaceSignals, seconds: float = 1.0) -> AvatarSession:
    """A session whose camera has shown `signals` at 30 fps for `seconds` (idle underneath)."""
    assert bundle.tracking is not None
    tracker = FaceTracker(bundle.tracking, bundle.rig)
    session = AvatarSession(bundle, seed=5)
    for i in range(round(seconds / TICK)):
        t = i * TICK
        if i % 2 == 0:
            tracker.observe(signals, t)
        session.step(TICK, Inputs(parameters=tracker.parameters(t, TICK)))
    return session


def _pixel(renderer: AvatarRenderer, xy: np.ndarray) -> tuple[int, int]:
    x0, y0, x1, y1 = renderer.framing("face")
    return int((xy[0] - x0) / (x1 - x0) * SIZE), int((y1 - xy[1]) / (y1 - y0) * SIZE)


def _eye_pixels(
    img: np.ndarray, renderer: AvatarRenderer, session: AvatarSession, side: str
) -> int:
    """Sclera and iris pixels (near-white or saturated blue) around one eye socket."""
    bone = session.bundle.rig.bone_index[f"eyesock_{side}"]
    cx, cy = _pixel(renderer, session.pose.world[bone, 4:6])
    r = SIZE // 12
    patch = img[max(cy - r, 0) : cy + r, max(cx - r, 0) : cx + r].astype(int)
    rgb, a = patch[..., :3], patch[..., 3]
    white = (rgb > 225).all(axis=2)
    blue = (rgb[..., 2] > 150) & (rgb[..., 2] - rgb[..., 0] > 60)
    return int(((white | blue) & (a > 200)).sum())


def _iris_centroids(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rgb = img[..., :3].astype(int)
    blue = (rgb[..., 2] > 150) & (rgb[..., 2] - rgb[..., 0] > 80) & (img[..., 3] > 200)
    ys, xs = np.nonzero(blue[: SIZE * 3 // 4])  # the face, not the shirt
    split = (xs.min() + xs.max()) / 2
    pts = np.column_stack([xs, ys]).astype(float)
    return pts[xs < split].mean(axis=0), pts[xs >= split].mean(axis=0)


def _eye_line_angle(img: np.ndarray) -> float:
    """Degrees counter-clockwise of the line from the left iris to the right iris."""
    a, b = _iris_centroids(img)
    return float(np.degrees(np.arctan2(-(b[1] - a[1]), b[0] - a[0])))


def test_closed_eyes_close_digis_eyes(digi: AvatarBundle, face_renderer: AvatarRenderer) -> None:
    open_s = tracked(digi, FaceSignals())
    shut_s = tracked(digi, FaceSignals(eye_open_l=0.0, eye_open_r=0.0))
    open_img = face_renderer.render(open_s.pose, "face").copy()
    shut_img = face_renderer.render(shut_s.pose, "face").copy()
    for side in ("l", "r"):
        seen = _eye_pixels(open_img, face_renderer, open_s, side)
        assert seen > 60, f"the open {side} eye should show its white and iris"
        assert _eye_pixels(shut_img, face_renderer, shut_s, side) < 0.1 * seen
    assert_matches_golden("digi_tracked_eyes_closed", shut_img)


def test_one_closed_eye_winks_the_mirrored_eye(
    digi: AvatarBundle, face_renderer: AvatarRenderer
) -> None:
    s = tracked(digi, FaceSignals(eye_open_l=0.0, eye_open_r=1.0), seconds=1.5)
    img = face_renderer.render(s.pose, "face").copy()
    ref = tracked(digi, FaceSignals())
    ref_img = face_renderer.render(ref.pose, "face").copy()
    # the user's left eye is Digi's right eye (mirror); the other stays open
    assert _eye_pixels(img, face_renderer, s, "r") < 0.1 * _eye_pixels(
        ref_img, face_renderer, ref, "r"
    )
    assert _eye_pixels(img, face_renderer, s, "l") > 0.8 * _eye_pixels(
        ref_img, face_renderer, ref, "l"
    )


def test_roll_tilts_the_head(digi: AvatarBundle, face_renderer: AvatarRenderer) -> None:
    angle = {}
    for roll in (-25, 0, 25):
        img = face_renderer.render(tracked(digi, FaceSignals(roll=roll)).pose, "face").copy()
        angle[roll] = _eye_line_angle(img)
    # counter-clockwise in the camera tilts Digi clockwise, like a reflection
    assert angle[25] < angle[0] - 6
    assert angle[-25] > angle[0] + 6


def test_yaw_turns_the_face_with_parallax(
    digi: AvatarBundle, face_renderer: AvatarRenderer
) -> None:
    imgs = {}
    for yaw in (-25, 0, 25):
        imgs[yaw] = face_renderer.render(tracked(digi, FaceSignals(yaw=yaw)).pose, "face").copy()
        sign = "m" if yaw < 0 else "p" if yaw > 0 else ""
        assert_matches_golden(f"digi_tracked_yaw_{sign}{abs(yaw)}", imgs[yaw])
    alpha = {y: imgs[y][..., 3] > 128 for y in imgs}
    mid = {y: np.mean(_iris_centroids(imgs[y]), axis=0)[0] for y in imgs}
    outline_mid = {y: np.nonzero(alpha[y][: SIZE // 2].any(axis=0))[0].mean() for y in imgs}
    # the eyes and the head's outline move by different amounts: parallax, not a slide
    for yaw, sign in ((25, -1), (-25, 1)):
        eye_shift = mid[yaw] - mid[0]
        outline_shift = outline_mid[yaw] - outline_mid[0]
        assert sign * eye_shift > 2.0, (yaw, eye_shift)
        assert abs(eye_shift - outline_shift) > 1.0, (yaw, eye_shift, outline_shift)
    changed = (np.abs(imgs[25].astype(int) - imgs[-25].astype(int)).max(axis=2) > 24).mean()
    assert changed > 0.05


def test_animation_blinks_yield_to_the_tracked_eyes(
    digi: AvatarBundle, face_renderer: AvatarRenderer
) -> None:
    """Idle_1 blinks at 1.9 s through its eye_expr slots; while tracked the user's open eyes
    win, and the presence parameter fades those slots out."""
    s = tracked(digi, FaceSignals(), seconds=1.95)
    expr = [
        digi.rig.slots[i]
        for i in range(len(digi.rig.slots))
        if digi.rig.slots[i].name.startswith("eye_expr")
    ]
    assert expr
    for slot in expr:
        assert s.pose.slot_color[slot.index, 3] == pytest.approx(0.0, abs=1e-6)
    untracked = AvatarSession(digi, seed=5)
    for _ in range(round(1.95 / TICK)):
        untracked.step(TICK)
    for slot in expr:
        assert untracked.pose.slot_color[slot.index, 3] == pytest.approx(1.0)

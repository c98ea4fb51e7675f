"""Digi wearing a generated face (engine/face), drawn by the GL renderer: the styled art is
what shows, where its landmarks say; Digi's own head is gone; the mouth opens onto the
inner mouth and the eyes close; the GPU skins the face mesh as the CPU does; and the
sprite library still dresses the body."""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

from engine.assets import AvatarBundle
from engine.face.topology import topology
from engine.render import AvatarRenderer
from engine.session import AvatarSession, Inputs
from tests.worn import generated, worn

SIZE = 256
REST = {"ParamMouthOpenY": 0.0, "ParamEyeLOpen": 1.0, "ParamEyeROpen": 1.0}


@pytest.fixture(scope="module")
def bundle() -> AvatarBundle:
    return worn("astronaut", "kingdom-hearts")


@pytest.fixture(scope="module")
def renderer(gl: moderngl.Context, bundle: AvatarBundle) -> AvatarRenderer:
    r = AvatarRenderer(gl, bundle.rig, bundle.pictures(), size=(SIZE, SIZE))
    yield r
    r.release()


def posed(bundle: AvatarBundle, **params: float) -> AvatarSession:
    s = AvatarSession(bundle, seed=3)
    s.step(0.0, Inputs(parameters={**REST, **params}))
    return s


def face_pixels(renderer: AvatarRenderer, session: AvatarSession) -> np.ndarray:
    """The face mesh's vertices as (x, y) pixels of the "face" framing."""
    face = session.bundle.rig.slot_index["face"]
    item = next(i for i in session.draw_list() if i.slot == face)
    x0, y0, x1, y1 = renderer.framing("face")
    v = item.vertices
    return np.stack([(v[:, 0] - x0) / (x1 - x0) * SIZE, (y1 - v[:, 1]) / (y1 - y0) * SIZE], axis=1)


def polygon(points: np.ndarray) -> np.ndarray:
    from matplotlib.path import Path

    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    inside = Path(points).contains_points(np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1))
    return inside.reshape(SIZE, SIZE)


def test_the_styled_art_is_drawn_where_its_landmarks_are(bundle, renderer) -> None:
    s = posed(bundle)
    img = renderer.render(s.pose, "face")
    px = np.round(face_pixels(renderer, s)).astype(int)[:468]  # the irises: see the gaze test
    art = generated("astronaut", "kingdom-hearts")
    want = art.outputs["full"][
        np.clip(np.round(art.landmarks[:, 1]).astype(int), 0, 511),
        np.clip(np.round(art.landmarks[:, 0]).astype(int), 0, 511),
    ].astype(int)
    want = want[:468]
    inside = (px >= 0).all(axis=1) & (px < SIZE).all(axis=1)
    got = img[px[inside, 1], px[inside, 0]].astype(int)
    opaque = got[:, 3] > 250  # the outline feathers into the head behind
    diff = np.abs(got[opaque, :3] - want[inside][opaque]).mean(axis=1)
    assert opaque.mean() > 0.8
    assert np.median(diff) < 18, np.median(diff)


def test_digis_own_head_is_gone(digi, gl, bundle, renderer) -> None:
    bare = AvatarRenderer(gl, digi.rig, digi.pictures(), size=(SIZE, SIZE))
    try:
        def irises(img: np.ndarray) -> int:  # Digi's blue eyes
            rgb = img[: SIZE * 3 // 4, :, :3].astype(int)
            return int(((rgb[..., 2] > 150) & (rgb[..., 2] - rgb[..., 0] > 80)).sum())

        s = AvatarSession(digi, seed=3)
        s.step(0.0)
        assert irises(bare.render(s.pose, "face")) > 50
        assert irises(renderer.render(posed(bundle).pose, "face")) == 0
    finally:
        bare.release()


def test_the_mouth_opens_onto_the_inner_mouth(bundle, renderer) -> None:
    t = topology()
    opened = posed(bundle, ParamMouthOpenY=1.0)
    lips = face_pixels(renderer, opened)[np.concatenate([t.mouth.upper, t.mouth.lower[::-1]])]
    hole = polygon(lips)
    assert hole.sum() > 60

    def mouth_dark(session: AvatarSession) -> float:
        rgb = renderer.render(session.pose, "face")[..., :3].astype(int)
        dark_red = (rgb[..., 0] < 120) & (rgb[..., 1] < 70) & (rgb[..., 0] > rgb[..., 1])
        return float(dark_red[hole].mean())

    assert mouth_dark(posed(bundle)) < 0.05
    assert mouth_dark(opened) > 0.3


@pytest.mark.parametrize("param,eye", [("ParamEyeROpen", "eye_right"), ("ParamEyeLOpen", "eye_left")])
def test_closing_an_eye_hides_it(bundle, renderer, param: str, eye: str) -> None:
    hole = getattr(topology(), eye)
    s = posed(bundle)
    area = polygon(face_pixels(renderer, s)[np.concatenate([hole.upper, hole.lower[::-1]])])

    def dark(session: AvatarSession) -> float:
        rgb = renderer.render(session.pose, "face")[..., :3].astype(float)
        return float((rgb @ [0.299, 0.587, 0.114] < 80)[area].mean())

    assert dark(s) > 0.15  # iris and lashes
    shut = posed(bundle, **{param: 0.0})
    assert dark(shut) < 0.4 * dark(s)
    # ... and drawn shut: a dark lash line where the lids meet, the lid layer shown
    slot = bundle.rig.slot_index[f"face_lid_{eye[4]}"]
    assert shut.pose.slot_color[slot, 3] == 1.0 and s.pose.slot_color[slot, 3] == 0.0
    meet = face_pixels(renderer, shut)[hole.upper[2:-2]]
    rgb = renderer.render(shut.pose, "face")[..., :3].astype(float)
    px = np.round(meet).astype(int)
    assert (rgb[px[:, 1], px[:, 0]] @ [0.299, 0.587, 0.114] < 110).mean() > 0.7


def test_the_gpu_skins_the_face_as_the_cpu_does(bundle, renderer) -> None:
    s = posed(bundle, ParamMouthOpenY=0.8, ParamAngleX=20.0, ParamEyeLOpen=0.3, ParamBrowRY=1.0)
    gpu = renderer.skin_on_gpu(s.pose)
    for name in ("face", "face_mouth", "face_back"):
        slot = bundle.rig.slot_index[name]
        item = next(i for i in s.draw_list() if i.slot == slot)
        m = renderer.geometry.meshes[(slot, name)]
        got = gpu[m.first_vertex : m.first_vertex + m.vertex_count]
        assert np.abs(got - item.vertices).max() < 1e-3, name


def test_the_sprite_library_still_dresses_the_body(bundle, renderer) -> None:
    s = posed(bundle)
    plain = renderer.render(s.pose, "full").astype(int)
    s.step(0.0, Inputs(swaps={"outfit": "armor"}))
    armored = renderer.render(s.pose, "full").astype(int)
    body = slice(SIZE // 2, SIZE)
    assert np.abs(armored[body] - plain[body]).max(axis=2).astype(bool).mean() > 0.05
    s.step(0.0, Inputs(swaps={"outfit": "casual", "accessories": "glasses"}))
    glasses = renderer.render(s.pose, "face").astype(int)
    bare_face = renderer.render(posed(bundle).pose, "face").astype(int)
    assert (np.abs(glasses - bare_face).max(axis=2) > 40).sum() > 200


def test_the_body_takes_the_faces_skin_tone(bundle, digi) -> None:
    neck = bundle.rig.slots[bundle.rig.slot_index["neck"]]
    digi_neck = digi.rig.slots[digi.rig.slot_index["neck"]]
    assert digi_neck.color == (1.0, 1.0, 1.0, 1.0)
    tint = np.array(neck.color[:3])
    assert tint.min() < 0.97  # the astronaut's styled skin is darker than Digi's
    skin = np.array([255, 228, 208]) * tint
    cheeks = generated("astronaut", "kingdom-hearts").outputs["full"][
        np.round(generated("astronaut", "kingdom-hearts").landmarks[[50, 280], 1]).astype(int),
        np.round(generated("astronaut", "kingdom-hearts").landmarks[[50, 280], 0]).astype(int),
    ]
    assert np.abs(skin - cheeks.mean(axis=0)).max() < 30


def test_the_replaced_parts_are_not_drawn_at_all(digi, bundle, renderer) -> None:
    """Digi's own head parts show an empty picture under a worn face; the renderer leaves
    them out of its draws (they would cost fill for nothing) and nothing else."""
    rig = bundle.rig
    blank = {rig.slots[s].name for s, _ in renderer.geometry.blank}
    assert {"hair_top", "hair_front_1", "head", "eye_white_l", "brow_r", "mouth_base"} <= blank
    assert not blank & {"face", "face_back", "face_mouth", "neck", "torso", "glasses"}
    assert all(rig.attachments[s][n].path == "face/empty" for s, n in renderer.geometry.blank)


def test_the_eyes_glance_with_the_gaze(bundle, renderer) -> None:
    """ParamEyeBallX moves each iris inside its eye: where the eye turns darker than at rest
    (the iris arriving) lies on the side the parameter says; the eye's outline stays."""
    t = topology()

    def lum(session: AvatarSession) -> np.ndarray:
        return renderer.render(session.pose, "face")[..., :3].astype(float) @ [0.299, 0.587, 0.114]

    rest = posed(bundle)
    still = face_pixels(renderer, rest)
    for hole, iris in ((t.eye_right, t.iris_right[0]), (t.eye_left, t.iris_left[0])):
        area = polygon(still[np.concatenate([hole.upper, hole.lower[::-1]])])
        for value in (-1.0, 1.0):
            darker = area & (lum(rest) - lum(posed(bundle, ParamEyeBallX=value)) > 30)
            assert darker.sum() > 10, (hole, value)
            side = np.nonzero(darker)[1].mean() - still[iris, 0]
            assert side * value > 1.0, (value, side)
    glance = face_pixels(renderer, posed(bundle, ParamEyeBallX=1.0, ParamEyeBallY=1.0))
    ring = np.concatenate([t.eye_right.upper, t.eye_right.lower, t.eye_left.upper, t.eye_left.lower])
    assert np.abs(glance[ring] - still[ring]).max() < 1e-6

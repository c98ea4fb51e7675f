"""A generated face worn live: styled art plus the landmarks it carries become a rigged,
textured face mesh on a body rig.

    topology.py  MediaPipe FaceMesh's triangles and named contours (content/tracking/)
    rigging.py   the face mesh in art space and its parameter deforms (pure numpy)
    pictures.py  the textures cut from the art: face, back of the head, inner mouth
    wear.py      the body rig wearing the face: rig JSON, atlas and bundle

`wear_face` is the entry point. Nothing here imports GL or torch: the result is ordinary
rig data, drawn by the ordinary renderer.
"""

from engine.face.wear import FaceArt, FaceArtError, wear_face

__all__ = ["FaceArt", "FaceArtError", "wear_face"]

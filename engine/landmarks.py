"""MediaPipe FaceMesh's landmark indices, named once (refined model: 478 points).

The numbers are fixed by the model; every part of the engine that reads landmarks (the
tracking solver, the style pipeline, the face rig and its pictures, the reference-face build)
takes them from here, so a point is never spelled two ways. "Right" and "left" are the
person's own: the right eye is on the picture's left.

Contours that MediaPipe gives as edge lists (the face outline, lids, lips, brows as whole
loops) live in `content/tracking/face_topology.json` (engine/face/topology.py); these are the
single points and small groups the measurements use.
"""

from __future__ import annotations

POINTS = 478  # the refined model: 468 mesh points, then 5 per iris
MESH_POINTS = 468

# --- eyes ----------------------------------------------------------------------------------
RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
LEFT_EYE_OUTER, LEFT_EYE_INNER = 263, 362
# (upper, lower) lid points facing each other across the eye, outer to inner
RIGHT_LID_PAIRS = ((160, 144), (159, 145), (158, 153))
LEFT_LID_PAIRS = ((385, 380), (386, 374), (387, 373))
# the whole eye opening, round from the outer corner along the upper lid
RIGHT_EYE_RING = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE_RING = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
RIGHT_UPPER_LID = RIGHT_EYE_RING[:9]  # outer corner to inner corner
LEFT_UPPER_LID = LEFT_EYE_RING[:9]
RIGHT_IRIS = (468, 469, 470, 471, 472)  # centre first, then the rim
LEFT_IRIS = (473, 474, 475, 476, 477)

# --- brows ---------------------------------------------------------------------------------
RIGHT_BROW_UPPER = (70, 63, 105, 66, 107)  # the brow's upper edge, outer to inner
LEFT_BROW_UPPER = (300, 293, 334, 296, 336)
RIGHT_BROW_LOWER = (46, 53, 52, 65, 55)  # its lower edge, outer to inner
LEFT_BROW_LOWER = (276, 283, 282, 295, 285)

# --- mouth ---------------------------------------------------------------------------------
MOUTH_CORNERS = (61, 291)  # the outer lips' corners, right then left
INNER_MOUTH_CORNERS = (78, 308)
UPPER_LIP_TOP, LOWER_LIP_BOTTOM = 0, 17  # the outer lips' middle
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14  # the inner lips' middle
# (upper, lower) inner-lip points facing each other across the mouth: middle, right, left
INNER_LIP_PAIRS = ((13, 14), (82, 87), (312, 317))
LIP_LINE = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)  # where the lips meet, right to left
LOWER_LIP_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)  # its outer edge

# --- nose, cheeks, face ----------------------------------------------------------------------
NOSE_TIP = (1, 4, 5, 195, 98, 327)  # the tip and the points round it
NOSE_WINGS = (129, 358)
NOSE_BRIDGE = 168  # between the eyes: the face's middle
CHEEKS = (50, 280)  # right and left cheekbone
CHEEK_SKIN = (50, 280, 101, 330, 36, 266, 205, 425)  # bare cheek skin, both sides
FACE_SIDES = (234, 454)  # right and left, level with the eyes: the face's width, by the ears
FOREHEAD, CHIN = 10, 152
# the jaw line from the left face side round the chin to the right one
JAW = (454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
       148, 176, 149, 150, 136, 172, 58, 132, 93, 234)  # fmt: skip

# --- likeness measurements (engine/likeness) -----------------------------------------------
# mid-cheek patches below the eyes (and below glasses' lenses), clear of the nose and mouth
RIGHT_CHEEK_PATCH = (123, 50, 101, 36, 205, 207, 187)
LEFT_CHEEK_PATCH = (352, 280, 330, 266, 425, 427, 411)
NOSE_BOTTOM = (98, 97, 2, 326, 327)  # the nose's lower edge, right wing to left wing
UPPER_LIP_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)  # right corner to left
JAW_ANGLES = (172, 397)  # right and left, at the jaw's corners
CHIN_SIDES = (176, 400)  # right and left, where the chin rounds off

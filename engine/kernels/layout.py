"""Array layouts shared by the kernels and the pose.

A bone's local transform is a row of 7 floats and its world transform a row of 6, so a whole
skeleton is two small contiguous arrays that numba kernels walk without Python objects.

Conventions (Spine's bone model): y-up, angles in degrees counter-clockwise. The world row
``(a, b, c, d, x, y)`` maps a bone-local point ``(lx, ly)`` to
``(a*lx + b*ly + x, c*lx + d*ly + y)``: ``(a, c)`` is the bone's x axis (along the bone) and
``(b, d)`` its y axis, both scaled.
"""

from __future__ import annotations

# local row
X, Y, ROT, SX, SY, SHX, SHY = range(7)
LOCAL_FIELDS = ("x", "y", "rotation", "scaleX", "scaleY", "shearX", "shearY")

# world row
WA, WB, WC, WD, WX, WY = range(6)

# keyframe targets: position (x, y), rotation, scale (x, y), shear (x, y)
T_POSITION, T_ROTATION, T_SCALE, T_SHEAR = range(4)
TARGET_NAMES = ("position", "rotation", "scale", "shear")
TARGET_DIMS = (2, 1, 2, 2)

# inherit modes, in Spine's order
INHERIT_NAMES = (
    "normal",
    "onlyTranslation",
    "noRotationOrReflection",
    "noScale",
    "noScaleOrReflection",
)
(
    INHERIT_NORMAL,
    INHERIT_ONLY_TRANSLATION,
    INHERIT_NO_ROTATION,
    INHERIT_NO_SCALE,
    INHERIT_NO_SCALE_REFL,
) = range(5)

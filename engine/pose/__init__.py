"""Per-session mutable pose and the code that walks the rig's update plan."""

from engine.pose.pose import Pose

__all__ = ["Pose"]

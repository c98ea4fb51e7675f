"""Face tracking: MediaPipe landmarks -> FaceSignals (pure solver) -> calibration and filters
-> rig parameters (data-driven retargeting), as a layer over the state machine.

`engine.tracking.landmarker` (the MediaPipe boundary) is not imported here, so the pure
parts load without MediaPipe.
"""

from engine.tracking.retarget import TrackingData, load_tracking
from engine.tracking.signals import SIGNALS, FaceSignals
from engine.tracking.solver import solve
from engine.tracking.tracker import FaceTracker

__all__ = ["SIGNALS", "FaceSignals", "FaceTracker", "TrackingData", "load_tracking", "solve"]

"""The MediaPipe boundary for person segmentation: selfie segmentation on RGB stills, for
the transparent-background avatar (engine/style/post.py). Its model ships inside the
mediapipe 0.10.21 wheel; nothing is downloaded.

One of only two engine modules that import mediapipe (with landmarker.py).
"""

from __future__ import annotations

import os
import threading

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")

from mediapipe.python.solutions import selfie_segmentation as _selfie

from engine.tracking.landmarker import check_frame

_lock = threading.Lock()
_graph: _selfie.SelfieSegmentation | None = None


def segment_person(rgb: np.ndarray) -> np.ndarray:
    """A float32 (h, w) mask in 0..1 of where the person is in an RGB uint8 picture
    (1: person, 0: background)."""
    frame = check_frame(rgb)
    global _graph
    with _lock:  # one graph, reused (a MediaPipe graph is not thread-safe)
        if _graph is None:
            # model 0: the general (square, 256x256) model, best for head-and-shoulders
            _graph = _selfie.SelfieSegmentation(model_selection=0)
        out = _graph.process(frame)
    mask = out.segmentation_mask
    if mask is None:
        return np.zeros(frame.shape[:2], dtype=np.float32)
    return np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0)

"""The errors of avatar generation: each message says what is wrong."""

from __future__ import annotations


class StyleError(ValueError):
    """Avatar generation could not go on (the message says why)."""


class NoFaceDetectedError(StyleError):
    """The photo has no face MediaPipe could find."""


class UnknownStyleError(StyleError):
    """A style name that is not one of the known styles."""


class GenerationCancelled(StyleError):
    """The caller cancelled the generation between two stages."""


class StylePackError(StyleError):
    """A style pack file that is not a valid pack (the message says what is wrong)."""

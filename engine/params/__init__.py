"""Named parameters and their bindings to the rig."""

from engine.params.parameters import ParameterSet, UnknownParameterError

__all__ = ["ParameterSet", "UnknownParameterError"]

"""The one error type for bad rig, animation and state-machine files."""

from __future__ import annotations


class FormatError(ValueError):
    """A data file is invalid. The message names the file, the JSON path and the problem."""

    def __init__(self, source: str, path: str, problem: str) -> None:
        self.source = source
        self.path = path
        self.problem = problem
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {problem}")


class RigFormatError(FormatError):
    """`rig.json` is invalid."""

"""Tests of engine/likeness: measuring a person and assembling their character."""

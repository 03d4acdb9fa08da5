"""Errors of the simulator package."""


class SimulatorError(Exception):
    """Root of simulator errors; messages name the parameter or folder and what to do."""

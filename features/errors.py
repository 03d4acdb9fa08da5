"""Errors of the features package: one root, specific subclasses."""


class FeatureError(Exception):
    """Root of every features error; the message names the participant, day or recording."""


class CalibrationError(FeatureError):
    """A recording segment has too little usable data to estimate the sensor mounting."""

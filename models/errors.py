"""Errors of the models package: one root, specific subclasses."""


class ModelError(Exception):
    """Root of every models error; the message says what is wrong and what to do."""


class NotEnoughDataError(ModelError):
    """The warehouse holds too few labelled participant-days (or participants) to train or evaluate."""


class RegistryError(ModelError):
    """A model version is unknown, or the registry folder is inconsistent."""


class TamperedModelError(RegistryError):
    """A model file does not match the hash recorded when it was saved, or holds untrusted types."""

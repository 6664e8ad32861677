"""Errors that describe a user's mistake. The CLI prints them as one line, never a traceback."""


class SpeechstreamError(Exception):
    """Base class for errors caused by input, configuration or environment rather than a bug."""


class AudioError(SpeechstreamError, ValueError):
    """Audio that cannot be used: unreadable, empty, truncated, non-finite, wrong rate or shape."""


class ModelError(SpeechstreamError):
    """A model directory that is missing, incomplete or corrupt."""


class DeviceError(SpeechstreamError):
    """No usable audio device, or the device failed."""

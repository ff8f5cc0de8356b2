"""Errors a user can fix: each names the thing that is wrong and how to fix it."""

from __future__ import annotations


class InspectorError(Exception):
    """A problem with the user's input (file, config, model, data), not a bug.

    The CLI prints it without a traceback and exits with status 2.
    """

    exit_code = 2

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class DatasetError(InspectorError):
    """The dataset folder, manifest, an image or a mask is unusable."""


class ImageReadError(InspectorError):
    """One image file cannot be decoded."""


class BundleError(InspectorError):
    """A model bundle is refused (tampered, incomplete or of an unknown schema)."""

"""The operator's plain-words states (no Qt): the station's phase, each camera's status, one-off messages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

MODEL_ERROR_AFTER = 3  # consecutive failed frames that put the GUI in MODEL ERROR


class Phase(str, Enum):
    """What the station does, in the words the operator sees."""

    STARTING = "STARTING"
    RUNNING = "RUNNING"
    MODEL_ERROR = "MODEL ERROR"
    SELF_TEST_FAILED = "SELF-TEST FAILED"  # a golden sample was judged otherwise: blocked until acknowledged
    ERROR = "ERROR"
    STOPPED = "STOPPED"


@dataclass(frozen=True)
class CameraStatus:
    """One camera as the operator sees it: UP, DOWN (with a reconnect countdown), STARTING or STOPPED."""

    state: str
    countdown_s: float | None = None
    message: str = ""  # plain words
    detail: str = ""  # the technical error (tooltip and log)


@dataclass(frozen=True)
class Message:
    """The outcome of a background action, shown once in the status bar."""

    level: str  # info | warning | error
    text: str

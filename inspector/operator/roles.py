"""Roles of the GUI (issue 13 item 5): operator, engineer and admin, each with its own PIN, and which role
each action needs. Qt-free; the PINs and their lockouts live in `inspector.operator.settings`.

The roles are ranked: a role may do what the roles below it may (an engineer may also confirm or dispute a
verdict). The admin sets the PINs of the others; the admin's own PIN is set with `--reset-pin --role admin`,
which needs write access to the settings file (docs/operator.md).
"""

from __future__ import annotations

from enum import Enum

from inspector.errors import InspectorError


class Role(str, Enum):
    OPERATOR = "operator"
    ENGINEER = "engineer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return ROLES.index(self)

    def may(self, action: str) -> bool:
        """True when this role may do `action` (one of ACTIONS)."""
        return self.rank >= required_role(action).rank


ROLES = (Role.OPERATOR, Role.ENGINEER, Role.ADMIN)

# action -> the lowest role that may do it
ACTIONS: dict[str, Role] = {
    "review": Role.OPERATOR,  # confirm / dispute a verdict (the review queue)
    "lot": Role.OPERATOR,  # set the lot id stamped on every result
    "threshold": Role.ENGINEER,
    "roi": Role.ENGINEER,
    "camera": Role.ENGINEER,  # camera settings
    "recipe": Role.ENGINEER,  # recipe change, bundle load
    "save_config": Role.ENGINEER,  # write threshold and ROIs into the station config
    "golden": Role.ENGINEER,  # run the golden self-test, acknowledge a failed one, add golden samples
    "shadow": Role.ENGINEER,  # promote / roll back / load a shadow candidate
    "retrain": Role.ENGINEER,  # retrain from the review queue (writes a candidate bundle, never swaps it in)
    "set_pins": Role.ADMIN,  # set or reset the PINs of the other roles
}


def required_role(action: str) -> Role:
    try:
        return ACTIONS[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})") from None


def parse_role(text: str) -> Role:
    """A role from its name; InspectorError naming the choices otherwise."""
    try:
        return Role(str(text).strip().lower())
    except ValueError:
        raise InspectorError(f"unknown role {text!r}", f"use one of: {', '.join(r.value for r in ROLES)}") from None

"""The operator GUI (PySide6): a thin view over the live pipeline (docs/gui.md).

`station` and `stats` hold the state (no Qt); the widgets only draw it and forward operator actions.
Nothing outside this package imports PySide6, so the edge runtime works without the `gui` extra.
"""

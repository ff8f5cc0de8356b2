"""The operator GUI (PySide6): widgets over the Qt-free operator model in `inspector.operator` (docs/gui.md).

The widgets only draw the model's state and forward operator actions to it.
Nothing outside this package imports PySide6, so the edge runtime works without the `gui` extra.
"""

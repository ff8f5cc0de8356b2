"""Result sinks: a registry of kinds, each with its own bounded queue (see base.py)."""

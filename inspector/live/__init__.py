"""Live inspection: camera sources -> engine -> verdict -> sinks, shared by the daemon and the GUI."""

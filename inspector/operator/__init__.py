"""The operator model (no Qt): what the GUI shows and what its operator and engineer may change.

`station` runs the station the GUI shows (`LiveStation`, on `inspector.live.station.build_station`);
`state` names its plain-words states; `stats` counts records into counters, trend and recent scores;
`review` keeps the review queue; `settings` holds the GUI settings file, the engineer PIN and its lockout;
`config_save` writes threshold and ROI edits back into the station TOML; `engineer` is the engineer
panel's threshold, ROI and camera-settings model; `launch` builds a station config from --model/--source.
Nothing here imports PySide6 (tests/operator checks it), so all of it is tested without a display.
"""

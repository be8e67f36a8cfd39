"""``pcos device console``: the session (device and people) and the textual app."""

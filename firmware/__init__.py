"""The device: state machine, hardware interfaces, ballot policy, crash-safe store, audit log.

Not yet built; see the open issues.
"""

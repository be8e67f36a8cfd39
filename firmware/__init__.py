"""The device: state machine, hardware interfaces, ballot policy, crash-safe store, audit log.

See ``firmware.device`` (the scanner as a device), ``firmware.hal`` (hardware
interfaces), ``firmware.store`` / ``firmware.journal`` (two media),
``firmware.audit`` (hash-chained log) and ``firmware.crypto`` (signatures).
"""

"""Hardware behind interfaces: the firmware talks only to these protocols.

Each part has a simulated implementation in ``simulator/devices.py`` (and the
printer and modem in their own modules), so the same firmware runs on real
hardware later. Nothing in ``firmware`` imports ``simulator``.
"""

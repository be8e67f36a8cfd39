"""Hardware interfaces the device uses (modem, ...); the simulator provides virtual parts."""

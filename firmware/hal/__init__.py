"""Hardware behind interfaces: each part of the scanner is an interface here, with a
real driver (serial, files) and a simulated implementation in ``simulator``."""

"""End-to-end tests: real servers started through ``requestcov run``."""

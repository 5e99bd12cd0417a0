"""One module per ``requestcov`` command; see :mod:`requestcov.cli`."""

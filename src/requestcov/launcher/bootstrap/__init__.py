"""Holds the ``sitecustomize`` module ``requestcov run`` puts on ``PYTHONPATH``."""

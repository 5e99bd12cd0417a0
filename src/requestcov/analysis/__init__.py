"""The analyses behind the ``requestcov`` commands.

Each module is a set of pure functions over plain data: a list (or stream) of
:class:`~requestcov.records.RequestRecord`, or the compact
:class:`~requestcov.analysis.index.CoverageIndex` built from them. Nothing here
prints, opens the store or parses command-line options, so every answer can be
checked on a hand-built case.
"""

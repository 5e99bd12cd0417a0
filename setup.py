"""Builds the optional compiled core (``requestcov.engine._speedups``).

Everything else is declared in pyproject.toml. The extension is optional: where
no C compiler is at hand the build goes on without it, and requestcov runs its
pure-Python engines, slower but equal in what they record.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "requestcov.engine._speedups",
            sources=[
                "src/requestcov/engine/_speedups.c", "src/requestcov/engine/_requestpath.c",
                "src/requestcov/middleware/_wsgiexchange.c", "src/requestcov/middleware/_asgisend.c",
                "src/requestcov/middleware/_wsgicall.c", "src/requestcov/middleware/_asgicall.c",
            ],
            depends=["src/requestcov/engine/_compat.h", "src/requestcov/middleware/_middlewarecall.h",
                     "src/requestcov/middleware/_slots.h"],
            optional=True,
        )
    ]
)

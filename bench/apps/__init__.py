"""Benchmark apps: one shop, served by Flask, FastAPI and Django, and thin
endpoints (a health check, small JSON) on Flask and Starlette.

Everything in this folder is the "application source" the recorders measure,
so the pure-Python work each request does here (validation, pricing, report
building) is what line recording has to keep up with.
"""

"""The REST API of riskcore: a thin FastAPI adapter over the engine.

Run it with ``python -m api`` (see :mod:`api.__main__`); build it in code with
:func:`api.app.create_app`.
"""

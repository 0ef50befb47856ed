"""Serving layer: one company's record, scoring frames and files, explanations, the audit trail.

``records`` checks one company; ``scoring`` scores a frame (with ``panel`` for company keys and
histories, ``columns`` for the model matrix and the output columns, ``results`` for what it
returns); ``batch`` and ``history`` stream a file of any size through it a chunk at a time;
``explain`` gives contributions and reason codes; ``audit/`` is the append-only audit trail.

Imports modelling, evaluation, data and the foundation; never workflows or a face (CLI, dashboard, API).
"""

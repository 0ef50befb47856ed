"""The model report's sections, one module each, each a :class:`~riskcore.lifecycle.report.section.Section`.

Every module names its section ``SECTION`` (anchor id, numbered title, the function that writes its body);
:data:`riskcore.lifecycle.report.document.SECTIONS` lists them in the report's order. A section reads the
report's facts (:class:`~riskcore.lifecycle.report.facts.Report`) and writes its numbers through
:class:`~riskcore.lifecycle.report.markup.Numbers`, so each is marked with its path in ``metrics.json``; the
figures come from :mod:`riskcore.lifecycle.report_figures`.
"""

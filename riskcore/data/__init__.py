"""Data layer: the tables users bring, the data contract, and what is wrong with a file.

========================  ==================================================================
``table``                 the :class:`Table` a file is read as, missing markers
``sources``, ``formats``  telling a file's format, encoding and delimiter; each format's reader
``reading``, ``writing``  :func:`read_table` / :func:`open_table`; safe CSV and Parquet output
``columns``, ``parsing``  matching column names; numbers, money, percentages and dates in text
``tabular``               the public names of the modules above, in one place
``schema``, ``infer``     :class:`DatasetSpec` / :class:`FeatureSpec`, the demo's spec; a spec for a user's file
``rules``                 each rule a feature declares, checked and worded once for every face
``prepare``, ``quality``  typing a frame against a spec; the data-quality report
``transaction``           commit-or-abort for outputs that must appear whole
``simulation``, ``synth`` the known-truth demo portfolio
``demo_truth``            the demo file's known-truth lifetime PD, made again from its manifest
========================  ==================================================================

Imports only the foundation (``riskcore.errors``, ``riskcore.config``, ``riskcore.progress``, ``riskcore.numeric``).
"""

"""Shared docstring fragments: rendered in full into every docstring that names them."""

import inspect

import pytest

from riskcore.evaluation import bootstrap, costs, curves, metrics, reliability
from riskcore.evaluation.docs import DOCS, render, shared_docs
from riskcore.serving.audit import AuditLog

_RENDERED = [
    (metrics.roc_auc, ["y_true : array-like of shape (n,)", "Scores; higher means riskier.",
                       "Non-negative row weights."]),
    (metrics.log_loss, ["1 for a default, 0 otherwise.", "Non-negative row weights."]),
    (metrics.at_threshold, ["Scores; higher means riskier.", "threshold : float"]),
    (costs.cost_curve, ["Scores; higher means riskier.", "Prices of a missed default and a false alarm.",
                        "exposure : array-like of shape (n,), optional",
                        "For invalid inputs, or exposure mode without exposure."]),
    (costs.CostSweep, ["1 for a default, 0 otherwise.", "Attributes"]),
    (costs.CostSweep.at, ["Prices of a missed default and a false alarm."]),
    (bootstrap.bootstrap_ci, ["1 for a default, 0 otherwise.", "Row weights, multiplied into the resample counts."]),
    (curves.segment_table, ["Predicted probabilities in [0, 1].", "segments : array-like of shape (n,)"]),
    (reliability.expected_calibration_error, ["Predicted probabilities in [0, 1].",
                                              "For invalid inputs (see the module docstring)."]),
    (AuditLog.record, ["caller : who asked (user name or API key id).", "records : the scores of one request"]),
]


@pytest.mark.parametrize(("obj", "texts"), _RENDERED, ids=lambda o: getattr(o, "__qualname__", ""))
def test_rendered_docstrings_hold_the_parameter_text(obj, texts):
    doc = inspect.getdoc(obj)
    for text in texts:
        assert text in doc
    assert "{" + "scores}" not in doc and "{" + "y_true}" not in doc


def test_no_placeholder_is_left_in_any_evaluation_docstring():
    for module in (bootstrap, costs, curves, metrics, reliability):
        for name in module.__all__:
            doc = inspect.getdoc(getattr(module, name)) or ""
            for key in DOCS:
                assert "{" + key + "}" not in doc, (module.__name__, name, key)


def test_fragment_lines_take_the_indentation_of_the_placeholder():
    doc = "Title.\n\n        Parameters\n        ----------\n        {x}\n        "
    out = render(doc, {"x": "x : int\n    A number."})
    assert out == "Title.\n\n        Parameters\n        ----------\n        x : int\n            A number.\n        "


def test_other_braces_are_left_alone():
    doc = "Pick.\n\n    kind : {'roc', 'pr'}\n        Which.\n    {y_true}\n"
    out = render(doc, {"y_true": DOCS["y_true"]})
    assert "kind : {'roc', 'pr'}" in out and "    y_true : array-like of shape (n,)\n        1 for a default" in out


def test_a_misspelt_fragment_is_an_error():
    with pytest.raises(ValueError, match="no line '{scores}'"):
        render("Nothing to fill.", {"scores": DOCS["scores"]})


def test_decorator_returns_the_same_function_and_tolerates_no_docstring():
    def bare(x):
        return x + 1

    assert shared_docs("scores")(bare) is bare and bare.__doc__ is None and bare(1) == 2

    @shared_docs("y_true", extra="extra : str\n    Local text.")
    def documented():
        """Do nothing.

        Parameters
        ----------
        {y_true}
        {extra}
        """

    assert "1 for a default, 0 otherwise." in documented.__doc__ and "Local text." in documented.__doc__

"""Section 3, features: the model's inputs by family, with labels, units, declared directions, importances, recipes."""

from __future__ import annotations

from riskcore.data.schema import FeatureSpec, Recipe
from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import Numbers, cell, esc, table
from riskcore.lifecycle.report.section import Section

__all__ = ["SECTION", "features_section"]

_DIRECTION = {1: "higher value raises the PD", -1: "higher value lowers the PD", 0: "—"}


def _recipe(recipe: Recipe | None) -> str:
    """An engineered feature's recipe in words."""
    if recipe is None:
        return ""
    inputs = ", ".join(recipe.inputs)
    if recipe.op == "product":
        return f"product of {inputs}" + (f" × {recipe.scale:g}" if recipe.scale != 1 else "")
    if recipe.op == "composite":
        weights = ", ".join(f"{w:+g} × {i}" for w, i in zip(recipe.weights, recipe.inputs))
        logs = f"; log of {', '.join(recipe.log_inputs)} first" if recipe.log_inputs else ""
        return f"sum of robustly standardised inputs (centre and spread from the training rows): {weights}{logs}"
    if recipe.op == "delta":
        return f"change of {inputs} since the company's previous period"
    return f"standard deviation of {inputs} over the company's last {recipe.window} periods"


def _feature_row(f: FeatureSpec, shares: dict[str, float]) -> list[str]:
    """One feature's row: name, label, unit, kind, declared direction, importance, description or recipe."""
    what = f.description or ""
    if f.recipe is not None:
        what = (what + " " if what else "") + f"Recipe: {_recipe(f.recipe)}."
    return [cell(f.name), cell(f.display_label), cell(f.unit), cell(f.kind), cell(_DIRECTION.get(f.direction, "—")),
            cell(shares.get(f.name), "pct"), cell(what)]


def features_section(report: Report, n: Numbers) -> str:
    """The model's inputs by family, with labels, units, declared directions, importances and recipes."""
    used = set((n.get("data") or {}).get("features") or report.spec.model_inputs)
    used |= {f.name for f in report.spec.row_features}
    imp = report.importances
    shares = ({str(k): float(v) for k, v in zip(imp["feature"], imp["share"])}
              if {"feature", "share"} <= set(imp.columns) else {})
    families: dict[str, list[FeatureSpec]] = {}
    for f in report.spec.all_features:
        if f.name in used:
            families.setdefault(f.family, []).append(f)
    parts = [f"<p>{len(used)} inputs in {len(families)} families. Importance: {esc(n.get('importance.method') or '')}"
             f"; the share of the total. The most important input is "
             f"<code>{esc(n.get('importance.top_feature') or '')}</code> ({n('importance.top_share', 'pct')}).</p>"]
    headers = ["Name", "Label", "Unit", "Kind", "Declared direction", "Importance", "Definition"]
    for family in sorted(families):
        parts.append(f"<h3>{esc(family.capitalize())}</h3>")
        parts.append(table(headers, [_feature_row(f, shares) for f in families[family]]))
    unused = [f.name for f in report.spec.all_features if f.name not in used]
    if unused:
        parts.append(f"<p>Declared but not used by this model: {esc(', '.join(unused))}.</p>")
    return "\n".join(parts)


SECTION = Section("features", "3. Features", features_section, bundle_only=True)

"""The data contract: the demo's features, their ranges and roles, the spec's JSON form."""

from riskcore.data.schema import DEMO_SPEC, FAMILIES, PERSONAL_COLUMNS, SECTORS, DatasetSpec, is_personal


def test_demo_spec_has_thirty_raw_features_in_four_families():
    raw = [f for f in DEMO_SPEC.features if f.kind == "numeric"]
    assert len(raw) >= 30
    fams = {f.family for f in raw}
    assert {"financial", "esg", "alternative", "macro"} <= fams
    assert all(f.family in FAMILIES for f in DEMO_SPEC.all_features)


def test_feature_names_are_unique_and_labelled():
    names = [f.name for f in DEMO_SPEC.all_features]
    assert len(names) == len(set(names))
    for f in DEMO_SPEC.all_features:
        assert f.label, f.name
        assert f.description, f.name


def test_ranges_are_consistent():
    for f in DEMO_SPEC.features:
        if f.kind != "numeric":
            continue
        if f.min is not None and f.max is not None:
            assert f.min < f.max, f.name
        if f.typical_min is not None and f.min is not None:
            assert f.typical_min >= f.min, f.name
        if f.typical_max is not None and f.max is not None:
            assert f.typical_max <= f.max, f.name


def test_roles_and_never_features():
    assert DEMO_SPEC.target == "default_12m"
    assert DEMO_SPEC.id == "company_id" and DEMO_SPEC.time == "fiscal_year"
    assert DEMO_SPEC.segment == "sector" and DEMO_SPEC.exposure == "exposure_eur"
    assert "true_pd" in DEMO_SPEC.never
    assert "true_pd" not in DEMO_SPEC.feature_names
    assert DEMO_SPEC.feature("sector").categories == SECTORS
    assert len(SECTORS) == 11


def test_engineered_recipes_use_declared_inputs():
    for f in DEMO_SPEC.engineered:
        assert f.family == "engineered"
        assert f.recipe is not None
        for name in f.recipe.inputs:
            assert name in DEMO_SPEC.feature_names, (f.name, name)
    assert {f.recipe.op for f in DEMO_SPEC.engineered} == {"product", "composite", "delta", "rolling_std"}


def test_spec_round_trips_through_json():
    again = DatasetSpec.from_dict(DEMO_SPEC.to_dict())
    assert again == DEMO_SPEC


def test_format_value_uses_units():
    assert DEMO_SPEC.feature("interest_coverage").format_value(0.84) == "0.84×"
    assert DEMO_SPEC.feature("interest_coverage").format_value(4.12) == "4.1×"
    assert DEMO_SPEC.feature("roa").format_value(-0.052) == "-5.2%"
    assert DEMO_SPEC.feature("supplier_payment_delay").format_value(45.2) == "45 days"
    assert DEMO_SPEC.feature("esg_governance").format_value(float("nan")) == "missing"


def test_personal_columns_are_known_by_their_header_however_it_is_written():
    assert all(is_personal(c) for c in ("company_name", "Contact E-mail", "CONTACT-EMAIL", "e_mail", " Phone ",
                                        "IBAN", "Director"))
    assert not any(is_personal(c) for c in (*DEMO_SPEC.feature_names, DEMO_SPEC.id, DEMO_SPEC.time, "emails_sent"))
    assert len(set(PERSONAL_COLUMNS)) == len(PERSONAL_COLUMNS)

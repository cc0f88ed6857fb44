"""The API's canonical identifiers against the pipeline's: the golden cases and generated values
that ``test_oneid_normalize.py`` holds Spark's ``oneid.normalize`` to, without Spark."""

from __future__ import annotations

import pytest

from jobs.serving.canonical import Canonical, NeverIdentifiers, canonical, lookup_form, mask_email, mask_mobile
from models.cdm.identity_evidence import ECOM_BUYER_ID, WX_OPENID
from oneid.normalize import BAD_FORMAT, MISSING_SCOPE
from test_oneid_normalize import GOLDEN, VALIDITY, generated_cases

NEVER = NeverIdentifiers.of(VALIDITY)


@pytest.mark.parametrize("id_type, raw, scope, id_value, reason", GOLDEN)
def test_golden_cases_judged_as_the_pipeline_judges_them(id_type, raw, scope, id_value, reason):
    assert canonical(id_type, raw, scope, NEVER) == Canonical(id_value, reason)


def test_generated_values_judged_as_the_generator_knows_them():
    cases = generated_cases()
    judged = [canonical(id_type, raw, scope, NEVER) for id_type, raw, scope, _, _ in cases]
    assert judged == [Canonical(id_value, reason) for _, _, _, id_value, reason in cases]


@pytest.mark.parametrize("id_type, raw, scope, expected", [
    # An openid is keyed by its value: the app is an attribute a lookup may leave out.
    (WX_OPENID, " oQ7d_AbCdEf ", None, Canonical("oQ7d_AbCdEf", None)),
    (WX_OPENID, " ", None, Canonical(None, BAD_FORMAT)),
    # A buyer id in SPEC section 3's form stands for its platform and buyer id.
    (ECOM_BUYER_ID, "TMall:tb123", None, Canonical("tmall:tb123", None)),
    (ECOM_BUYER_ID, "tb123", "tmall", Canonical("tmall:tb123", None)),
    (ECOM_BUYER_ID, "tb123", None, Canonical(None, MISSING_SCOPE)),
    (ECOM_BUYER_ID, ":tb123", None, Canonical(None, MISSING_SCOPE)),
])
def test_lookup_form_needs_no_scope_the_mapping_does_not_key_by(id_type, raw, scope, expected):
    assert lookup_form(id_type, raw, scope, NEVER) == expected


def test_masks_are_those_of_models_pii():
    assert mask_mobile("13800138000") == "138****8000"
    assert mask_email("zhang@qq.com") == "z***@qq.com"

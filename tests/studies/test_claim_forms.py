"""Each study judges its claim in the form CLAIMS.md fixed before the studies ran ("v0.3: the form of each claim
and its margin"), and a structural claim is checked, never put through a t-test."""

import re

import pytest

from dlbasic.claims import CLAIM_FORMS, CLAIM_IDS
from dlbasic.lab.sequential import looks
from dlbasic.lab.study import FORMS
from dlbasic.studies import get_study, list_studies


def test_the_forms_are_the_claims_documents(shared_data):
    text = (shared_data.parent / "docs" / "CLAIMS.md").read_text()
    table = text.split("## v0.3", 1)[1].split("\n| id | form |", 1)[1]
    forms = {}
    for ids, form in re.findall(r"^\| ([a-z0-9, -]+?) \| ([a-z +-]+?)(?:, \d parts)? \|", table, flags=re.M):
        forms.update({i.strip(): form for i in ids.split(",")})
    assert forms == CLAIM_FORMS
    assert set(CLAIM_FORMS) == set(CLAIM_IDS)


@pytest.mark.parametrize("study_id", list_studies())
def test_each_study_has_its_claims_form(study_id):
    study = get_study(study_id)
    assert study.form == CLAIM_FORMS[study_id]
    assert all(part in FORMS for part in study.form.split(" + "))


def test_every_staged_study_has_the_labs_three_doubling_looks():
    staged = {sid: get_study(sid).schedule for sid in list_studies() if get_study(sid).schedule}
    assert len(staged) >= 20  # the empirical studies
    odd = {sid: s for sid, s in staged.items() if s != looks(s[0])}
    assert not odd, f"schedules other than looks(n) = (n, 2n, 4n): {odd}"


def test_looks_doubles_the_first_look():
    assert looks(3) == (3, 6, 12) and looks(5) == (5, 10, 20)

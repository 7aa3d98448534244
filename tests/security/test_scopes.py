"""The scope matrix: every permission, allowed or denied, for each scope form SMART defines."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.security.scopes import (
    EXPLICIT_SCOPE_ONLY,
    INTERACTION_PERMISSION,
    Context,
    ScopeSet,
    parse_scope,
)

PERMISSIONS = "cruds"


def granted(scopes: str, resource_type: str = "Observation") -> str:
    """The permissions `scopes` allow on `resource_type`, in c r u d s order."""
    scope_set = ScopeSet.parse(scopes)
    return "".join(p for p in PERMISSIONS if scope_set.allows(resource_type, p))


@pytest.mark.parametrize("context", ["system", "user"])
@pytest.mark.parametrize("permissions", ["c", "r", "u", "d", "s", "rs", "cu", "cud", "crus", "cruds", "ruds", "cs"])
def test_v2_scopes_grant_exactly_their_permissions(context: str, permissions: str) -> None:
    assert granted(f"{context}/Observation.{permissions}") == permissions
    assert granted(f"{context}/Observation.{permissions}", "ServiceRequest") == ""


@pytest.mark.parametrize("context", ["system", "user"])
@pytest.mark.parametrize(("action", "permissions"), [("read", "rs"), ("write", "cud"), ("*", "cruds")])
def test_v1_scopes_map_onto_v2(context: str, action: str, permissions: str) -> None:
    assert granted(f"{context}/Observation.{action}") == permissions
    assert granted(f"{context}/*.{action}", "CarePlan") == permissions


@pytest.mark.parametrize("scope", ["system/*.cruds", "user/*.cruds", "system/*.*", "user/*.read", "system/*.rs"])
def test_a_wildcard_reaches_every_type_but_audit_event(scope: str) -> None:
    assert granted(scope, "Observation") != ""
    assert granted(scope, "Task") != ""
    assert granted(scope, "AuditEvent") == ""


@pytest.mark.parametrize(
    ("scope", "permissions"),
    [("system/AuditEvent.rs", "rs"), ("user/AuditEvent.read", "rs"), ("system/AuditEvent.s", "s")],
)
def test_only_an_explicit_scope_grants_audit_event(scope: str, permissions: str) -> None:
    assert granted(scope, "AuditEvent") == permissions
    assert granted(f"system/*.cruds {scope}", "AuditEvent") == permissions
    assert "AuditEvent" in EXPLICIT_SCOPE_ONLY


def test_scopes_add_up() -> None:
    assert granted("system/Observation.rs system/Observation.c") == "crs"
    assert granted("system/*.rs system/Observation.cu") == "crus"
    assert granted("system/*.rs", "Observation") == "rs"


def test_patient_scopes_are_parsed_but_grant_nothing_through_allows() -> None:
    scopes = ScopeSet.parse("patient/Observation.rs patient/*.read")
    assert granted("patient/Observation.rs patient/*.read") == ""
    assert scopes.has_patient_scopes
    grants = scopes.grants("Observation", "r")
    assert {scope.raw for scope in grants} == {"patient/Observation.rs", "patient/*.read"}
    assert all(scope.context is Context.PATIENT for scope in grants)
    assert not ScopeSet.parse("system/*.rs").has_patient_scopes


def test_restricted_scopes_are_exposed_but_grant_nothing_through_allows() -> None:
    text = (
        "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|survey&status=final"
    )
    scopes = ScopeSet.parse(text)
    assert granted(text) == ""
    assert scopes.has_restricted_scopes
    (scope,) = scopes.grants("Observation", "s")
    assert scope.query == (
        ("category", "http://terminology.hl7.org/CodeSystem/observation-category|survey"),
        ("status", "final"),
    )
    assert scope.restricted and scope.smart_version == 2


def test_restriction_does_not_hide_an_unrestricted_grant() -> None:
    assert granted("system/Observation.rs?category=survey system/Observation.r") == "r"


@pytest.mark.parametrize(
    "garbled",
    [
        "*.*",
        "*.read",
        "Observation.read",
        "system/Observation.sr",
        "system/Observation.rr",
        "system/Observation.crudsx",
        "system/Observation.x",
        "system/Observation.",
        "system/Observation",
        "system/observation.rs",
        "system/.rs",
        "system/**.rs",
        "system/Obs-ervation.rs",
        "admin/*.cruds",
        "System/*.cruds",
        "system/*.READ",
        "system/*.Write",
        "system/*.cruds/extra",
        "system/Observation.rs?",
        "system/Observation.rs?category",
        "system/Observation.rs?=x",
        "system/Observation.rs?category=",
        "system/Observation.read?category=survey",
        "system//Observation.rs",
        "system/*.cruds\u00a0",
        "system/*.cruds\tuser/*.cruds",
    ],
)
def test_garbled_scopes_grant_nothing(garbled: str) -> None:
    assert parse_scope(garbled) is None
    for resource_type in ("Observation", "AuditEvent"):
        assert granted(garbled, resource_type) == ""
    assert granted(f"{garbled} system/Observation.r") == "r"


def test_other_scopes_are_kept_raw_and_ignored() -> None:
    scopes = ScopeSet.parse("openid fhirUser launch/patient offline_access system/Observation.rs")
    assert scopes.raw == ("openid", "fhirUser", "launch/patient", "offline_access", "system/Observation.rs")
    assert [scope.raw for scope in scopes] == ["system/Observation.rs"]
    assert str(scopes) == "openid fhirUser launch/patient offline_access system/Observation.rs"


def test_scopes_parse_from_a_list_too() -> None:
    assert ScopeSet.parse(["system/Observation.r", "system/Observation.s user/Task.c"]).allows("Task", "c")


def test_empty_scope_set_allows_nothing() -> None:
    for p in PERMISSIONS:
        assert not ScopeSet.empty().allows("Observation", p)
        assert not ScopeSet.parse("").allows("Observation", p)


@pytest.mark.parametrize("permission", ["read", "x", "", "rs", "R"])
def test_allows_takes_one_permission_letter(permission: str) -> None:
    with pytest.raises(ValueError):
        ScopeSet.parse("system/*.cruds").allows("Observation", permission)


def test_interaction_table() -> None:
    assert dict(INTERACTION_PERMISSION) == {
        "create": "c",
        "read": "r",
        "vread": "r",
        "history-instance": "r",
        "update": "u",
        "patch": "u",
        "delete": "d",
        "search-type": "s",
        "search-system": "s",
        "history-type": "s",
        "history-system": "s",
    }
    with pytest.raises(TypeError):
        INTERACTION_PERMISSION["delete"] = "r"  # type: ignore[index]


@given(st.text(alphabet="systemuerpaint/*.AuditEvObsrv?=&cruds ", max_size=60))
def test_no_text_grants_audit_event_without_naming_it(text: str) -> None:
    scopes = ScopeSet.parse(text)
    if "AuditEvent" not in text:
        assert not any(scopes.allows("AuditEvent", p) for p in PERMISSIONS)


@given(st.lists(st.text(max_size=30), max_size=5))
def test_adding_unparsable_words_never_widens(words: list[str]) -> None:
    base = ScopeSet.parse("system/Observation.r")
    unparsable = [w for w in words if all(parse_scope(part) is None for part in w.split())]
    widened = ScopeSet.parse(["system/Observation.r", *unparsable])
    for resource_type in ("Observation", "Task", "AuditEvent"):
        for p in PERMISSIONS:
            assert widened.allows(resource_type, p) == base.allows(resource_type, p)

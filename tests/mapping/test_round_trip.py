"""record -> FHIR -> record gives back every field Dyad holds, unchanged.

Fields a system declares Dyad cannot hold (mapping.json notHeldByDyad) are listed, not returned;
fields held by a wider concept (ConceptMap equivalence other than equal/equivalent, reported
in MappingResult.approximate) may come back as another code. Nothing else may change.
"""

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from service.mapping import MappingCatalog, MappingSystem
from service.mapping.record_schema import NHS_NUMBER_FORMAT, nhs_number_is_valid
from tests.mapping.conftest import SYSTEMS, all_samples, sample, without


def _expected(system: MappingSystem, record: dict[str, Any], approximate: set[str]) -> Any:
    dropped = {n.field for n in system.manifest.not_held_by_dyad} | approximate
    return _prune(without(record, dropped))


def _prune(node: Any) -> Any:
    """Empty lists and objects say nothing; the rendered record leaves them out."""
    if isinstance(node, dict):
        pruned = {k: _prune(v) for k, v in node.items()}
        return {k: v for k, v in pruned.items() if v not in ({}, [], None)}
    if isinstance(node, list):
        return [_prune(v) for v in node]
    return node


def round_trip(system: MappingSystem, record: dict[str, Any]) -> tuple[Any, Any]:
    inbound = system.to_fhir(record)
    assert inbound.ok, inbound.issues
    assert inbound.bundle is not None
    outbound = system.from_fhir(inbound.bundle)
    assert outbound.ok, outbound.issues
    approximate = inbound.approximate | outbound.approximate
    return _expected(system, record, approximate), without(outbound.record, approximate)


@pytest.mark.parametrize(("system_name", "name"), all_samples())
def test_sample_round_trips(catalog: MappingCatalog, system_name: str, name: str) -> None:
    system = catalog.system(system_name)
    expected, back = round_trip(system, sample(system, name))
    assert back == expected


@pytest.mark.parametrize(("system_name", "name"), all_samples())
def test_every_sample_comes_back_exactly(catalog: MappingCatalog, system_name: str, name: str) -> None:
    """`dyad map --from` then `--to`: every field of every sample, nothing listed as lost or approximate."""
    system = catalog.system(system_name)
    record = sample(system, name)
    inbound = system.to_fhir(record)
    assert inbound.ok and inbound.bundle is not None, inbound.issues
    assert (inbound.unmappable, inbound.approximate) == ([], set())
    outbound = system.from_fhir(inbound.bundle)
    assert outbound.ok, outbound.issues
    assert outbound.record == record
    assert outbound.approximate == set()


def test_late_attendance_comes_back_late(catalog: MappingCatalog) -> None:
    system = catalog.system("maternity")
    result = system.to_fhir(sample(system, "postnatal-father-care-plan-ava"))
    assert result.approximate == set()
    assert result.bundle is not None
    back = system.from_fhir(result.bundle).record
    assert back is not None and back["MSD201CareContactPreg"][0]["AttendCode"] == "6"


# --- records generated from each schema -----------------------------------------------------

nhs_numbers = st.integers(min_value=0, max_value=9_999_999).map(lambda n: f"999{n:07d}").filter(nhs_number_is_valid)

# Where each system's record cross-refers by id (test data, from each schema's field names).
LAYOUT = {
    "maternity": {
        "mother": ("MSD001MotherDemog", "LPIDMother", "NHSNumberMother"),
        "infant": ("MSD401BabyDemographics", "LPIDBaby", "NHSNumberBaby"),
        "cg_nhs": "NHSNumberCaregiver",
        "contacts": ("MSD201CareContactPreg", "CareConID"),
        "refs": [("Referrals", "ReferralID", "ReferralTime")],
        "prof": "CareProfLID",
        "careplan": "MSD102MatCarePlan",
        "times": ["CContactTime", "AssessmentTime"],
    },
    "health-visiting": {
        "mother": None,
        "infant": ("Child", "LocalPatientId", "NHSNumber"),
        "cg_nhs": "NHSNumber",
        "contacts": ("CYP201CareContact", "CareContactID"),
        "refs": [
            ("CYP101Referral", "ServiceRequestID", "ReferralRequest_ReceivedTime"),
            ("OnwardReferrals", "ServiceRequestID", "ReferralTime"),
        ],
        "prof": "CareProfLocalID",
        "careplan": "CarePlan",
        "times": ["Contact_Time", "AssessmentTime"],
    },
    "perinatal-mental-health": {
        "mother": ("MHS001MPI", "LocalPatientId", "NHSNumber"),
        "infant": ("Baby", "LPIDBaby", "NHSNumberBaby"),
        "cg_nhs": "NHSNumberCaregiver",
        "contacts": ("MHS201CareContact", "CareContactId"),
        "refs": [("MHS101Referral", "ServiceRequestId", "ReferralRequestReceivedTime")],
        "prof": "CareProfLocalID",
        "careplan": "CarePlan",
        "times": ["CareContTime", "AssessmentTime"],
    },
}


def make_consistent(name: str, record: dict[str, Any], pick: st.DrawFn) -> dict[str, Any]:
    """Give a generated record what a real one has: unique ids, and cross-references to ids it contains."""
    layout = LAYOUT[name]
    counter = iter(range(10_000))

    def fresh(prefix: str) -> str:
        return f"{prefix}{next(counter)}"

    nhs_used: set[str] = set()

    def unique_nhs(holder: dict[str, Any], key: str) -> None:
        if key in holder:
            number = holder[key]
            while number in nhs_used:
                number = pick(nhs_numbers)
            holder[key] = number
            nhs_used.add(number)

    people: list[str] = []
    if layout["mother"]:
        table, id_field, nhs = layout["mother"]
        record[table][id_field] = fresh("M")
        people.append(record[table][id_field])
        unique_nhs(record[table], nhs)
    table, id_field, nhs = layout["infant"]
    babies = record[table] if isinstance(record[table], list) else [record[table]]
    for baby in babies:
        baby[id_field] = fresh("B")
        unique_nhs(baby, nhs)
        if "PersonBirthDateBaby" in babies[0]:
            baby["PersonBirthDateBaby"] = babies[0]["PersonBirthDateBaby"]  # a multiple birth: one day
        else:
            baby.pop("PersonBirthDateBaby", None)
    _which_baby(record, layout, [b[id_field] for b in babies] if len(babies) > 1 else [], pick)
    for caregiver in record.get("Caregivers", []):
        caregiver["CaregiverLocalID"] = fresh("C")
        people.append(caregiver["CaregiverLocalID"])
        unique_nhs(caregiver, layout["cg_nhs"])
    if not people:
        record["Caregivers"] = [{"CaregiverLocalID": fresh("C")}]
        people.append(record["Caregivers"][0]["CaregiverLocalID"])
    contact_table, contact_id = layout["contacts"]
    contacts = record.get(contact_table, [])
    for contact in contacts:
        contact[contact_id] = fresh("E")
    contact_ids = [c[contact_id] for c in contacts]
    names: dict[str, str] = {}
    assessments = record.get("RelationshipAssessments", [])
    for assessment in assessments:
        assessment["AssessmentID"] = fresh("A")
        assessment["CaregiverLocalID"] = pick(st.sampled_from(people))
        if contact_id in assessment:
            if contact_ids:
                assessment[contact_id] = pick(st.sampled_from(contact_ids))
            else:
                del assessment[contact_id]
        # One professional, one name.
        prof = assessment.get(layout["prof"])
        if prof is None:
            continue  # recorded by the service, not a named professional
        if "AssessorName" in assessment:
            assessment["AssessorName"] = names.setdefault(prof, assessment["AssessorName"])
        elif prof in names:
            assessment["AssessorName"] = names[prof]
    for assessment in assessments:
        if assessment.get(layout["prof"]) in names:
            assessment["AssessorName"] = names[assessment[layout["prof"]]]
    assessment_ids = [a["AssessmentID"] for a in assessments]

    def refer(holder: dict[str, Any], key: str, pool: list[str], required: bool) -> None:
        if key not in holder and not required:
            return
        if not pool:
            holder.pop(key, None)
            return
        holder[key] = [pick(st.sampled_from(pool)) for _ in holder.get(key) or [None]]

    for ref_table, ref_id, _ in layout["refs"]:
        for referral in record.get(ref_table, []):
            referral[ref_id] = fresh("R")
            refer(referral, "CaregiverLocalIDs", people, True)
            refer(referral, "ReasonAssessmentIDs", assessment_ids, "ReasonAssessmentIDs" in referral)
            if referral.get("ReferralStatus") != "rejected":
                # Only a rejected referral has a rejection date; Dyad renders it from a rejected task only.
                for field in [k for k in referral if "RejectionDate" in k]:
                    referral.pop(field)
            if ref_table == "OnwardReferrals" and referral["OrgID_Receiving"] == record["OrgID_Provider"]:
                referral["OrgID_Receiving"] = (
                    "ZZZ" if record["OrgID_Provider"] != "ZZZ" else "YYY"
                )  # made out: to another service
        if name != "perinatal-mental-health":
            record[ref_table] = [r for r in record.get(ref_table, []) if r.get("ReasonAssessmentIDs")]
    plan = record.get(layout["careplan"])
    if plan:
        plan["CarePlanID"] = fresh("P")
        refer(plan, "CaregiverLocalIDs", people, True)
        for goal in plan["Goals"]:
            goal["GoalID"] = fresh("G")
            goal["ExpressedBy"] = pick(st.sampled_from(people))
            refer(goal, "AddressesAssessmentIDs", assessment_ids, False)
    return record


def _which_baby(record: dict[str, Any], layout: dict[str, Any], babies: list[str], pick: st.DrawFn) -> None:
    """Rows say which baby they are about (LPIDBaby) when, and only when, the record holds several."""
    rows = [*record.get(layout["contacts"][0], []), *record.get("RelationshipAssessments", [])]
    rows += [r for table, _, _ in layout["refs"] for r in record.get(table, [])]
    if isinstance(record.get(layout["careplan"]), dict):
        rows.append(record[layout["careplan"]])
    for row in rows:
        if babies:
            row["LPIDBaby"] = pick(st.sampled_from(babies))
        else:
            row.pop("LPIDBaby", None)


def _exists_in_london(day: str, clock: str) -> bool:
    local = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=ZoneInfo("Europe/London"))
    return local.astimezone(ZoneInfo("UTC")).astimezone(ZoneInfo("Europe/London")).replace(
        tzinfo=None
    ) == local.replace(tzinfo=None)


def _local_times_exist(name: str, record: dict[str, Any]) -> bool:
    """Clock times skipped when UK clocks go forward do not exist; a record holding one is ambiguous."""
    layout = LAYOUT[name]
    pairs = []
    contact_table, _ = layout["contacts"]
    for contact in record.get(contact_table, []):
        date_field = next(k for k in contact if k.endswith("Date"))
        pairs.append((contact.get(date_field), contact.get(layout["times"][0])))
    for assessment in record.get("RelationshipAssessments", []):
        pairs.append((assessment["AssessmentDate"], assessment.get("AssessmentTime")))
    for ref_table, _, time_field in layout["refs"]:
        for referral in record.get(ref_table, []):
            date_field = next(k for k in referral if k.endswith("Date") and "Closure" not in k and "Rejection" not in k)
            pairs.append((referral[date_field], referral.get(time_field)))
    return all(_exists_in_london(d, t) for d, t in pairs if d and t)


# hypothesis-jsonschema 0.23.1 calls Hypothesis internals this Hypothesis no longer has, so the
# records are drawn by this small reader of the schema subset the mapping schemas use.
dates = st.dates(min_value=date(1950, 1, 1), max_value=date(2049, 12, 31)).map(date.isoformat)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):  # one row as an object, or several as a list of them (maternity's babies)
        return st.one_of(
            *[
                from_schema(
                    {**schema, "type": k, "items": {**schema, "type": "object"}}
                    if k == "array"
                    else {**schema, "type": k}
                )
                for k in kind
            ]
        )
    if kind == "object":
        return _objects(schema)
    if kind == "array":
        return st.lists(from_schema(schema["items"]), min_size=schema.get("minItems", 0), max_size=3)
    if kind == "integer":
        return st.integers(schema.get("minimum", 0), schema.get("maximum", 1000))
    if schema.get("format") == NHS_NUMBER_FORMAT:
        return nhs_numbers
    if schema.get("format") == "date":
        return dates
    strings = st.from_regex(schema["pattern"], fullmatch=True) if "pattern" in schema else st.text(min_size=1)
    return strings.filter(lambda v: schema.get("minLength", 0) <= len(v) <= schema.get("maxLength", 10_000))


def _objects(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties, required = schema["properties"], set(schema.get("required", []))

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        chosen = {k for k in properties if k in required or draw(st.booleans())}
        for trigger, needed in (schema.get("dependentRequired") or {}).items():
            if trigger in chosen:
                chosen |= set(needed)
        out = {k: draw(from_schema(properties[k])) for k in properties if k in chosen}
        condition, then = schema.get("if"), schema.get("then")
        if condition and then and all("const" in v for v in condition["properties"].values()):
            consts = {k: v["const"] for k, v in condition["properties"].items()}
            if all(out.get(k) == v for k, v in consts.items()):
                for k in then["required"]:
                    out.setdefault(k, draw(from_schema(properties[k])))
        return out

    return build()


@st.composite
def records(draw: st.DrawFn, system: MappingSystem) -> dict[str, Any]:
    raw = draw(from_schema(system.schema.schema))
    return make_consistent(system.name, raw, draw)


@pytest.mark.parametrize("system_name", SYSTEMS)
def test_generated_records_round_trip(catalog: MappingCatalog, system_name: str) -> None:
    system = catalog.system(system_name)

    # Shrinking these records takes minutes; a failure prints the unshrunk record instead.
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )
    @given(records(system))
    def check(record: dict[str, Any]) -> None:
        assume(not system.schema.check(record))
        assume(_local_times_exist(system_name, record))
        expected, back = round_trip(system, record)
        assert back == expected

    check()

"""QuestionnaireResponse → relationship Observations, by the fpml template in templates/.

The template is data so that a change of question or of profile is a reviewed data change,
beside the Questionnaire and profile it joins, not a change to Python.
"""

import json
from pathlib import Path
from typing import Any

from fpml import FPMLValidationError, resolve_template

from service.conformance.admission import Admission
from service.conformance.issues import InvalidResource, Issue
from service.pathway.expressions import template_evaluate

PROMPTS_QUESTIONNAIRE = "https://w3id.org/dyad/fhir/Questionnaire/dyad-relationship-prompts"
TEMPLATE = Path(__file__).parent / "templates" / "relationship-observation.json"
EXTRACTABLE_STATUSES = frozenset({"completed", "amended"})


def answers_prompts(response: dict[str, Any]) -> bool:
    canonical = str(response.get("questionnaire") or "")
    return canonical.split("|", 1)[0] in (PROMPTS_QUESTIONNAIRE, "Questionnaire/dyad-relationship-prompts")


def extractable(response: dict[str, Any]) -> bool:
    return answers_prompts(response) and response.get("status") in EXTRACTABLE_STATUSES


class Extractor:
    def __init__(self, admission: Admission, template_path: Path = TEMPLATE) -> None:
        self.admission = admission
        self.template = json.loads(template_path.read_text())

    def observations(self, response: dict[str, Any], source: str) -> list[dict[str, Any]]:
        """One profiled Observation per caregiver assessed; 422 when the response cannot make them.

        source is the response's reference (QuestionnaireResponse/<id>), for derivedFrom.
        """
        if not answers_prompts(response):
            raise _unprocessable(
                "Only responses to the relationship prompts Questionnaire can be extracted", "questionnaire"
            )
        check_one_caregiver(response)
        if response.get("status") not in EXTRACTABLE_STATUSES:
            raise _unprocessable("Only a completed (or amended) response is extracted", "status")
        try:
            built = resolve_template(response, self.template, {"source": source}, evaluate=template_evaluate)
        except FPMLValidationError as exc:
            raise _unprocessable(f"The extraction template failed: {exc}", None) from None
        observations = [o for o in (built or []) if isinstance(o, dict)]
        if not observations:
            raise _unprocessable("The response names no caregiver (assessment.caregiver)", "item")
        for observation in observations:
            try:
                self.admission.admit(observation, "Observation")
            except InvalidResource as broken:
                raise InvalidResource(
                    [
                        Issue(i.severity, i.code, f"Extracted Observation: {i.message}", i.expression)
                        for i in broken.issues
                    ],
                    status=422,
                ) from None
        return observations


def _caregiver_answers(items: list[dict[str, Any]]) -> list[Any]:
    found: list[Any] = []
    for item in items:
        if item.get("linkId") == "assessment.caregiver":
            found += item.get("answer") or []
        found += _caregiver_answers(item.get("item") or [])
    return found


def check_one_caregiver(response: dict[str, Any]) -> None:
    """422 unless the response assesses at most one caregiver: `assessment.caregiver` does not repeat,
    and one set of ratings given to two people would record for one what was seen of the other."""
    if len(_caregiver_answers(response.get("item") or [])) > 1:
        raise _unprocessable(
            "A prompts response assesses one caregiver (assessment.caregiver does not repeat): "
            "record one response per caregiver",
            "item",
        )


def withdrawn(stored: dict[str, Any]) -> dict[str, Any] | None:
    """The Observation extracted for a caregiver the amended response no longer names: entered in error."""
    if stored.get("status") == "entered-in-error":
        return None
    return {**stored, "status": "entered-in-error"}


def revision_of(stored: dict[str, Any], extracted: dict[str, Any]) -> dict[str, Any] | None:
    """What to store when `extracted` comes again for an Observation already `stored`: None when
    it says nothing new, else the new content as an `amended` revision of the stored one.

    Each Observation is keyed on its response and caregiver, so an amended response revises
    the Observation of the same caregiver, never another caregiver's.
    """
    if _clinical(stored) == _clinical(extracted):
        return None
    return {**extracted, "id": stored.get("id"), "status": "amended"}


def _clinical(observation: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in observation.items() if k not in ("id", "meta", "status")}


def _unprocessable(message: str, expression: str | None) -> InvalidResource:
    return InvalidResource(
        [Issue("error", "processing", message, f"QuestionnaireResponse.{expression}" if expression else None)],
        status=422,
    )

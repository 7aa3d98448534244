"""The resource types Dyad stores."""

CLINICAL_TYPES: tuple[str, ...] = (
    "Patient",
    "RelatedPerson",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "HealthcareService",
    "CareTeam",
    "EpisodeOfCare",
    "Encounter",
    "Observation",
    "ServiceRequest",
    "CarePlan",
    "Goal",
    "Task",
    "Communication",
    "Questionnaire",
    "QuestionnaireResponse",
    "Consent",
    "Provenance",
    "AuditEvent",
    "Subscription",
)

CONFORMANCE_TYPES: tuple[str, ...] = (
    "StructureDefinition",
    "ValueSet",
    "CodeSystem",
    "ConceptMap",
    "SearchParameter",
    "ImplementationGuide",
)

SUPPORTED_TYPES: frozenset[str] = frozenset(CLINICAL_TYPES + CONFORMANCE_TYPES)

# What profiles/ may hold and Dyad installs at start: the conformance types and the
# Questionnaires the guide defines.
DEFINITION_TYPES: tuple[str, ...] = CONFORMANCE_TYPES + ("Questionnaire",)

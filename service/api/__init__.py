"""The FHIR REST layer: routers, Bundle processing, operations, OperationOutcome. Knows HTTP, not SQL."""

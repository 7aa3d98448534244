"""Dyad's compiled forms agree with the reference implementations on every mapping.

- Templates: service.mapping.templates must give exactly what fpml.resolve_template gives.
- Expressions: the compiled FHIRPath subset must give what fhirpathpy gives. fhirpathpy reads a
  capitalised name after a dot as a resource-type filter and fails on objects without
  resourceType, so it cannot read the data sets' field names (`%record.OrgIDProvider`); those
  expressions run only on the compiled path, every other one is checked against fhirpathpy.
"""

import re
from typing import Any

import pytest
from fpml import resolve_template

from service.mapping import MappingCatalog, MappingSystem
from service.mapping.expressions import unseal
from service.mapping.template_functions import RunState, end_run, start_run
from service.mapping.templates import compile_template
from tests.mapping.conftest import SYSTEMS


def _inputs(system: MappingSystem) -> list[tuple[Any, Any, dict[str, Any], str]]:
    """(template, root, variables, salt) for every sample, both directions."""
    runs = []
    for record in system.samples().values():
        runs.append((system.inbound_template, record, {"record": record}, f"{system.name}|{record['RecordID']}"))
        bundle = system.to_fhir(record).bundle
        assert bundle is not None
        resources = [e["resource"] for e in bundle["entry"]]
        candidates = system.compiler.compiled(system.manifest.subject_candidates)
        subject = _in_run(system, "", bundle, lambda: candidates(None, {"resources": resources}))[0]
        runs.append((system.outbound_template, subject, {"resources": resources, "subject": subject, "organisation": None, "bundle": bundle}, ""))
    return runs


def _in_run(system: MappingSystem, salt: str, bundle: dict[str, Any] | None, work: Any) -> Any:
    run = RunState(system.translator, salt=salt)
    if bundle is not None:
        run.index_bundle(bundle)
    token = start_run(run)
    try:
        return work()
    finally:
        end_run(token)


@pytest.mark.parametrize("system_name", SYSTEMS)
def test_compiled_templates_match_fpml(catalog: MappingCatalog, system_name: str) -> None:
    system = catalog.system(system_name)
    for template, root, variables, salt in _inputs(system):
        bundle = variables.pop("bundle", None)
        ours = _in_run(system, salt, bundle, lambda: compile_template(template, system.compiler.compiled)(root, variables))
        reference = _in_run(
            system, salt, bundle, lambda: unseal(resolve_template(root, template, variables, evaluate=system.compiler.evaluate))
        )
        assert ours == reference


@pytest.mark.parametrize("system_name", SYSTEMS)
def test_compiled_expressions_match_fhirpathpy(catalog: MappingCatalog, system_name: str) -> None:
    system = catalog.system(system_name)
    compiler = system.compiler
    checked: set[str] = set()
    unreadable: set[str] = set()

    def differential(expression: str) -> Any:
        fast = compiler.compiled(expression)
        # Without a model fhirpathpy's ofType() finds nothing; on resources it means this.
        slow = compiler.compile_with_fhirpathpy(re.sub(r"ofType\((\w+)\)", r"where(resourceType = '\1')", expression))

        def both(resource: Any, variables: dict[str, Any]) -> list[Any]:
            result = fast(resource, variables)
            try:
                expected = slow(resource, variables)
            except KeyError as exc:
                assert exc.args == ("resourceType",), expression
                unreadable.add(expression)
            else:
                assert result == expected, expression
                checked.add(expression)
            return result

        return both

    for template, root, variables, salt in _inputs(system):
        bundle = variables.pop("bundle", None)
        _in_run(system, salt, bundle, lambda: compile_template(template, differential)(root, variables))
    assert len(checked) > 80
    assert not compiler.fallbacks, "every template expression should compile to the fast path"

"""Dyad's compiled forms agree with the reference implementations on every mapping.

- Templates: service.mapping.templates must give exactly what fpml.resolve_template gives.
- Expressions: service.fhirpath must give what fhirpathpy (an independent implementation) gives.
  fhirpathpy reads a capitalised name after a dot as a resource-type filter and fails on objects
  without resourceType, so it cannot read the data sets' field names (`%record.OrgIDProvider`);
  those expressions are checked by the template tests only, every other one against fhirpathpy.
"""

import re
from collections.abc import Callable
from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.engine.util import get_data
from fpml import resolve_template

from service.mapping import MappingCatalog, MappingSystem
from service.mapping.expressions import MappingFunction, _open, _plain, unseal
from service.mapping.template_functions import FUNCTIONS, RunState, end_run, start_run
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
        runs.append(
            (
                system.outbound_template,
                subject,
                {"resources": resources, "subject": subject, "organisation": None, "bundle": bundle},
                "",
            )
        )
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
        ours = _in_run(
            system, salt, bundle, lambda: compile_template(template, system.compiler.compiled)(root, variables)
        )
        reference = _in_run(
            system,
            salt,
            bundle,
            lambda: unseal(resolve_template(root, template, variables, evaluate=system.compiler.evaluate)),
        )
        assert ours == reference


def _plain_arguments(fn: MappingFunction) -> MappingFunction:
    """fhirpathpy hands arguments over as node collections; the mapping functions take values."""

    def call(inputs: list[Any], *args: Any) -> list[Any]:
        plain = [
            get_data(a[0]) if isinstance(a, list) and len(a) == 1 else None if isinstance(a, list) else get_data(a)
            for a in args
        ]
        return fn(inputs, *plain)

    return call


_FHIRPATHPY_OPTIONS = {
    "userInvocationTable": {
        name: {"fn": _plain_arguments(fn), "arity": {arity: ["Any"] * arity}} if arity else {"fn": fn}
        for name, (fn, arity) in FUNCTIONS.items()
    }
}


def fhirpathpy_expression(expression: str) -> Callable[[Any, dict[str, Any]], list[Any]]:
    compiled = fhirpathpy.compile(expression, None, _FHIRPATHPY_OPTIONS)
    return lambda resource, context: compiled(_open(resource), _plain(context))


@pytest.mark.parametrize("system_name", SYSTEMS)
def test_compiled_expressions_match_fhirpathpy(catalog: MappingCatalog, system_name: str) -> None:
    system = catalog.system(system_name)
    compiler = system.compiler
    checked: set[str] = set()
    unreadable: set[str] = set()

    def differential(expression: str) -> Any:
        fast = compiler.compiled(expression)
        # Without a model fhirpathpy's ofType() finds nothing; on resources it means this.
        slow = fhirpathpy_expression(re.sub(r"ofType\((\w+)\)", r"where(resourceType = '\1')", expression))

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

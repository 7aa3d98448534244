"""A profile may narrow a choice element (value[x]) to some of its types."""

from dataclasses import dataclass

from service.conformance.validation.base_types import choice_type_of
from service.conformance.validation.elements import Context, Located


@dataclass(frozen=True, slots=True)
class ChoiceTypes:
    element: str  # 'value[x]'
    allowed: frozenset[str]  # FHIR type codes: 'CodeableConcept', 'dateTime'

    def __call__(self, items: list[Located], parent_path: str, ctx: Context) -> None:
        for _value, path in items:
            key = path.rsplit(".", 1)[1].split("[", 1)[0]
            found = choice_type_of(key, self.element)
            if found not in self.allowed:
                ctx.report(
                    "error",
                    "structure",
                    f"{self.element} is limited by the profile to {', '.join(sorted(self.allowed))}; "
                    f"{found} is not allowed",
                    path,
                )

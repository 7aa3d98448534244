"""min/max of an element within each occurrence of its parent."""

from dataclasses import dataclass

from service.conformance.validation.elements import Context, Located


@dataclass(frozen=True, slots=True)
class Cardinality:
    element: str  # profiled name, for messages: 'performer', 'effective[x]'
    min: int
    max: int | None  # None = unbounded

    def __call__(self, items: list[Located], parent_path: str, ctx: Context) -> None:
        count = len(items)
        if count < self.min:
            ctx.report(
                "error",
                "required",
                f"{parent_path}.{self.element} is required at least {self.min} time(s) by the "
                f"profile, but {'is missing' if count == 0 else f'occurs {count} time(s)'}",
                f"{parent_path}.{self.element}",
            )
        if self.max is not None and count > self.max:
            excess_path = items[self.max][1]
            ctx.report(
                "error",
                "structure",
                f"{parent_path}.{self.element} is allowed at most {self.max} time(s) by the profile, "
                f"but occurs {count} times",
                excess_path,
            )


def parse_max(value: str | None) -> int | None:
    return None if value in (None, "*") else int(value)

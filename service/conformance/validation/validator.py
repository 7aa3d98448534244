"""The Validator: every profile in the package compiled once, then applied per resource."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.conformance.issues import Issue
from service.conformance.package import ProfilePackage
from service.conformance.terminology import Terminology
from service.conformance.validation.compile import Compiler
from service.conformance.validation.core import ExtensionUse, shared_core
from service.conformance.validation.definitions import build_tree
from service.conformance.validation.elements import Context, ElementRule, apply_to_items


@dataclass(frozen=True, slots=True)
class Assessment:
    """What is wrong with a resource: `structure` makes it malformed (400 on write), `rules` breaks
    a constraint, binding, extension or profile rule (422 on write)."""

    structure: list[Issue]
    rules: list[Issue]

    @property
    def issues(self) -> list[Issue]:
        return self.structure + self.rules

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity in ("error", "fatal")]


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    url: str
    type: str
    rule: ElementRule
    name: str = ""


def _canonical(url: str) -> str:
    return url.split("|", 1)[0]


class Validator:
    def __init__(
        self,
        package: ProfilePackage,
        *,
        profiles_dir: Path = Path("profiles"),
        terminology: Terminology | None = None,
        best_practice: bool = False,
    ) -> None:
        self.terminology = terminology or Terminology(package)
        definitions = {sd["url"]: sd for sd in package.of_type("StructureDefinition") if sd.get("url")}
        compiler = Compiler(self.terminology, {url: sd.get("type", "") for url, sd in definitions.items()})
        self.profiles: dict[str, CompiledProfile] = {}
        extensions: dict[str, ExtensionUse] = {}
        for url, sd in definitions.items():
            if sd.get("derivation") != "constraint" or sd.get("kind") == "logical":
                continue
            tree = build_tree(_differential_chain(sd, definitions), sd["type"])
            rule = compiler.root_rule(tree, sd["type"])
            if sd["type"] == "Extension":
                contexts = frozenset(c.get("expression", "") for c in sd.get("context") or [])
                extensions[url] = ExtensionUse(contexts, rule)
            else:
                self.profiles[url] = CompiledProfile(url, sd["type"], rule, sd.get("name", ""))
        self.problems: tuple[str, ...] = tuple(compiler.problems)
        self.extensions = extensions
        self.core = shared_core(best_practice)
        del profiles_dir  # the base rules now come from the R4 core definitions

    def validate(self, resource: dict[str, Any], profiles: Sequence[str] | None = None) -> list[Issue]:
        """Every issue found: the R4 core (structure, formats, constraints, bindings,
        extensions) and the profiles asked for (None: those the resource claims)."""
        return self.assess(resource, profiles).issues

    def assess(self, resource: dict[str, Any], profiles: Sequence[str] | None = None) -> Assessment:
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            return Assessment([Issue("error", "structure", "Not a FHIR resource: resourceType is missing", None)], [])
        res_type = resource["resourceType"]
        ctx = Context(resource, extensions=self.extensions)
        try:
            self.core.validate(resource, ctx)
        except RecursionError:
            ctx.structure.append(Issue("error", "structure", "The resource nests too deeply to be checked", res_type))
            return Assessment(ctx.structure, [])
        try:
            self._apply_profiles(resource, res_type, profiles, ctx)
        except Exception:
            if not ctx.structure:
                raise  # on a well-formed resource a failing rule is a bug: let it surface
        return Assessment(ctx.structure, ctx.issues)

    def profile_issues(self, resource: dict[str, Any], profiles: Sequence[str]) -> list[Issue]:
        """The profiles' issues alone, for a resource whose core issues are already known (a
        Bundle entry, walked with its Bundle)."""
        ctx = Context(resource, extensions=self.extensions)
        try:
            self._apply_profiles(resource, resource["resourceType"], profiles, ctx)
        except Exception as exc:
            ctx.report(
                "error",
                "exception",
                f"the profiles' rules could not be applied ({type(exc).__name__}); fix the structural errors first",
                resource["resourceType"],
            )
        return ctx.issues

    def _apply_profiles(
        self, resource: dict[str, Any], res_type: str, profiles: Sequence[str] | None, ctx: Context
    ) -> None:
        for url in self._profiles_to_check(resource, profiles, ctx):
            compiled = self.profiles[url]
            if compiled.type != res_type:
                ctx.report("error", "invalid", f"profile {url} is for {compiled.type}, not {res_type}", res_type)
                continue
            apply_to_items(compiled.rule, [(resource, res_type)], ctx)

    def _profiles_to_check(self, resource: dict[str, Any], requested: Sequence[str] | None, ctx: Context) -> list[str]:
        if requested is None:
            meta = resource.get("meta")
            requested = meta.get("profile") or [] if isinstance(meta, dict) else []
        known = []
        for url in requested:
            if not isinstance(url, str):
                continue
            canonical = _canonical(url)
            if canonical in self.profiles:
                if canonical not in known:
                    known.append(canonical)
            else:
                ctx.report(
                    "warning",
                    "not-supported",
                    f"profile {url} is not known to Dyad, so the resource was not checked against it",
                    f"{resource['resourceType']}.meta.profile",
                )
        return known


def _differential_chain(sd: dict[str, Any], definitions: dict[str, dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Differentials from the package's most basic ancestor down to this profile."""
    chain: list[list[dict[str, Any]]] = []
    seen: set[str] = set()
    current: dict[str, Any] | None = sd
    while current is not None and current.get("url") not in seen:
        seen.add(current["url"])
        chain.append((current.get("differential") or {}).get("element") or [])
        current = definitions.get(_canonical(current.get("baseDefinition", "")))
    return list(reversed(chain))


__all__ = ["Assessment", "CompiledProfile", "Validator"]

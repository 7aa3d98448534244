// Guide: the implementation guide this server enforces, read from its own FHIR API and package.
// One view per query: none (the contents), ?profile=, ?valueset=, ?codesystem=, ?conceptmap= (each
// a canonical URL) or ?example=Type/id, so any of them can be linked to directly.
import { el, fhir, renderFailure, renderNav, requireSignIn } from "./console.js";
import { guideInfo, packageExample } from "./package.js";

const view = document.getElementById("guide");
const LIST_ELEMENTS = "url,name,title,type,kind,derivation,status,description";

const link = (kind, url) => `/console/guide?${kind}=${encodeURIComponent(url)}`;

// All resources of a type the server holds (the guide's are a few dozen: one page is enough).
async function all(type, elements = "url,name,title,description") {
  const response = await fhir(`${type}?_count=1000&_elements=${elements}`);
  if (response.status !== 200) throw response;
  return (response.body.entry || []).map((e) => e.resource).sort((a, b) => label(a).localeCompare(label(b)));
}

async function byUrl(type, url) {
  const response = await fhir(`${type}?url=${encodeURIComponent(url)}`);
  if (response.status !== 200) throw response;
  const found = response.body.entry && response.body.entry[0];
  return found ? found.resource : null;
}

function label(resource) {
  return resource.title || resource.name || resource.url || resource.id;
}

function title(text, ...rest) {
  document.title = `${text} · Guide · Dyad console`;
  return [el("p", { className: "muted" }, el("a", { href: "/console/guide" }, "Guide"), " › ", ...rest), el("h1", {}, text)];
}

function canonical(url) {
  return el("p", {}, "Canonical URL: ", el("code", { className: "mono" }, url));
}

// ---- contents ----

async function contents() {
  const [guide, structures, valueSets, codeSystems, conceptMaps] = await Promise.all([
    guideInfo(),
    all("StructureDefinition", LIST_ELEMENTS),
    all("ValueSet"),
    all("CodeSystem"),
    all("ConceptMap"),
  ]);
  const profiles = structures.filter((sd) => sd.derivation === "constraint" && sd.type !== "Extension");
  const extensions = structures.filter((sd) => sd.type === "Extension");
  const section = (id, heading, items, hint) =>
    el(
      "section",
      { "aria-labelledby": id },
      el("h2", { id }, `${heading} (${items.length})`),
      hint ? el("p", { className: "hint" }, hint) : null,
      el("ul", { className: "guide-list" }, items),
    );
  const item = (kind, resource, extra) =>
    el("li", {}, el("a", { href: link(kind, resource.url) }, label(resource)), extra ? el("span", { className: "muted" }, ` — ${extra}`) : null);
  view.replaceChildren(
    el("h1", {}, guide ? guide.title : "Implementation guide"),
    guide ? el("p", {}, guide.description) : null,
    guide
      ? el(
          "p",
          {},
          el("a", { href: guide.download, className: "button", download: `${guide.packageId}-${guide.version}.tgz` }, `Download the package ${guide.packageId} ${guide.version}`),
          " ",
          el("span", { className: "muted" }, `(FHIR NPM package; registry metadata at /packages/${guide.packageId})`),
        )
      : null,
    section("profiles", "Profiles", profiles.map((sd) => item("profile", sd, sd.type))),
    section("extensions", "Extensions", extensions.map((sd) => item("profile", sd))),
    section("valuesets", "ValueSets", valueSets.map((vs) => item("valueset", vs))),
    section("codesystems", "CodeSystems", codeSystems.map((cs) => item("codesystem", cs))),
    section("conceptmaps", "ConceptMaps", conceptMaps.map((cm) => item("conceptmap", cm)), "How the local systems' codes map to and from Dyad's."),
    section(
      "examples",
      "Examples",
      (guide ? guide.examples : []).map((ex) => el("li", {}, el("a", { href: `/console/guide?example=${encodeURIComponent(ex.reference)}` }, ex.name))),
    ),
  );
}

// ---- a profile ----

// An element id that may break after its dots and colons, not inside a name.
function elementId(id) {
  return el("code", { className: "mono element-id" }, id.split(/(?<=[.:])/).flatMap((part, i) => [i ? el("wbr") : null, part]));
}

function cardinality(element) {
  if (element.min === undefined && element.max === undefined) return "";
  return `${element.min ?? "·"}..${element.max ?? "·"}`;
}

function typeCell(element, known) {
  return (element.type || []).map((type, i) => {
    const targets = [...(type.targetProfile || []), ...(type.profile || [])];
    const parts = [type.code];
    if (targets.length) {
      parts.push(
        "(",
        ...targets.flatMap((url, j) => [
          j ? " | " : "",
          known.has(url) ? el("a", { href: link("profile", url) }, known.get(url)) : url.replace(/^.*\//, ""),
        ]),
        ")",
      );
    }
    return el("span", {}, i ? " | " : "", ...parts);
  });
}

function bindingCell(element, valueSets) {
  const binding = element.binding;
  if (!binding) return "";
  const url = (binding.valueSet || "").split("|")[0];
  const name = valueSets.get(url);
  return el(
    "span",
    {},
    el("span", { className: "strength" }, binding.strength),
    " ",
    name ? el("a", { href: link("valueset", url) }, name) : el("code", {}, url),
    binding.description ? el("span", { className: "muted" }, ` — ${binding.description}`) : null,
  );
}

function constraintsCell(element) {
  return (element.constraint || []).flatMap((c, i) => [i ? ", " : "", el("a", { href: `#constraint-${c.key}` }, c.key)]);
}

// Every invariant of the profile in one table: its key, where it sits, the rule in words and in FHIRPath.
function constraintsTable(elements) {
  const rows = elements.flatMap((element) =>
    (element.constraint || []).map((c) =>
      el(
        "tr",
        { id: `constraint-${c.key}` },
        el("th", { scope: "row" }, c.key),
        el("td", {}, c.severity || ""),
        el("td", {}, elementId(element.id || element.path)),
        el("td", {}, c.human || ""),
        el("td", {}, el("code", { className: "mono" }, c.expression || "")),
      ),
    ),
  );
  if (!rows.length) return null;
  return el(
    "table",
    { id: "constraints" },
    el("caption", {}, "Constraints (invariants)"),
    el("thead", {}, el("tr", {}, ["Key", "Severity", "On", "Rule", "FHIRPath"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows),
  );
}

function valueCell(element) {
  const found = Object.entries(element).find(([key]) => /^(fixed|pattern)[A-Z]/.test(key));
  if (!found) return element.short || "";
  const [key, value] = found;
  return el("span", {}, element.short ? `${element.short} ` : "", el("span", { className: "muted" }, `${key.startsWith("fixed") ? "fixed" : "pattern"}: `), el("code", { className: "mono" }, JSON.stringify(value)));
}

async function profile(url) {
  const [sd, structures, valueSets, guide] = await Promise.all([
    byUrl("StructureDefinition", url),
    all("StructureDefinition", LIST_ELEMENTS),
    all("ValueSet"),
    guideInfo(),
  ]);
  if (!sd) return missing("profile", url);
  const known = new Map(structures.map((s) => [s.url, label(s)]));
  const vsNames = new Map(valueSets.map((v) => [v.url, label(v)]));
  const elements = (sd.differential && sd.differential.element) || [];
  const rows = elements.map((element) =>
    el(
      "tr",
      { id: `element-${element.id}` },
      el("th", { scope: "row" }, elementId(element.id || element.path)),
      el("td", {}, cardinality(element)),
      el("td", {}, typeCell(element, known)),
      el("td", {}, bindingCell(element, vsNames)),
      el("td", {}, constraintsCell(element)),
      el("td", {}, valueCell(element)),
    ),
  );
  const examples = guide ? guide.examples.filter((ex) => ex.profile === sd.url) : [];
  const base = sd.baseDefinition || "";
  view.replaceChildren(
    ...title(label(sd), sd.type === "Extension" ? "Extension" : "Profile"),
    el("p", {}, sd.description || ""),
    canonical(sd.url),
    el(
      "p",
      {},
      `${sd.type === "Extension" ? "Extension" : `Profile of ${sd.type}`}, based on `,
      known.has(base) ? el("a", { href: link("profile", base) }, known.get(base)) : el("code", { className: "mono" }, base),
      ". ",
      sd.type === "Extension" ? null : el("a", { href: `/console/validate?profile=${encodeURIComponent(sd.url)}` }, "Validate a resource against this profile"),
    ),
    el(
      "table",
      { id: "elements" },
      el("caption", {}, "Elements this profile constrains (its differential: anything not listed, and any · below, is as in the base)"),
      el(
        "thead",
        {},
        el("tr", {}, ["Element", "Cardinality", "Type", "Binding", "Constraints", "Meaning / value"].map((h) => el("th", { scope: "col" }, h))),
      ),
      el("tbody", {}, rows),
    ),
    constraintsTable(elements),
    examples.length
      ? el(
          "section",
          { "aria-labelledby": "profile-examples" },
          el("h2", { id: "profile-examples" }, "Examples"),
          el("ul", {}, examples.map((ex) => el("li", {}, el("a", { href: `/console/guide?example=${encodeURIComponent(ex.reference)}` }, ex.name)))),
        )
      : null,
  );
  if (location.hash) document.getElementById(decodeURIComponent(location.hash.slice(1)))?.scrollIntoView();
}

// ---- a ValueSet ----

async function valueSet(url) {
  const vs = await byUrl("ValueSet", url);
  if (!vs) return missing("valueset", url);
  const [expansion, codeSystems, structures] = await Promise.all([
    fhir(`ValueSet/$expand?url=${encodeURIComponent(url)}&count=1000`),
    all("CodeSystem"),
    all("StructureDefinition", "url,name,title,type,differential"),
  ]);
  const csNames = new Map(codeSystems.map((c) => [c.url, label(c)]));
  const system = (s) => (csNames.has(s) ? el("a", { href: link("codesystem", s) }, csNames.get(s)) : el("code", { className: "mono" }, s));
  const usedBy = structures.flatMap((sd) =>
    ((sd.differential && sd.differential.element) || [])
      .filter((e) => e.binding && (e.binding.valueSet || "").split("|")[0] === url)
      .map((e) => el("li", {}, el("a", { href: `${link("profile", sd.url)}#element-${encodeURIComponent(e.id)}` }, `${label(sd)}: ${e.id}`), ` (${e.binding.strength})`)),
  );
  const includes = ((vs.compose && vs.compose.include) || []).map((inc) =>
    el("li", {}, "Include ", inc.concept ? `${inc.concept.length} codes from ` : "codes from ", inc.system ? system(inc.system) : "", inc.valueSet ? ` ValueSet ${inc.valueSet.join(", ")}` : "", inc.filter ? ` where ${inc.filter.map((f) => `${f.property} ${f.op} ${f.value}`).join(" and ")}` : ""),
  );
  let expanded;
  if (expansion.status === 200) {
    const contains = (expansion.body.expansion && expansion.body.expansion.contains) || [];
    expanded = el(
      "table",
      { id: "expansion" },
      el("caption", {}, `Expansion: ${expansion.body.expansion.total ?? contains.length} codes`),
      el("thead", {}, el("tr", {}, ["Code", "Display", "System"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, contains.map((c) => el("tr", {}, el("td", {}, el("code", {}, c.code)), el("td", {}, c.display || ""), el("td", {}, system(c.system))))),
    );
  } else {
    expanded = el("div", {});
    renderFailure(expanded, expansion);
  }
  view.replaceChildren(
    ...title(label(vs), "ValueSet"),
    el("p", {}, vs.description || ""),
    canonical(vs.url),
    el("h2", {}, "Definition"),
    el("ul", {}, includes),
    el("h2", {}, "Expansion"),
    expanded,
    el("h2", {}, "Used by"),
    usedBy.length ? el("ul", {}, usedBy) : el("p", { className: "muted" }, "No profile of this guide binds to it."),
  );
}

// ---- a CodeSystem ----

function conceptRows(concepts, depth = 0) {
  return concepts.flatMap((c) => [
    el(
      "tr",
      {},
      el("td", {}, el("code", { className: "mono" }, `${"— ".repeat(depth)}${c.code}`)),
      el("td", {}, c.display || ""),
      el("td", {}, c.definition || ""),
    ),
    ...conceptRows(c.concept || [], depth + 1),
  ]);
}

async function codeSystem(url) {
  const cs = await byUrl("CodeSystem", url);
  if (!cs) return missing("codesystem", url);
  const valueSets = await all("ValueSet", "url,name,title,compose");
  const usedIn = valueSets.filter((vs) => ((vs.compose && vs.compose.include) || []).some((inc) => inc.system === url));
  view.replaceChildren(
    ...title(label(cs), "CodeSystem"),
    el("p", {}, cs.description || ""),
    canonical(cs.url),
    el(
      "table",
      { id: "concepts" },
      el("caption", {}, `Concepts (${cs.content || "complete"})`),
      el("thead", {}, el("tr", {}, ["Code", "Display", "Definition"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, conceptRows(cs.concept || [])),
    ),
    el("h2", {}, "ValueSets drawing on it"),
    usedIn.length ? el("ul", {}, usedIn.map((vs) => el("li", {}, el("a", { href: link("valueset", vs.url) }, label(vs))))) : el("p", { className: "muted" }, "None in this guide."),
  );
}

// ---- a ConceptMap ----

async function conceptMap(url) {
  const cm = await byUrl("ConceptMap", url);
  if (!cm) return missing("conceptmap", url);
  const codeSystems = await all("CodeSystem");
  const csNames = new Map(codeSystems.map((c) => [c.url, label(c)]));
  const system = (s) => (csNames.has(s) ? el("a", { href: link("codesystem", s) }, csNames.get(s)) : el("code", { className: "mono" }, s || "(unnamed)"));
  const groups = (cm.group || []).map((group, i) =>
    el(
      "table",
      { className: "conceptmap-group" },
      el("caption", {}, `Group ${i + 1}: from `, system(group.source), " to ", system(group.target)),
      el("thead", {}, el("tr", {}, ["Source code", "Equivalence", "Target code", "Comment"].map((h) => el("th", { scope: "col" }, h)))),
      el(
        "tbody",
        {},
        (group.element || []).flatMap((element) =>
          (element.target && element.target.length ? element.target : [{ equivalence: "unmatched" }]).map((target) =>
            el(
              "tr",
              {},
              el("td", {}, el("code", {}, element.code), element.display ? ` ${element.display}` : ""),
              el("td", {}, target.equivalence || ""),
              el("td", {}, target.code ? el("code", {}, target.code) : "", target.display ? ` ${target.display}` : ""),
              el("td", {}, target.comment || ""),
            ),
          ),
        ),
      ),
    ),
  );
  view.replaceChildren(...title(label(cm), "ConceptMap"), el("p", {}, cm.description || ""), canonical(cm.url), ...groups);
}

// ---- an example ----

async function example(reference) {
  const resource = await packageExample(reference);
  if (!resource) return missing("example", reference);
  const claimed = (resource.meta && resource.meta.profile) || [];
  const structures = await all("StructureDefinition", LIST_ELEMENTS);
  const known = new Map(structures.map((s) => [s.url, label(s)]));
  view.replaceChildren(
    ...title(`Example ${reference}`, "Example"),
    claimed.length
      ? el("p", {}, "Claims ", ...claimed.flatMap((url, i) => [i ? ", " : "", known.has(url) ? el("a", { href: link("profile", url) }, known.get(url)) : el("code", {}, url)]), ".")
      : null,
    el("p", {}, el("a", { href: `/console/validate?example=${encodeURIComponent(reference)}` }, "Validate this example")),
    el("pre", { className: "source example", tabindex: "0", "aria-label": `${reference} as JSON` }, JSON.stringify(resource, null, 2)),
  );
}

function missing(kind, what) {
  view.replaceChildren(
    ...title("Not found", kind),
    el("p", { role: "alert" }, `This server's guide has no ${kind} `, el("code", {}, what), ". ", el("a", { href: "/console/guide" }, "See everything the guide holds.")),
  );
}

async function start() {
  renderNav("guide");
  if (!(await requireSignIn())) return;
  const query = new URLSearchParams(location.search);
  const views = [
    ["profile", profile],
    ["valueset", valueSet],
    ["codesystem", codeSystem],
    ["conceptmap", conceptMap],
    ["example", example],
  ];
  const chosen = views.find(([name]) => query.get(name));
  try {
    if (chosen) await chosen[1](query.get(chosen[0]));
    else await contents();
  } catch (failure) {
    if (failure && typeof failure.status === "number") renderFailure(view, failure);
    else throw failure;
  }
  view.setAttribute("aria-busy", "false");
}

start();

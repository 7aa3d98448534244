// The family page: Patient/{id}/$dyad as a timeline of contacts, observations per caregiver,
// prompts, referrals, plans and outcomes. The summary is searched by the server with the
// signed-in token, so a record the organisation may not see is never in it; a family it may
// not see at all is refused with a message, never a blank page.

import { el, fhir, renderNav, requireSignIn } from "/console/static/console.js";
import {
  BREACH_EXT,
  CARE_CONTACTS,
  CONCERN_LEVELS,
  CONTACT_NAMES,
  DYAD_SYSTEMS,
  REFERRAL_STATUS,
  ROLE_NAMES,
  codingOf,
  conceptText,
  humanName,
  idOf,
  loadDisplays,
  readMany,
  refusal,
  table,
  timeEl,
} from "/console/static/records.js";

const NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number";
const CONTACT_EXT = "https://w3id.org/dyad/fhir/StructureDefinition/dyad-ext-contact-type";
const SESSIONS_EXT = "https://w3id.org/dyad/fhir/StructureDefinition/dyad-ext-sessions-attended";
const CAREGIVER_EXT = "https://w3id.org/dyad/fhir/StructureDefinition/dyad-ext-caregiver";
const CONCERN_ORDER = ["no-concern", "some-concern", "significant-concern"];
// The kinds of the timeline, in the order of the filter.
const KINDS = [
  ["contact", "Contacts"],
  ["observation", "Observations"],
  ["prompt", "Prompts"],
  ["referral", "Referrals"],
  ["plan", "Plans"],
  ["outcome", "Outcomes"],
  ["message", "Messages"],
  ["care", "Care and family"],
];
const KIND_LABELS = {
  contact: "Contact",
  observation: "Observation",
  prompt: "Prompt",
  referral: "Referral",
  plan: "Plan",
  outcome: "Outcome",
  message: "Message",
  care: "Care",
};
const TASK_KINDS = {
  "assessment-prompt": "prompt",
  "further-intervention": "prompt",
  referral: "referral",
  "care-plan-review": "plan",
};
const OUTPUT_NAMES = {
  "relationship-assessment-result": "Assessment result",
  "care-plan-agreed": "Care plan agreed",
};

const statusLine = document.getElementById("family-status");
const heading = document.getElementById("family-heading");
const root = document.getElementById("family");

// The same clinical time the server sorts the summary by (service/pathway/summary.py `when`).
function when(resource) {
  for (const key of ["effectiveDateTime", "authored", "authoredOn", "created", "sent", "startDate", "recorded"]) {
    if (typeof resource[key] === "string") return resource[key];
  }
  for (const key of ["effectivePeriod", "period", "executionPeriod"]) {
    if (resource[key] && typeof resource[key].start === "string") return resource[key].start;
  }
  return (resource.meta && resource.meta.lastUpdated) || "";
}

function patientIdFromAddress() {
  const last = location.pathname.split("/").filter(Boolean).pop() || "";
  try {
    return decodeURIComponent(last);
  } catch {
    return "";
  }
}

// Who is who: people by reference, a caregiver's Patient record and RelatedPerson record as one.
class People {
  constructor(resources, organisations) {
    this.byRef = new Map();
    this.alias = new Map();
    this.organisations = organisations;
    for (const r of resources) {
      if (r.resourceType === "Patient" || r.resourceType === "RelatedPerson") this.byRef.set(`${r.resourceType}/${r.id}`, r);
    }
    for (const r of resources) {
      if (r.resourceType !== "Patient") continue;
      for (const link of r.link || []) {
        const other = link.other && link.other.reference;
        if (other && other.startsWith("RelatedPerson/")) this.alias.set(other, `Patient/${r.id}`);
      }
    }
  }

  // One key per person: a RelatedPerson with a Patient record of their own goes by the Patient.
  key(reference) {
    return this.alias.get(reference) || reference;
  }

  role(key) {
    const relatedPerson =
      [...this.alias.entries()].filter(([, patient]) => patient === key).map(([rp]) => this.byRef.get(rp))[0] ||
      (key.startsWith("RelatedPerson/") ? this.byRef.get(key) : null);
    const relationship = relatedPerson && (relatedPerson.relationship || [])[0];
    return relationship ? conceptText(relationship, ROLE_NAMES) : "";
  }

  name(reference) {
    if (!reference) return "";
    const ref = reference.reference;
    const key = ref ? this.key(ref) : null;
    const person = key && (this.byRef.get(key) || this.byRef.get(ref));
    if (person) {
      const role = this.role(key);
      return `${humanName(person) || "Unnamed"}${role ? ` (${role})` : ""}`;
    }
    const org = ref && this.organisations.get(ref);
    if (org) return org.name || ref;
    return reference.display || ref || "";
  }
}

function concern(observation) {
  const coding = codingOf(observation.valueCodeableConcept, CONCERN_LEVELS);
  return coding ? coding.code : null;
}

function concernEl(code, concept) {
  if (!code) return el("span", { className: "muted" }, concept ? conceptText(concept) : "no level recorded");
  const words = { "no-concern": "No concern", "some-concern": "Some concern", "significant-concern": "Significant concern" };
  return el("span", { className: `concern-${code}` }, words[code] || code);
}

function domains(observation) {
  return (observation.component || [])
    .filter((c) => codingOf(c.valueCodeableConcept, CONCERN_LEVELS))
    .map((c) => `${conceptText(c.code)}: ${conceptText(c.valueCodeableConcept)}`);
}

function contactType(resource) {
  const fromExtension = (resource.extension || []).find((e) => e.url === CONTACT_EXT);
  const concept = fromExtension ? fromExtension.valueCodeableConcept : (resource.type || [])[0];
  const coding = codingOf(concept, CARE_CONTACTS);
  return coding ? CONTACT_NAMES[coding.code] || coding.display || coding.code : conceptText(concept);
}

// One timeline entry: {kind, title, time, facts: [[term, value]]}.
function entryOf(resource, people) {
  const facts = [];
  const add = (term, value) => {
    if (value !== undefined && value !== null && value !== "" && !(Array.isArray(value) && !value.length)) facts.push([term, value]);
  };
  const type = resource.resourceType;
  if (type === "Encounter") {
    add("Status", resource.status);
    add("Service", people.name(resource.serviceProvider));
    return { kind: "contact", title: contactType(resource) || "Contact", facts };
  }
  if (type === "Observation") {
    const about = (resource.focus || []).map((f) => people.name(f)).join(", ");
    add("Concern", concernEl(concern(resource), resource.valueCodeableConcept));
    add("Domains", domains(resource).join("; "));
    add("At", contactType(resource));
    add("Recorded by", (resource.performer || []).map((p) => people.name(p)).join(", "));
    add("Status", resource.status);
    const isResult = (resource.basedOn || []).some((b) => (b.reference || "").startsWith("ServiceRequest/"));
    return {
      kind: isResult ? "outcome" : "observation",
      title: `${isResult ? "Assessment result: " : ""}${conceptText(resource.code) || "Observation"}${about ? ` — ${about}` : ""}`,
      facts,
    };
  }
  if (type === "QuestionnaireResponse") {
    const caregiver = (resource.extension || []).find((e) => e.url === CAREGIVER_EXT);
    add("Status", resource.status);
    add("Recorded by", people.name(resource.author));
    return { kind: "observation", title: `Prompts answered${caregiver ? ` — ${people.name(caregiver.valueReference)}` : ""}`, facts };
  }
  if (type === "Task") {
    const code = (codingOf(resource.code) || {}).code;
    const stage = codingOf(resource.businessStatus, REFERRAL_STATUS);
    add("Status", stage ? `${resource.status}, ${stage.display || stage.code}` : resource.status);
    add("For", resource.owner ? people.name(resource.owner) : "Unassigned");
    add("Priority", resource.priority);
    add("Due", resource.restriction && resource.restriction.period && timeEl(resource.restriction.period.end));
    const breached = (resource.extension || []).filter((e) => e.url === BREACH_EXT).map((e) => e.valueCoding.display || e.valueCoding.code);
    add("Clock breached", breached.join("; "));
    const outputs = (resource.output || []).map((o) => conceptText(o.type, OUTPUT_NAMES)).filter(Boolean);
    add("Outcomes returned", outputs.join("; "));
    return { kind: TASK_KINDS[code] || "prompt", title: conceptText(resource.code) || "Task", facts, breached: breached.length > 0 };
  }
  if (type === "ServiceRequest") {
    add("Status", resource.status);
    add("To", (resource.performer || []).map((p) => people.name(p)).join(", ") || conceptText((resource.performerType || {})));
    add("By", people.name(resource.requester));
    add("Reason", (resource.reasonCode || []).map((c) => conceptText(c)).join("; "));
    return { kind: "referral", title: `Referral: ${conceptText(resource.code) || "service"}`, facts };
  }
  if (type === "CarePlan") {
    const sessions = (resource.extension || []).find((e) => e.url === SESSIONS_EXT);
    add("Status", resource.status);
    add("Sessions attended", sessions && sessions.valueUnsignedInt);
    add(
      "Activities",
      (resource.activity || [])
        .map((a) => (a.detail ? conceptText(a.detail.code) || a.detail.description : a.reference && (a.reference.display || a.reference.reference)))
        .filter(Boolean)
        .join("; "),
    );
    return { kind: "plan", title: resource.title || "Care plan", facts };
  }
  if (type === "Goal") {
    add("Expressed by", people.name(resource.expressedBy));
    add("Progress", conceptText(resource.achievementStatus));
    add("Status", resource.lifecycleStatus);
    return { kind: "outcome", title: `Goal: ${conceptText(resource.description)}`, facts };
  }
  if (type === "Communication") {
    add("To", (resource.recipient || []).map((r) => people.name(r)).join(", "));
    add("Says", (resource.payload || []).map((p) => p.contentString).filter(Boolean).join(" "));
    return { kind: "message", title: conceptText((resource.category || [])[0]) || "Message", facts };
  }
  if (type === "CareTeam") {
    add("Members", (resource.participant || []).map((p) => people.name(p.member)).join(", "));
    add("Status", resource.status);
    return { kind: "care", title: resource.name || "Care team", facts };
  }
  if (type === "EpisodeOfCare") {
    add("Service", people.name(resource.managingOrganization));
    add("Status", resource.status);
    return { kind: "care", title: "Episode of care", facts };
  }
  if (type === "Patient" || type === "RelatedPerson") {
    const record = type === "Patient" ? "Caregiver's own record" : "Caregiver";
    return { kind: "care", title: `${record}: ${people.name({ reference: `${type}/${resource.id}` })}`, facts };
  }
  return { kind: "care", title: type, facts };
}

function factsList(facts) {
  return el(
    "dl",
    { className: "facts" },
    facts.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]),
  );
}

function caregiverSection(resources, people) {
  const observations = resources.filter((r) => r.resourceType === "Observation" && (r.focus || []).length);
  const byCaregiver = new Map();
  for (const observation of observations) {
    for (const focus of observation.focus) {
      const key = people.key(focus.reference || "");
      if (!byCaregiver.has(key)) byCaregiver.set(key, []);
      byCaregiver.get(key).push(observation);
    }
  }
  const caregivers = [
    ...new Set([
      ...resources.filter((r) => r.resourceType === "RelatedPerson").map((r) => people.key(`RelatedPerson/${r.id}`)),
      ...byCaregiver.keys(),
    ]),
  ];
  const section = el(
    "section",
    { "aria-labelledby": "caregivers-heading" },
    el("h2", { id: "caregivers-heading" }, "Observations by caregiver"),
  );
  if (!caregivers.length) {
    section.append(el("p", {}, "No caregivers or observations of them that you may see."));
    return section;
  }
  caregivers.forEach((key, index) => {
    const name = people.name({ reference: key }) || "Caregiver not visible to you";
    const theirs = (byCaregiver.get(key) || []).sort((a, b) => when(a).localeCompare(when(b)));
    const headingId = `caregiver-${index}`;
    const block = el("section", { className: "caregiver", "aria-labelledby": headingId }, el("h3", { id: headingId }, name));
    if (!theirs.length) {
      block.append(el("p", { className: "muted" }, "No observations recorded that you may see."));
    } else {
      const levels = theirs.map(concern).filter(Boolean);
      const worst = levels.sort((a, b) => CONCERN_ORDER.indexOf(b) - CONCERN_ORDER.indexOf(a))[0];
      block.append(
        el("p", {}, `${theirs.length} observation${theirs.length === 1 ? "" : "s"}; highest concern: `, concernEl(worst)),
        table(
          `Observations of ${name}`,
          ["Date", "At", "Observation", "Concern", "Domains", "Status"],
          theirs.map((o) =>
            el(
              "tr",
              {},
              el("td", {}, timeEl(when(o))),
              el("td", {}, contactType(o)),
              el("td", {}, conceptText(o.code)),
              el("td", {}, concernEl(concern(o), o.valueCodeableConcept)),
              el("td", {}, domains(o).join("; ")),
              el("td", {}, o.status),
            ),
          ),
        ),
      );
    }
    section.append(block);
  });
  return section;
}

// Arrow keys move between the timeline's entries (one tab stop for the whole list).
function makeNavigable(list) {
  const visible = () => [...list.querySelectorAll("li:not([hidden]) > article")];
  const focusAt = (items, index) => {
    for (const item of items) item.tabIndex = -1;
    const target = items[Math.max(0, Math.min(items.length - 1, index))];
    if (target) {
      target.tabIndex = 0;
      target.focus();
    }
  };
  list.addEventListener("keydown", (event) => {
    const items = visible();
    const current = items.indexOf(document.activeElement);
    if (current < 0) return;
    const moves = { ArrowDown: current + 1, ArrowUp: current - 1, Home: 0, End: items.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      focusAt(items, moves[event.key]);
    }
  });
  return () => {
    const items = visible();
    for (const item of list.querySelectorAll("article")) item.tabIndex = -1;
    if (items[0]) items[0].tabIndex = 0;
  };
}

function timelineSection(resources, people) {
  const entries = resources.map((r) => ({ resource: r, ...entryOf(r, people) }));
  const counts = Object.fromEntries(KINDS.map(([kind]) => [kind, entries.filter((e) => e.kind === kind).length]));
  const list = el(
    "ol",
    { className: "timeline", "aria-labelledby": "timeline-heading", "aria-describedby": "timeline-hint" },
    entries.map((entry, index) => {
      const titleId = `entry-${index}`;
      return el(
        "li",
        {
          className: `kind-${entry.kind}`,
          "data-kind": entry.kind,
          "data-id": `${entry.resource.resourceType}/${entry.resource.id}`,
        },
        el(
          "article",
          { tabindex: "-1", "aria-labelledby": titleId },
          el("p", { className: "when" }, timeEl(when(entry.resource))),
          el("h3", { id: titleId }, el("span", { className: "kind-label" }, KIND_LABELS[entry.kind]), entry.title),
          entry.facts.length ? factsList(entry.facts) : null,
        ),
      );
    }),
  );
  const resetFocus = makeNavigable(list);
  const filters = el(
    "fieldset",
    { className: "kinds" },
    el("legend", {}, "Show"),
    KINDS.filter(([kind]) => counts[kind]).map(([kind, label]) =>
      el(
        "label",
        {},
        el("input", {
          type: "checkbox",
          checked: true,
          value: kind,
          onchange: (event) => {
            for (const item of list.querySelectorAll(`li[data-kind="${kind}"]`)) item.hidden = !event.target.checked;
            resetFocus();
          },
        }),
        `${label} (${counts[kind]})`,
      ),
    ),
  );
  resetFocus();
  return el(
    "section",
    { "aria-labelledby": "timeline-heading" },
    el("h2", { id: "timeline-heading" }, "Timeline"),
    el(
      "p",
      { className: "hint", id: "timeline-hint" },
      "Everything recorded about the family that you may see, oldest first. Tab to the timeline, then use the up and down arrow keys (Home, End) to move between entries.",
    ),
    filters,
    list,
  );
}

function organisationIds(resources) {
  const ids = [];
  const visit = (value) => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (value && typeof value === "object") {
      const id = idOf(value, "Organization");
      if (id) ids.push(id);
      Object.values(value).forEach(visit);
    }
  };
  resources.forEach((r) => visit({ ...r, id: undefined, contained: undefined }));
  return ids;
}

function render(bundle, organisations) {
  const resources = (bundle.entry || []).map((e) => e.resource).filter(Boolean);
  const [infant, ...rest] = resources;
  const people = new People(resources, organisations);
  const name = humanName(infant) || "Unnamed infant";
  heading.textContent = `Family of ${name}`;
  document.title = `Family of ${name} · Dyad console`;
  const nhs = (infant.identifier || []).find((i) => i.system === NHS_NUMBER);
  root.replaceChildren(
    factsList([
      ["Infant", name],
      ["Born", timeEl(infant.birthDate)],
      ["NHS number", nhs ? nhs.value : "not recorded"],
    ]),
    el(
      "nav",
      { "aria-label": "On this page", className: "on-this-page" },
      el(
        "ul",
        {},
        el("li", {}, el("a", { href: "#caregivers-heading" }, "Observations by caregiver")),
        el("li", {}, el("a", { href: "#timeline-heading" }, "Timeline")),
      ),
    ),
    caregiverSection(rest, people),
    timelineSection(rest.filter((r) => !(r.resourceType === "Patient" && r.id === infant.id)), people),
  );
}

async function main() {
  renderNav("pathway");
  if (!(await requireSignIn())) return;
  const id = patientIdFromAddress();
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) {
    heading.textContent = "Family not shown";
    statusLine.textContent = "";
    refusal(root, { status: 404, body: null }, "a patient with this id");
    return;
  }
  const response = await fhir(`Patient/${encodeURIComponent(id)}/$dyad`);
  if (response.status !== 200 || !response.body || response.body.resourceType !== "Bundle" || !(response.body.entry || []).length) {
    heading.textContent = "Family not shown";
    statusLine.textContent = "";
    refusal(root, response.status === 200 ? { status: 404, body: null } : response, "the record of this patient");
    return;
  }
  const resources = response.body.entry.map((e) => e.resource);
  const [organisations] = await Promise.all([
    readMany("Organization", organisationIds(resources)),
    loadDisplays(DYAD_SYSTEMS),
  ]);
  render(response.body, organisations);
  statusLine.textContent = `Showing ${resources.length - 1} records about this family.`;
}

main();

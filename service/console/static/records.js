// Reading FHIR records for the pathway and family pages: searches that follow their pages, names,
// codes and dates in words, and a clear message when the server refuses.

import { el, fhir, renderFailure } from "/console/static/console.js";

export const TASK_CODES = "https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes";
export const BREACH_EXT = "https://w3id.org/dyad/fhir/StructureDefinition/dyad-ext-clock-breach";
export const CARE_CONTACTS = "https://w3id.org/dyad/fhir/CodeSystem/dyad-care-contacts";
export const CONCERN_LEVELS = "https://w3id.org/dyad/fhir/CodeSystem/dyad-concern-level";
export const REFERRAL_STATUS = "https://w3id.org/dyad/fhir/CodeSystem/dyad-referral-status";

export const CONTACT_NAMES = {
  "postnatal-midwife-visit": "Postnatal midwife visit",
  "new-birth-visit": "New birth visit",
  "six-to-eight-week-review": "6–8 week review",
  "one-year-review": "One-year review",
  "two-year-review": "Two-year review",
  "additional-health-visiting-contact": "Additional health visiting contact",
  "perinatal-mh-appointment": "Perinatal mental health appointment",
  "mbu-discharge": "Mother and Baby Unit discharge",
  "intervention-session": "Intervention session",
};

// HL7 v3 RoleCode relationships Dyad's caregivers carry, in words.
export const ROLE_NAMES = {
  MTH: "Mother",
  NMTH: "Natural mother",
  FTH: "Father",
  NFTH: "Natural father",
  STPMTH: "Stepmother",
  STPFTH: "Stepfather",
  GRMTH: "Grandmother",
  GRFTH: "Grandfather",
  AUNT: "Aunt",
  UNCLE: "Uncle",
  FMRSPS: "Former spouse",
  SPS: "Spouse",
  DOMPART: "Domestic partner",
  SIGOTHR: "Partner",
  PRN: "Parent",
  GUARD: "Guardian",
  FAMMEMB: "Family member",
  patient: "Caregiver with their own record (Patient)",
  unknown: "Role not recorded",
};

// Every match of a search, page after page, up to `limit` (then `more` is true): the console
// says when it shows only part rather than leaving the rest out silently.
export async function searchAll(path, limit = 500) {
  const resources = [];
  const included = [];
  let next = path;
  while (next) {
    const response = await fhir(next);
    if (response.status !== 200 || !response.body || response.body.resourceType !== "Bundle") {
      return { ok: false, response, resources, included, more: false };
    }
    for (const entry of response.body.entry || []) {
      if (!entry.resource) continue;
      if ((entry.search && entry.search.mode) === "include") included.push(entry.resource);
      else resources.push(entry.resource);
    }
    const link = (response.body.link || []).find((l) => l.relation === "next");
    next = link ? link.url : null;
    if (resources.length >= limit && next) return { ok: true, resources, included, more: true };
  }
  return { ok: true, resources, included, more: false };
}

// Records of one type by id, fifty at a time, as a map "Type/id" → resource (unseen ones absent).
export async function readMany(type, ids) {
  const found = new Map();
  const unique = [...new Set(ids)].filter((id) => /^[A-Za-z0-9\-.]{1,64}$/.test(id));
  for (let i = 0; i < unique.length; i += 50) {
    const chunk = unique.slice(i, i + 50);
    const result = await searchAll(`${type}?_id=${chunk.map(encodeURIComponent).join(",")}&_count=50`, 1000);
    for (const resource of result.resources) found.set(`${type}/${resource.id}`, resource);
  }
  return found;
}

export function idOf(reference, type) {
  const ref = reference && reference.reference;
  if (typeof ref !== "string" || !ref.startsWith(`${type}/`)) return null;
  return ref.slice(type.length + 1);
}

export function humanName(resource) {
  if (!resource) return "";
  if (typeof resource.name === "string") return resource.name;
  const name = (resource.name || [])[0];
  if (!name) return "";
  if (name.text) return name.text;
  return [...(name.given || []), name.family].filter(Boolean).join(" ");
}

export function codingOf(concept, system) {
  const codings = (concept && concept.coding) || [];
  return codings.find((c) => !system || c.system === system) || null;
}

// Displays of Dyad's own codes, read from its CodeSystems through the API ("system|code" →
// display); records often carry a code without its display.
const displays = new Map();

export async function loadDisplays(systems) {
  await Promise.all(
    systems.map(async (system) => {
      const result = await searchAll(`CodeSystem?url=${encodeURIComponent(system)}`, 10);
      const walk = (concepts) => {
        for (const concept of concepts || []) {
          if (concept.display) displays.set(`${system}|${concept.code}`, concept.display);
          walk(concept.concept);
        }
      };
      // Without access to CodeSystems the codes are shown as they are.
      for (const codeSystem of result.resources) walk(codeSystem.concept);
    }),
  );
}

export const DYAD_SYSTEMS = [
  "https://w3id.org/dyad/fhir/CodeSystem/dyad-concepts",
  "https://w3id.org/dyad/fhir/CodeSystem/dyad-services",
  "https://w3id.org/dyad/fhir/CodeSystem/dyad-task-codes",
  CONCERN_LEVELS,
  CARE_CONTACTS,
];

// A CodeableConcept in words: its text, a coding's display (or the CodeSystem's), else its code.
export function conceptText(concept, names = {}) {
  if (!concept) return "";
  const coding = codingOf(concept);
  if (coding && names[coding.code]) return names[coding.code];
  const known = coding && displays.get(`${coding.system}|${coding.code}`);
  return concept.text || (coding && (coding.display || known || coding.code)) || "";
}

const DATE = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
const DATE_TIME = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  timeZone: "Europe/London",
});

// A FHIR date or dateTime as a <time> element: the machine value kept, the words for people.
export function timeEl(value) {
  if (!value) return el("span", { className: "muted" }, "not recorded");
  const dateOnly = /^\d{4}(-\d{2}(-\d{2})?)?$/.test(value);
  const parsed = new Date(dateOnly && value.length === 10 ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(parsed.getTime())) return el("span", {}, value);
  const text = dateOnly ? (value.length === 10 ? DATE.format(parsed) : value) : DATE_TIME.format(parsed);
  return el("time", { datetime: value }, text);
}

// Whole days from today (UTC) to a FHIR date or dateTime: negative when past.
export function daysUntil(value, now = new Date()) {
  const due = new Date(value.length === 10 ? `${value}T23:59:59Z` : value);
  return Math.floor((due.getTime() - now.getTime()) / 86400000);
}

// What to show when the server refuses or fails, worded for the person at the screen.
export function refusal(element, response, what) {
  if (response.status === 401) {
    renderFailure(element, response);
    return;
  }
  const messages = {
    403: `Your organisation is not allowed to see ${what} (403 Forbidden).`,
    404: `Not found: ${what} does not exist, or your organisation may not see it (404).`,
  };
  const message = messages[response.status] || `Could not load ${what} (status ${response.status || "no answer"}).`;
  const details = el("div", {});
  element.replaceChildren(el("p", { className: "summary summary-error refusal", role: "alert" }, message), details);
  const issues = (response.body && response.body.issue) || [];
  if (issues.length) {
    details.append(
      el(
        "ul",
        { className: "refusal-details" },
        issues.map((issue) => el("li", {}, issue.diagnostics || (issue.details && issue.details.text) || issue.code)),
      ),
    );
  }
}

export function table(caption, headings, rows, { className = "records" } = {}) {
  return el(
    "table",
    { className },
    el("caption", { className: "sr-only" }, caption),
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows),
  );
}

// The pathway page: a team's (or the whole service's) open referrals with their clocks, open
// prompts and reviews due, and $pathway-metrics drawn over time. Every figure comes from the
// FHIR API with the signed-in token, so the page shows only what that organisation may see.

import { el, fhir, renderNav, requireSignIn } from "/console/static/console.js";
import { barChart, lineChart } from "/console/static/charts.js";
import {
  BREACH_EXT,
  CARE_CONTACTS,
  CONTACT_NAMES,
  DYAD_SYSTEMS,
  REFERRAL_STATUS,
  ROLE_NAMES,
  TASK_CODES,
  codingOf,
  conceptText,
  daysUntil,
  humanName,
  idOf,
  loadDisplays,
  readMany,
  refusal,
  searchAll,
  table,
  timeEl,
} from "/console/static/records.js";

const OPEN = "requested,received,accepted,ready,in-progress,on-hold";
const LIMIT = 500;
const BREACH_NAMES = {
  assessment: "Assessment not within 2 weeks of referral",
  intervention: "Intervention not within 1 month of assessment",
};
const STAGE_NAMES = {
  received: "Received",
  accepted: "Accepted",
  "assessment-booked": "Assessment booked",
  assessed: "Assessed",
  "intervention-started": "Intervention started",
  "intervention-completed": "Intervention completed",
};
const PRIORITY_NAMES = { routine: "Routine", urgent: "Urgent", asap: "As soon as possible", stat: "Immediately" };

const form = document.getElementById("pathway-form");
const status = document.getElementById("pathway-status");
const organisations = new Map();

function monthValue(date) {
  return `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, "0")}`;
}

function addMonths(month, count) {
  const [year, m] = month.split("-").map(Number);
  return monthValue(new Date(Date.UTC(year, m - 1 + count, 1)));
}

// The form's choices, from the address (so a view can be bookmarked), else the last six months.
function choices() {
  const params = new URLSearchParams(location.search);
  const now = monthValue(new Date());
  const valid = (v) => typeof v === "string" && /^\d{4}-\d{2}$/.test(v);
  return {
    team: params.get("team") || "",
    from: valid(params.get("from")) ? params.get("from") : addMonths(now, -5),
    to: valid(params.get("to")) ? params.get("to") : now,
    interval: params.get("interval") === "week" ? "week" : "month",
  };
}

function orgName(reference) {
  if (!reference) return "";
  const org = organisations.get(reference.reference);
  return (org && org.name) || reference.display || reference.reference || "";
}

async function loadTeams(selected) {
  const select = form.elements.team;
  const result = await searchAll("Organization?_count=200", 1000);
  if (!result.ok) return result.response;
  const teams = result.resources.sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id));
  for (const org of teams) {
    organisations.set(`Organization/${org.id}`, org);
    select.append(el("option", { value: `Organization/${org.id}` }, org.name || org.id));
  }
  select.value = [...select.options].some((o) => o.value === selected) ? selected : "";
  return null;
}

function taskQuery(codes, team) {
  const code = codes.map((c) => `${TASK_CODES}|${c}`).join(",");
  const owner = team ? `&owner=${encodeURIComponent(team)}` : "";
  return `Task?code=${encodeURIComponent(code)}&status=${OPEN}${owner}&_count=100`;
}

function breaches(task) {
  return (task.extension || [])
    .filter((e) => e.url === BREACH_EXT && e.valueCoding)
    .map((e) => e.valueCoding.code);
}

function due(task) {
  return (task.restriction && task.restriction.period && task.restriction.period.end) || null;
}

function infantCell(task, patients) {
  const id = idOf(task.for, "Patient");
  if (!id) return el("td", {}, el("span", { className: "muted" }, "no infant named"));
  const name = humanName(patients.get(`Patient/${id}`)) || "Infant (name not visible to you)";
  return el("td", {}, el("a", { href: `/console/family/${encodeURIComponent(id)}` }, name));
}

function dueCell(task) {
  const when = due(task);
  if (!when) return el("td", {}, el("span", { className: "muted" }, "no due date"));
  const days = daysUntil(when);
  const words = days < 0 ? `${-days} day${days === -1 ? "" : "s"} late` : days === 0 ? "due today" : `in ${days} day${days === 1 ? "" : "s"}`;
  return el("td", {}, timeEl(when), el("br"), el("span", { className: days < 0 ? "late" : "muted" }, words));
}

const ASSESSED = ["assessed", "intervention-started", "intervention-completed"];
const STARTED = ["intervention-started", "intervention-completed"];

function stageOf(task) {
  const stage = codingOf(task.businessStatus, REFERRAL_STATUS);
  return stage ? stage.code : null;
}

// The assessment due date matters only until the family is assessed.
function assessmentDueCell(task) {
  if (!ASSESSED.includes(stageOf(task))) return dueCell(task);
  return el("td", {}, timeEl(due(task)), el("br"), el("span", { className: "muted" }, "assessed"));
}

function clockCell(task) {
  const breached = breaches(task);
  if (breached.length) {
    return el(
      "td",
      { className: "clock-breached" },
      el("strong", {}, "Breached"),
      el("ul", { className: "plain" }, breached.map((b) => el("li", {}, BREACH_NAMES[b] || b))),
    );
  }
  const stage = stageOf(task);
  if (STARTED.includes(stage)) return el("td", {}, "Both clocks met");
  if (ASSESSED.includes(stage)) return el("td", {}, "Assessment met; intervention due within a month of it");
  const when = due(task);
  if (when && daysUntil(when) < 0) {
    return el("td", { className: "clock-late" }, el("strong", {}, "Past due"), el("br"), "breach not yet marked by the clock check");
  }
  return el("td", {}, "Assessment clock running");
}

function ownerCell(task) {
  if (task.owner) return el("td", {}, orgName(task.owner));
  const waiting = conceptText((task.performerType || [])[0]);
  return el("td", {}, el("strong", {}, "Unassigned"), waiting ? ` (waiting for ${waiting})` : "");
}

function partial(element, result, what) {
  if (result.more) {
    element.append(el("p", { className: "notice warning" }, `Showing the first ${result.resources.length} ${what}; choose a team to see fewer.`));
  }
}

async function patientsOf(tasks) {
  return readMany("Patient", tasks.map((t) => idOf(t.for, "Patient")).filter(Boolean));
}

async function showReferrals(team) {
  const target = document.getElementById("referrals");
  const result = await searchAll(taskQuery(["referral"], team), LIMIT);
  target.removeAttribute("aria-busy");
  if (!result.ok) return refusal(target, result.response, "these referral tasks");
  const tasks = result.resources.sort(
    (a, b) => breaches(b).length - breaches(a).length || String(due(a)).localeCompare(String(due(b))),
  );
  if (!tasks.length) return target.replaceChildren(el("p", {}, "No open referrals."));
  const [patients, referrals] = await Promise.all([
    patientsOf(tasks),
    readMany("ServiceRequest", tasks.map((t) => idOf(t.focus, "ServiceRequest")).filter(Boolean)),
  ]);
  const breachedCount = tasks.filter((t) => breaches(t).length).length;
  const rows = tasks.map((task) => {
    const referral = referrals.get(task.focus && task.focus.reference);
    const stage = codingOf(task.businessStatus, REFERRAL_STATUS);
    return el(
      "tr",
      { className: breaches(task).length ? "row-breached" : undefined, "data-task": task.id },
      infantCell(task, patients),
      el("td", {}, referral ? conceptText(referral.code) : el("span", { className: "muted" }, "referral not visible to you")),
      el("td", {}, timeEl(task.authoredOn)),
      assessmentDueCell(task),
      el("td", {}, stage ? STAGE_NAMES[stage.code] || stage.code : `Not yet received (${task.status})`),
      ownerCell(task),
      clockCell(task),
    );
  });
  target.replaceChildren(
    el(
      "p",
      { className: breachedCount ? "summary summary-error" : "summary summary-ok" },
      `${tasks.length} open referral${tasks.length === 1 ? "" : "s"}, ${breachedCount} breached`,
    ),
    table("Open referrals and their clocks", ["Infant", "Referred to", "Referred", "Assessment due", "Stage", "Team", "Clock"], rows),
  );
  partial(target, result, "referrals");
}

async function showTasks(elementId, codes, team, [what, one], headings, cells) {
  const target = document.getElementById(elementId);
  const result = await searchAll(taskQuery(codes, team), LIMIT);
  target.removeAttribute("aria-busy");
  if (!result.ok) return refusal(target, result.response, what);
  const tasks = result.resources.sort((a, b) => String(due(a)).localeCompare(String(due(b))));
  if (!tasks.length) return target.replaceChildren(el("p", {}, `No ${what}.`));
  const patients = await patientsOf(tasks);
  const rows = tasks.map((task) => el("tr", { "data-task": task.id }, infantCell(task, patients), cells(task)));
  const counted = tasks.length === 1 ? one : what;
  target.replaceChildren(el("p", { className: "summary" }, `${tasks.length} ${counted}`), table(what, ["Infant", ...headings], rows));
  partial(target, result, what);
}

function showPrompts(team) {
  return showTasks(
    "prompts",
    ["assessment-prompt", "further-intervention"],
    team,
    ["open prompts", "open prompt"],
    ["Prompt", "Priority", "Due", "Team", "Status"],
    (task) => [
      el("td", {}, conceptText(task.code), task.description ? el("p", { className: "hint" }, task.description) : null),
      el("td", {}, PRIORITY_NAMES[task.priority] || task.priority || "Routine"),
      dueCell(task),
      ownerCell(task),
      el("td", {}, task.status),
    ],
  );
}

function showReviews(team) {
  return showTasks("reviews", ["care-plan-review"], team, ["reviews due", "review due"], ["Review", "Due", "Team", "Status"], (task) => [
    el("td", {}, task.description || conceptText(task.code)),
    dueCell(task),
    ownerCell(task),
    el("td", {}, task.status),
  ]);
}

// ---- Measures over time ----

function group(report, code) {
  return (report.group || []).find((g) => codingOf(g.code) && codingOf(g.code).code === code) || {};
}

function population(item, code) {
  const found = (item.population || []).find((p) => codingOf(p.code) && codingOf(p.code).code === code);
  return found ? found.count : undefined;
}

function score(report, code) {
  const g = group(report, code);
  return g.measureScore && typeof g.measureScore.value === "number" ? g.measureScore.value : null;
}

function stratifier(report, code, name) {
  const found = (group(report, code).stratifier || []).find((s) => ((s.code || [])[0] || {}).text === name);
  return (found && found.stratum) || [];
}

function percent(numerator, denominator) {
  return denominator ? Math.round((1000 * numerator) / denominator) / 10 : null;
}

function intervalLabel(report, interval) {
  const start = new Date(report.period.start);
  const options =
    interval === "week"
      ? { day: "numeric", month: "short", timeZone: "UTC" }
      : { month: "short", year: "numeric", timeZone: "UTC" };
  return new Intl.DateTimeFormat("en-GB", options).format(start);
}

const ASKED = "postnatal-contacts-with-relationship-assessment";

function askedSeries(reports) {
  const overall = {
    name: "All postnatal contacts",
    values: reports.map((r) => {
      const g = group(r, ASKED);
      return percent(population(g, "numerator") || 0, population(g, "denominator") || 0);
    }),
  };
  const types = [];
  for (const report of reports) {
    for (const stratum of stratifier(report, ASKED, "contact-type")) {
      const code = codingOf(stratum.value, CARE_CONTACTS);
      if (code && !types.includes(code.code)) types.push(code.code);
    }
  }
  const byType = types.map((type) => ({
    name: CONTACT_NAMES[type] || type,
    values: reports.map((r) => {
      const stratum = stratifier(r, ASKED, "contact-type").find((s) => (codingOf(s.value, CARE_CONTACTS) || {}).code === type);
      return stratum ? percent(population(stratum, "numerator") || 0, population(stratum, "denominator") || 0) : null;
    }),
  }));
  return [overall, ...byType];
}

function roleKey(value) {
  const coding = codingOf(value);
  return coding ? coding.code : value.text || "unknown";
}

function roleSeries(reports) {
  const roles = [];
  for (const report of reports) {
    for (const stratum of stratifier(report, ASKED, "caregiver-role")) {
      const key = roleKey(stratum.value);
      if (!roles.includes(key)) roles.push(key);
    }
  }
  return roles.map((role) => ({
    name: ROLE_NAMES[role] || role,
    values: reports.map((r) => {
      const stratum = stratifier(r, ASKED, "caregiver-role").find((s) => roleKey(s.value) === role);
      return stratum ? population(stratum, "numerator") || 0 : 0;
    }),
  }));
}

async function showMeasures(choice) {
  const target = document.getElementById("measures");
  const start = `${choice.from}-01`;
  const end = `${addMonths(choice.to, 1)}-01`;
  const params = new URLSearchParams({ periodStart: start, periodEnd: end, interval: choice.interval });
  if (choice.team) params.set("organization", choice.team);
  const response = await fhir(`$pathway-metrics?${params}`);
  target.removeAttribute("aria-busy");
  if (response.status !== 200 || !response.body || response.body.resourceType !== "Bundle") {
    return refusal(target, response, "the pathway measures for this period");
  }
  const reports = (response.body.entry || []).map((e) => e.resource);
  if (!reports.length) return target.replaceChildren(el("p", {}, "Choose a period that ends after it starts."));
  const labels = reports.map((r) => intervalLabel(r, choice.interval));
  const xHeading = choice.interval === "week" ? "Week starting" : "Month";
  const days = (v) => `${Math.round(v * 10) / 10} d`;
  target.replaceChildren(
    el(
      "div",
      { className: "charts" },
    lineChart({
      title: "Referral to assessment",
      description: "Median days from referral to assessment, for the referrals assessed that started in each interval.",
      xLabels: labels,
      xHeading,
      yLabel: "days",
      format: days,
      target: { value: 14, label: "standard: 14 days" },
      series: [{ name: "Median days to assessment", values: reports.map((r) => score(r, "median-days-referral-to-assessment")) }],
    }),
    lineChart({
      title: "Assessment to intervention",
      description: "Median days from assessment to the start of intervention.",
      xLabels: labels,
      xHeading,
      yLabel: "days",
      format: days,
      target: { value: 30, label: "standard: 1 month" },
      series: [
        { name: "Median days to intervention", values: reports.map((r) => score(r, "median-days-assessment-to-intervention")) },
      ],
    }),
    lineChart({
      title: "Parents asked at postnatal contacts",
      description:
        "Share of finished postnatal contacts at which a relationship assessment was recorded, overall and by contact type (NICE CG192 1.9.12).",
      xLabels: labels,
      xHeading,
      yLabel: "% of contacts",
      yMax: 100,
      format: (v) => `${v}%`,
      series: askedSeries(reports),
    }),
    barChart({
      title: "Assessments by caregiver role",
      description: "Relationship assessments recorded at postnatal contacts, by the caregiver's role.",
      xLabels: labels,
      xHeading,
      yLabel: "assessments",
      format: (v) => String(Math.round(v)),
      series: roleSeries(reports),
    }),
    barChart({
      title: "Clock breaches",
      description: "Pathway clock breaches raised in each interval.",
      xLabels: labels,
      xHeading,
      yLabel: "breaches",
      format: (v) => String(Math.round(v)),
      series: ["assessment", "intervention"].map((kind) => ({
        name: BREACH_NAMES[kind],
        values: reports.map((r) => {
          const stratum = ((group(r, "clock-breaches").stratifier || [])[0] || { stratum: [] }).stratum.find(
            (s) => (codingOf(s.value) || {}).code === kind,
          );
          return stratum ? (stratum.population || [{}])[0].count || 0 : 0;
        }),
      })),
    }),
    ),
  );
}

async function show(choice) {
  const teamName = choice.team ? orgName({ reference: choice.team }) : "the whole service";
  status.textContent = `Loading ${teamName}…`;
  // One view at a time: a second Show while this one loads would race it to the page.
  form.querySelector("button[type=submit]").disabled = true;
  for (const id of ["referrals", "prompts", "reviews", "measures"]) {
    const section = document.getElementById(id);
    section.setAttribute("aria-busy", "true");
    section.replaceChildren(el("p", { className: "muted" }, "Loading…"));
  }
  try {
    await Promise.all([showReferrals(choice.team), showPrompts(choice.team), showReviews(choice.team), showMeasures(choice)]);
  } finally {
    form.querySelector("button[type=submit]").disabled = false;
  }
  status.textContent = `Showing ${teamName}, ${choice.from} to ${choice.to}.`;
}

async function main() {
  renderNav("pathway");
  if (!(await requireSignIn())) return;
  const choice = choices();
  form.elements.from.value = choice.from;
  form.elements.to.value = choice.to;
  form.elements.interval.value = choice.interval;
  const [refused] = await Promise.all([loadTeams(choice.team), loadDisplays(DYAD_SYSTEMS)]);
  if (refused) {
    // Without the teams the page can still show the whole service, if the token allows that.
    refusal(document.getElementById("pathway-refusal"), refused, "the list of teams");
  }
  choice.team = form.elements.team.value;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = {
      team: form.elements.team.value,
      from: form.elements.from.value || choice.from,
      to: form.elements.to.value || choice.to,
      interval: form.elements.interval.value,
    };
    const params = new URLSearchParams({ from: next.from, to: next.to, interval: next.interval });
    if (next.team) params.set("team", next.team);
    history.replaceState(null, "", `?${params}`);
    show(next);
  });
  await show(choice);
}

main();

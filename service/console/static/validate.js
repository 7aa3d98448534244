// Validate: the submitted text goes to the server's own $validate, and each issue is shown
// beside the line of the text it names.
import { el, fhir, issueLocation, renderFailure, renderNav, renderOutcome, requireSignIn } from "./console.js";
import { packageExample } from "./package.js";
import { JsonSyntaxError, lineOf, parseJsonLines, parseXmlLines } from "./locate.js";

const form = document.getElementById("validate-form");
const text = document.getElementById("resource-text");
const profile = document.getElementById("profile");
const busy = document.getElementById("busy");
const results = document.getElementById("results");
const outcomeBox = document.getElementById("outcome");
const source = document.getElementById("source");

// What was submitted: its format, its resource type and its element tree (for line numbers).
function inspect(submitted) {
  const trimmed = submitted.trim();
  if (!trimmed) return { error: "Paste a resource or choose a file first." };
  if (trimmed.startsWith("<")) {
    const tree = parseXmlLines(submitted);
    if (!tree.resourceType) return { error: "The XML has no resource element." };
    return { format: "xml", type: tree.resourceType, tree, contentType: "application/fhir+xml" };
  }
  try {
    const tree = parseJsonLines(submitted);
    if (!tree.resourceType) return { error: "The JSON has no resourceType.", line: tree.line };
    return { format: "json", type: tree.resourceType, tree, contentType: "application/fhir+json" };
  } catch (error) {
    if (error instanceof JsonSyntaxError) return { error: `This is not valid JSON: ${error.message}.`, line: error.line };
    throw error;
  }
}

async function loadProfiles() {
  const response = await fhir("StructureDefinition?_count=500&_elements=url,name,title,type,kind,derivation");
  if (response.status !== 200) return;
  const profiles = (response.body.entry || [])
    .map((entry) => entry.resource)
    .filter((sd) => sd.kind === "resource" && sd.derivation === "constraint")
    .sort((a, b) => (a.title || a.name).localeCompare(b.title || b.name));
  for (const sd of profiles) {
    profile.append(el("option", { value: sd.url }, `${sd.title || sd.name} (${sd.type})`));
  }
  const wanted = new URLSearchParams(location.search).get("profile");
  if (wanted && profiles.some((sd) => sd.url === wanted)) profile.value = wanted;
}

// ?example=Observation/obs-1 fills the text with that example of the guide's package (the guide
// links here).
async function loadExample() {
  const example = new URLSearchParams(location.search).get("example");
  if (!example || !/^[A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(example)) return;
  const resource = await packageExample(example);
  if (resource) text.value = JSON.stringify(resource, null, 2);
}

function drawSource(submitted, flagged) {
  const lines = submitted.split("\n");
  const items = lines.map((line, i) => {
    const severity = flagged.get(i + 1);
    const flag = severity ? el("span", { className: "flag" }, `◀ ${severity}`) : null;
    return el(
      "li",
      {
        id: `line-${i + 1}`,
        tabindex: "-1",
        className: severity ? `flagged ${severity === "error" || severity === "fatal" ? "flagged-error" : ""}` : "",
        "data-line": i + 1,
      },
      line,
      flag,
    );
  });
  source.replaceChildren(el("ol", {}, items));
}

function goToLine(line) {
  const item = document.getElementById(`line-${line}`);
  if (!item) return;
  for (const current of source.querySelectorAll("li.current")) current.classList.remove("current");
  item.classList.add("current");
  item.scrollIntoView({ block: "center" });
  item.focus({ preventScroll: true });
  selectLineInTextarea(line);
}

// The same line selected in the editable text, so it can be corrected there at once.
function selectLineInTextarea(line) {
  const lines = text.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  text.setSelectionRange(start, start + (lines[line - 1] || "").length);
}

function showLocalError(message, line) {
  results.hidden = false;
  renderOutcome(outcomeBox, {
    resourceType: "OperationOutcome",
    issue: [{ severity: "error", code: "structure", diagnostics: message, expression: line ? [`line ${line}`] : undefined }],
  }, { onSelect: () => line && goToLine(line) });
  drawSource(text.value, new Map(line ? [[line, "error"]] : []));
}

async function validate(event) {
  event.preventDefault();
  const submitted = text.value;
  const seen = inspect(submitted);
  if (seen.error) {
    showLocalError(seen.error, seen.line);
    return;
  }
  const query = profile.value ? `?profile=${encodeURIComponent(profile.value)}` : "";
  busy.textContent = "Validating…";
  const response = await fhir(`${encodeURIComponent(seen.type)}/$validate${query}`, {
    method: "POST",
    body: submitted,
    headers: { "Content-Type": seen.contentType },
  });
  busy.textContent = "";
  results.hidden = false;
  const body = response.body;
  if (!body || body.resourceType !== "OperationOutcome") {
    renderFailure(outcomeBox, response);
    drawSource(submitted, new Map());
    return;
  }
  if (response.status === 401) {
    renderFailure(outcomeBox, response);
    return;
  }
  const lines = new Map();
  const issues = renderOutcome(outcomeBox, body, {
    onSelect: (issue) => goToLine(lineOf(seen.tree, issueLocation(issue))),
  });
  for (const issue of issues) {
    if (issue.severity === "information") continue;
    const line = lineOf(seen.tree, issueLocation(issue));
    if (!lines.has(line) || issue.severity === "error" || issue.severity === "fatal") lines.set(line, issue.severity);
  }
  drawSource(submitted, lines);
  document.getElementById("results-heading").focus();
}

async function readFile() {
  const file = document.getElementById("resource-file").files[0];
  if (file) text.value = await file.text();
}

async function start() {
  renderNav("validate");
  if (!(await requireSignIn())) return;
  form.addEventListener("submit", validate);
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  document.getElementById("resource-file").addEventListener("change", readFile);
  await Promise.all([loadProfiles(), loadExample()]);
}

start();

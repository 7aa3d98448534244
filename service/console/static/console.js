// Shared by every console page: the token, calls to the FHIR API, the header and outcome lists.
//
// The console holds no data of its own: every record comes from the FHIR API with the user's
// bearer token, so the server's access rules apply exactly as for any other client. The token
// lives in sessionStorage only: it is gone when the tab or browser closes, and never written
// to localStorage or a cookie.

export const FHIR_BASE = "/fhir";
const TOKEN_KEY = "dyad.console.token";
const PAGES = [
  ["validate", "Validate", "/console/validate"],
  ["guide", "Guide", "/console/guide"],
  ["pathway", "Pathway", "/console/pathway"],
];

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  const trimmed = (token || "").trim();
  if (trimmed) {
    sessionStorage.setItem(TOKEN_KEY, trimmed);
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
  }
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.assign("/console/signin");
}

let sessionPromise = null;

// What the server says about sign-in: {auth: "off"|"jwt", devToken: bool, orgClaim: string}.
export function serverSession() {
  if (sessionPromise === null) {
    sessionPromise = fetch("/console/session.json", { headers: { Accept: "application/json" } }).then((r) =>
      r.ok ? r.json() : { auth: "jwt", devToken: false, orgClaim: "organization" },
    );
  }
  return sessionPromise;
}

// The claims of the signed-in token, for display only (the server checks the signature).
export function tokenClaims(token = getToken()) {
  if (!token) return null;
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

// An absolute path for a FHIR API path: "Patient/1", "/Patient/1", "/fhir/Patient/1" or a full
// URL the server handed back (a Bundle's next link) on this origin.
export function fhirUrl(path) {
  if (/^https?:\/\//.test(path)) {
    const url = new URL(path);
    if (url.origin !== location.origin) throw new Error("The console only talks to its own server");
    return url.pathname + url.search;
  }
  if (path.startsWith(FHIR_BASE + "/") || path === FHIR_BASE) return path;
  return FHIR_BASE + (path.startsWith("/") ? path : "/" + path);
}

// One call to the FHIR API; resolves to {status, body} (body parsed when JSON, else text).
// A network failure resolves to status 0 with an OperationOutcome saying so.
export async function fhir(path, { method = "GET", body, headers = {} } = {}) {
  const sent = { Accept: "application/fhir+json", ...headers };
  const token = getToken();
  if (token) sent.Authorization = `Bearer ${token}`;
  let payload = body;
  if (body !== undefined && typeof body !== "string" && !(body instanceof Blob)) {
    payload = JSON.stringify(body);
    if (!hasHeader(sent, "Content-Type")) sent["Content-Type"] = "application/fhir+json";
  }
  let response;
  try {
    response = await fetch(fhirUrl(path), { method, body: payload, headers: sent, cache: "no-store" });
  } catch (error) {
    return { status: 0, body: outcome("fatal", "exception", `The server could not be reached: ${error.message}`) };
  }
  const type = response.headers.get("Content-Type") || "";
  const text = await response.text();
  if (type.includes("json") && text) {
    try {
      return { status: response.status, body: JSON.parse(text) };
    } catch {
      return { status: response.status, body: text };
    }
  }
  return { status: response.status, body: text };
}

function hasHeader(headers, name) {
  return Object.keys(headers).some((key) => key.toLowerCase() === name.toLowerCase());
}

export function outcome(severity, code, diagnostics) {
  return { resourceType: "OperationOutcome", issue: [{ severity, code, diagnostics }] };
}

// When the server wants a token and none is set, go to sign-in and come back here after.
// Resolves to true when the page may go on.
export async function requireSignIn() {
  const session = await serverSession();
  if (session.auth === "off" || getToken()) return true;
  const next = location.pathname + location.search + location.hash;
  location.assign(`/console/signin?next=${encodeURIComponent(next)}`);
  return false;
}

// A same-origin console path to go to after signing in; anything else goes to the validate page.
export function safeNext(value) {
  if (typeof value === "string" && /^\/console\/[^/\\]/.test(value) && !value.startsWith("/console//")) {
    return value;
  }
  return "/console/validate";
}

// An element with attributes and children; text is always set as text, never parsed as HTML.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "className") {
      node.className = value;
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// The common header: the console's name, its pages, and who is signed in.
export async function renderNav(activePage) {
  const header = document.getElementById("console-nav");
  if (!header) return;
  const links = PAGES.map(([page, label, href]) =>
    el("li", {}, el("a", { href, "aria-current": page === activePage ? "page" : undefined }, label)),
  );
  const status = el("div", { className: "signin-status", "aria-live": "polite" });
  header.replaceChildren(
    el(
      "div",
      { className: "bar" },
      el("a", { className: "brand", href: "/console/validate" }, "Dyad console"),
      el("nav", { "aria-label": "Console" }, el("ul", {}, links)),
      status,
    ),
  );
  const session = await serverSession();
  const claims = tokenClaims();
  if (getToken()) {
    const organisation = (claims && claims[session.orgClaim]) || "an unnamed organisation";
    status.replaceChildren(
      el("span", { className: "who" }, "Signed in as ", el("strong", {}, organisation)),
      el("button", { type: "button", className: "link-button", onclick: signOut }, "Sign out"),
    );
  } else if (session.auth === "off") {
    status.replaceChildren(
      el("span", { className: "who" }, "Development mode: no sign-in"),
      el("a", { href: "/console/signin", "aria-current": activePage === "signin" ? "page" : undefined }, "Sign in"),
    );
  } else {
    status.replaceChildren(
      el("a", { href: "/console/signin", "aria-current": activePage === "signin" ? "page" : undefined }, "Sign in"),
    );
  }
}

const SEVERITY_ORDER = { fatal: 0, error: 1, warning: 2, information: 3 };

// Where an issue points: its FHIRPath expression, else its (deprecated) location.
export function issueLocation(issue) {
  return (issue.expression && issue.expression[0]) || (issue.location && issue.location[0]) || "";
}

// An OperationOutcome's issues as a list, worst first. `onSelect(issue)`, when given, makes each
// issue's location a button (the validate page jumps to the line). Returns the issues drawn.
export function renderOutcome(element, operationOutcome, { onSelect } = {}) {
  const issues = [...((operationOutcome && operationOutcome.issue) || [])].sort(
    (a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9),
  );
  const errors = issues.filter((i) => i.severity === "error" || i.severity === "fatal").length;
  const warnings = issues.filter((i) => i.severity === "warning").length;
  const summary = el(
    "p",
    { className: errors ? "summary summary-error" : "summary summary-ok", role: "status" },
    errors
      ? `${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}`
      : warnings
        ? `No errors, ${warnings} warning${warnings === 1 ? "" : "s"}`
        : "No errors",
  );
  const list = el(
    "ul",
    { className: "issues", "aria-label": "Issues" },
    issues.map((issue, index) => {
      const where = issueLocation(issue);
      const location = where
        ? onSelect
          ? el(
              "button",
              { type: "button", className: "location", onclick: () => onSelect(issue, index) },
              el("code", {}, where),
            )
          : el("code", { className: "location" }, where)
        : el("span", { className: "location none" }, "(whole resource)");
      return el(
        "li",
        { className: `issue issue-${issue.severity}`, "data-index": index },
        el("span", { className: `severity severity-${issue.severity}` }, issue.severity || "issue"),
        " ",
        location,
        el("p", { className: "diagnostics" }, issue.diagnostics || (issue.details && issue.details.text) || issue.code),
      );
    }),
  );
  element.replaceChildren(summary, list);
  return issues;
}

// A failed call drawn for the user: the server's OperationOutcome, or the status.
export function renderFailure(element, response) {
  if (response.status === 401) {
    element.replaceChildren(
      el(
        "p",
        { className: "summary summary-error", role: "alert" },
        "The server needs a valid token: ",
        el("a", { href: `/console/signin?next=${encodeURIComponent(location.pathname + location.search)}` }, "sign in"),
        ".",
      ),
    );
    return;
  }
  if (response.body && response.body.resourceType === "OperationOutcome") {
    renderOutcome(element, response.body);
    return;
  }
  element.replaceChildren(el("p", { className: "summary summary-error", role: "alert" }, `Request failed (${response.status})`));
}

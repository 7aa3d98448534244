// Sign-in: paste a bearer token, or (development servers only) ask the server for one.
import { el, getToken, renderNav, safeNext, serverSession, setToken, tokenClaims } from "./console.js";

const next = safeNext(new URLSearchParams(location.search).get("next"));

function showError(id, message) {
  const box = document.getElementById(id);
  box.textContent = message;
  box.hidden = false;
}

async function start() {
  renderNav("signin");
  const session = await serverSession();
  const mode = document.getElementById("mode");
  if (session.auth === "off") {
    mode.replaceChildren(
      el("p", {}, "This server runs in development mode (DYAD_AUTH=off): it needs no token, and every caller sees every record."),
      el("p", {}, el("a", { href: next, id: "continue" }, "Continue without a token")),
    );
    mode.hidden = false;
  } else if (getToken()) {
    const claims = tokenClaims() || {};
    mode.replaceChildren(
      el("p", {}, "Signed in as ", el("strong", {}, claims[session.orgClaim] || "an unnamed organisation"), "."),
      el("p", {}, el("a", { href: next }, "Continue")),
    );
    mode.hidden = false;
  }
  document.getElementById("dev-token").hidden = !session.devToken;

  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = document.getElementById("token").value.trim();
    if (token.split(".").length !== 3 || !tokenClaims(token)) {
      showError("token-error", "That is not a bearer token (a JWT has three parts separated by dots).");
      document.getElementById("token").focus();
      return;
    }
    setToken(token);
    location.assign(next);
  });

  document.getElementById("dev-token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const organization = document.getElementById("dev-organization").value;
    const response = await fetch("/console/dev-token", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ organization }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.access_token) {
      const issue = body.issue && body.issue[0];
      showError("dev-token-error", (issue && issue.diagnostics) || `The server gave no token (${response.status}).`);
      return;
    }
    setToken(body.access_token);
    location.assign(next);
  });
}

start();

// A single-page app calling a jwtx API on another origin, in one of two modes:
//
// - "cookies" (same site, e.g. app.jwtx.localhost -> api.jwtx.localhost): the tokens live in
//   HttpOnly cookies that this script never sees. fetch sends them with
//   `credentials: "include"`; state-changing calls add X-CSRF-TOKEN, read from the csrf_*
//   cookie, which this page can read because the API sets its cookies on the shared parent
//   domain (cookie_domain).
// - "headers" (cross site, e.g. localhost -> 127.0.0.1): SameSite=Lax cookies are not sent
//   cross site, so the tokens come in the login's JSON body, stay in memory only (never
//   localStorage, where any injected script could read them for later) and go out as
//   `Authorization: Bearer`.

const $ = (id) => document.getElementById(id);

// Header mode's tokens: in memory, gone when the tab closes or reloads.
let accessToken = null;
let refreshToken = null;

const mode = () => $("mode").value;
const origin = () => $("api-origin").value.trim().replace(/\/+$/, "");

// The value of a cookie readable by this page, or null.
function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

// Appends one entry to the output: the call, its status and its JSON. Tokens are shortened
// so that the screen never shows one whole.
function show(title, status, body) {
  const short = (key, value) =>
    typeof value === "string" && key.endsWith("_token") ? `${value.slice(0, 12)}…` : value;
  const text = body === undefined ? "" : `\n${JSON.stringify(body, short, 2)}`;
  const out = $("output");
  out.textContent += `${out.textContent ? "\n\n" : ""}${title} -> ${status}${text}`;
  out.scrollTop = out.scrollHeight;
}

// One call to the API in the current mode. `csrf` names the cookie whose value the cookie mode
// sends as X-CSRF-TOKEN; `bearer` is the token the header mode sends.
async function call(method, path, { json, csrf, bearer } = {}) {
  const headers = {};
  if (json !== undefined) headers["Content-Type"] = "application/json";
  // Without a readable csrf cookie (no cookie_domain?) the call still goes out, and the
  // server's answer says what is missing.
  const csrfValue = mode() === "cookies" && csrf && cookie(csrf);
  if (csrfValue) headers["X-CSRF-TOKEN"] = csrfValue;
  if (mode() === "headers" && bearer) headers.Authorization = `Bearer ${bearer}`;
  const title = `${method} ${origin()}${path}`;
  try {
    const res = await fetch(origin() + path, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
      // Cookie mode sends and accepts the API's cookies; header mode keeps cookies out, so
      // that a stray cookie never turns the login into a cookie-mode login.
      credentials: mode() === "cookies" ? "include" : "omit",
    });
    const body = await res.json().catch(() => undefined);
    show(title, `${res.status} ${res.statusText}`, body);
    return { ok: res.ok, body };
  } catch (e) {
    // A refused CORS preflight looks like a network error to the script.
    show(title, "failed", { error: `${e.message} (is the API running, and this origin in cors_allowed_origins?)` });
    return null;
  }
}

async function logIn(event) {
  event.preventDefault();
  const json = { username: $("username").value, password: $("password").value };
  if (mode() === "cookies") json.token_transport = "cookies"; // tokens in cookies only
  const res = await call("POST", "/login", { json });
  $("password").value = "";
  if (res?.ok && mode() === "headers") {
    accessToken = res.body.access_token;
    refreshToken = res.body.refresh_token;
  }
}

// GET /protected: the access token cookie, or the access token as Bearer.
function callProtected() {
  return call("GET", "/protected", { bearer: accessToken ?? "" });
}

// POST /refresh: a new access token and the next refresh token (the old one is used up).
async function refresh() {
  const res = await call("POST", "/refresh", { csrf: "csrf_refresh_token", bearer: refreshToken ?? "" });
  if (res?.ok && mode() === "headers") {
    accessToken = res.body.access_token;
    refreshToken = res.body.refresh_token ?? refreshToken;
  }
}

// POST /logout: ends the session on the server (and clears the cookies in cookie mode).
async function logOut() {
  await call("POST", "/logout", { csrf: "csrf_access_token", bearer: accessToken ?? "" });
  accessToken = null;
  refreshToken = null;
}

$("login").addEventListener("submit", logIn);
$("settings").addEventListener("submit", (e) => e.preventDefault());
$("protected").addEventListener("click", callProtected);
$("refresh").addEventListener("click", refresh);
$("logout").addEventListener("click", logOut);
// Tokens of one mode or origin mean nothing in another.
for (const id of ["mode", "api-origin"]) {
  $(id).addEventListener("change", () => {
    accessToken = null;
    refreshToken = null;
  });
}

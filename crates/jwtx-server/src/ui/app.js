// jwtx account page: sign in, see who you are and your sessions, log out, change password.
//
// It talks to the API of its own origin with the tokens in HttpOnly cookies. Every
// state-changing request carries the CSRF double-submit header, read from the script-readable
// csrf_* cookies. The page is served under a strict CSP (no inline code, no eval), and text
// that users control (names, user agents) is only ever set through textContent.

const $ = (id) => document.getElementById(id);

const ENDED = "Your session was ended elsewhere. Log in again.";
const EXPIRED = "Your session has expired. Log in again.";
const UNAVAILABLE = "The service is unavailable. Try again later.";
const LOGGED_OUT = "You are logged out.";
const REVOKED_MSG = "Token has been revoked";

// The last GET /me answer while signed in ({identity, roles, fresh, expires_at, session_id}).
let me = null;
// The cursor of the next page of sessions, if the server has more.
let nextCursor = null;
// True while an action runs: further clicks are ignored until it ends (buttons stay enabled
// so that keyboard focus is never lost to a disabled control).
let busy = false;

// An action that stopped, with the message to show; `signedOut` means the session is gone
// and the login view comes back.
class Stop extends Error {
  constructor(message, signedOut = false) {
    super(message);
    this.signedOut = signedOut;
  }
}

// --- The API -------------------------------------------------------------------------------

// The value of a script-readable cookie, or null.
function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

// One HTTP exchange: {status, ok, msg, body, retryAfter}. `csrf` names the cookie whose value
// goes into X-CSRF-TOKEN. A network failure becomes a Stop with a message in words.
async function send(method, path, { json, csrf } = {}) {
  const headers = {};
  if (json !== undefined) headers["Content-Type"] = "application/json";
  const token = csrf && cookie(csrf);
  if (token) headers["X-CSRF-TOKEN"] = token;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new Stop("The server cannot be reached. Check your connection and try again.");
  }
  const body = await res.json().catch(() => ({}));
  return {
    status: res.status,
    ok: res.ok,
    msg: typeof body.msg === "string" ? body.msg : "",
    body,
    retryAfter: res.headers.get("Retry-After"),
  };
}

// A failed answer in words: throttling and unavailability have their own texts, anything
// else is the server's msg.
function failure(res) {
  if (res.status === 429) {
    const n = Number.parseInt(res.retryAfter ?? "", 10);
    if (Number.isNaN(n)) return "Too many attempts. Try again later.";
    return `Too many attempts. Try again in ${n} ${n === 1 ? "second" : "seconds"}.`;
  }
  if (res.status === 503) return UNAVAILABLE;
  return res.msg || `The request failed (HTTP ${res.status}).`;
}

// POST /refresh: a new access token and the next refresh token, in cookies. Callers at the
// same moment share one request, since a second rotation with the already-used refresh
// token would look like token theft (reuse).
let refreshing = null;
function refresh() {
  refreshing ??= rotate().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

async function rotate() {
  if (!cookie("csrf_refresh_token")) throw new Stop(EXPIRED, true);
  const res = await send("POST", "/refresh", { csrf: "csrf_refresh_token" });
  if (res.ok) {
    // The new access token's expiry is unknown until the next GET /me; meanwhile don't
    // refresh again before each call.
    if (me) me.expires_at = Infinity;
    return;
  }
  if (res.msg === REVOKED_MSG) throw new Stop(ENDED, true);
  if (res.status === 401 || res.status === 422) throw new Stop(EXPIRED, true);
  throw new Stop(failure(res));
}

// 401 answers that a refresh cannot cure.
const FINAL_401 = new Set([REVOKED_MSG, "Fresh token required", "Current password is incorrect"]);

// An authenticated call that keeps the user signed in: it refreshes first when the access
// token's expiry (from /me) has passed, and once more, then retries, when the server refuses
// the access token for another reason than revocation (expired, or its cookie already gone).
// A revoked token means the session was ended elsewhere.
async function api(method, path, json) {
  if (me && Date.now() / 1000 >= me.expires_at) await refresh();
  const options = { json, csrf: method === "GET" ? undefined : "csrf_access_token" };
  let res = await send(method, path, options);
  if (res.status === 401 && !FINAL_401.has(res.msg)) {
    await refresh();
    res = await send(method, path, options);
  }
  if (res.status === 401 && res.msg === REVOKED_MSG) throw new Stop(ENDED, true);
  return res;
}

// The answer's body, or a Stop with the failure in words.
function expectOk(res) {
  if (!res.ok) throw new Stop(failure(res));
  return res.body;
}

// --- Rendering -----------------------------------------------------------------------------

// Shows one message: news in the status region, errors in the alert region.
function say(text, isError = false) {
  $("status").textContent = isError ? "" : text;
  $("error").textContent = isError ? text : "";
}

// Shows the view `name` ("login" or "account"). When the view changes (not on the first
// render), focus moves to its heading so a keyboard or screen reader user continues there.
function showView(name) {
  const first = !$("loading").hidden;
  $("loading").hidden = true;
  for (const view of ["login", "account"]) {
    const section = $(`${view}-view`);
    const changed = section.hidden && view === name;
    section.hidden = view !== name;
    if (changed && !first) section.querySelector("h2").focus();
  }
}

// HH:MM:SS in the browser's local time.
function clock(seconds) {
  const d = new Date(seconds * 1000);
  const two = (n) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

// A <time> with the local date and time of `seconds`.
function timeElement(seconds) {
  const d = new Date(seconds * 1000);
  const t = document.createElement("time");
  t.dateTime = d.toISOString();
  t.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  return t;
}

// One row of the sessions table.
function sessionRow(s) {
  const row = document.createElement("tr");
  const cell = (className, ...content) => {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.append(...content);
    row.append(td);
    return td;
  };
  const browser = cell("browser", s.user_agent || "Unknown browser");
  if (s.current) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "This browser";
    browser.append(document.createElement("br"), badge);
  }
  cell("", s.ip || "Unknown");
  cell("when", timeElement(s.created_at));
  cell("when", timeElement(s.last_used_at));
  const revoke = document.createElement("button");
  revoke.type = "button";
  revoke.textContent = "Revoke";
  revoke.addEventListener("click", () => run(() => revokeSession(s)));
  cell("", revoke);
  return row;
}

// Appends a page of GET /sessions to the table and remembers its cursor.
function addSessions(page) {
  $("sessions-body").append(...page.sessions.map(sessionRow));
  nextCursor = page.next_cursor ?? null;
  $("sessions-more").hidden = nextCursor === null;
}

// Loads and shows the account view: GET /me, then the first page of GET /sessions. Every
// action ends here, so a session ended elsewhere is noticed at the next action.
async function loadAccount() {
  me = expectOk(await api("GET", "/me"));
  const page = expectOk(await api("GET", "/sessions"));
  $("account-name").textContent = `Signed in as ${me.identity}`;
  $("password-username").value = me.identity;
  $("account-roles").textContent = `Roles: ${me.roles.length ? me.roles.join(", ") : "none"}`;
  $("account-expiry").textContent = `Access token expires at ${clock(me.expires_at)}`;
  $("sessions-body").replaceChildren();
  addSessions(page);
  showView("account");
}

// Back to the login view with `message` (an error unless it says the user logged out).
function signedOut(message) {
  me = null;
  $("sessions-body").replaceChildren();
  $("login-password").value = "";
  $("current-password").value = "";
  $("new-password").value = "";
  say(message, message !== LOGGED_OUT);
  showView("login");
}

// Runs one user action: one at a time, the last message cleared, every failure shown in
// words, and the login view back when the session is gone.
async function run(action) {
  if (busy) return;
  busy = true;
  say("");
  $("main").setAttribute("aria-busy", "true");
  try {
    await action();
  } catch (e) {
    const stop = e instanceof Stop ? e : new Stop("Something went wrong. Reload the page.");
    if (!(e instanceof Stop)) console.error(e);
    if (stop.signedOut) signedOut(stop.message);
    else say(stop.message, true);
  } finally {
    busy = false;
    $("main").removeAttribute("aria-busy");
  }
}

// --- Actions -------------------------------------------------------------------------------

// POST /login with the tokens set as cookies; the answer's body holds no token.
async function logIn(username, password) {
  const res = await send("POST", "/login", {
    json: { username, password, token_transport: "cookies" },
  });
  if (res.status === 401) throw new Stop("Wrong username or password.");
  expectOk(res);
}

async function onLogin() {
  const username = $("login-username").value;
  const password = $("login-password").value;
  await logIn(username, password);
  $("login-password").value = "";
  await loadAccount();
}

// POST /logout (this session) or /logout/all (every session of the user); both clear the
// cookies.
async function logOut(path) {
  expectOk(await api("POST", path));
  signedOut(LOGGED_OUT);
}

// DELETE /sessions/{id}. This browser's own row is a log out: POST /logout revokes the same
// session and also clears this browser's cookies.
async function revokeSession(s) {
  if (s.current) return logOut("/logout");
  expectOk(await api("DELETE", `/sessions/${encodeURIComponent(s.id)}`));
  await loadAccount();
  // Its button is gone with its row: keep keyboard focus nearby, on the table.
  $("sessions").focus();
  say("The session was revoked.");
}

async function onMoreSessions() {
  const query = new URLSearchParams({ cursor: nextCursor });
  addSessions(expectOk(await api("GET", `/sessions?${query}`)));
  if (nextCursor === null) $("sessions").focus(); // the focused button was just hidden
}

// Logs in again with the current password for a fresh access token (POST /password needs
// one; tokens from a refresh are not fresh). The login starts a new session for this browser,
// so the one it replaces is revoked: it would otherwise linger with no browser behind it and
// count among the "other sessions" the password change ends.
async function reauthenticate(password) {
  const previous = me.session_id;
  try {
    await logIn(me.identity, password);
  } catch (e) {
    if (e instanceof Stop && e.message === "Wrong username or password.") {
      throw new Stop("The current password is wrong.");
    }
    throw e;
  }
  me = null; // the new token's expiry is unknown until the next GET /me
  if (previous) await api("DELETE", `/sessions/${encodeURIComponent(previous)}`);
}

async function onChangePassword() {
  const body = {
    current_password: $("current-password").value,
    new_password: $("new-password").value,
  };
  let res = await api("POST", "/password", body);
  if (res.status === 401 && res.msg === "Fresh token required") {
    await reauthenticate(body.current_password);
    res = await api("POST", "/password", body);
  }
  if (res.status === 401 && res.msg === "Current password is incorrect") {
    throw new Stop("The current password is wrong.");
  }
  const { sessions_ended: ended = 0 } = expectOk(res);
  $("current-password").value = "";
  $("new-password").value = "";
  await loadAccount();
  let text = "Password changed.";
  if (ended === 1) text += " 1 other session was ended.";
  else if (ended > 1) text += ` ${ended} other sessions were ended.`;
  say(text);
}

// On load: the account view when the cookies still hold a session (refreshing it if the
// access token expired), else the login view; a revoked session says it was ended elsewhere.
async function start() {
  try {
    await loadAccount();
  } catch (e) {
    if (!(e instanceof Stop)) console.error(e);
    const ended = e instanceof Stop && e.message === ENDED;
    const quiet = !(e instanceof Stop) || (e.signedOut && !ended);
    signedOut(quiet ? "" : e.message);
  }
}

// Forms never submit natively: the script sends JSON instead.
$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  run(onLogin);
});
$("password-form").addEventListener("submit", (e) => {
  e.preventDefault();
  run(onChangePassword);
});
$("logout").addEventListener("click", () => run(() => logOut("/logout")));
$("logout-all").addEventListener("click", () => run(() => logOut("/logout/all")));
$("sessions-more").addEventListener("click", () => run(onMoreSessions));
run(start);

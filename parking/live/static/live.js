// The live page: polls api/v1/page each second and redraws what changed (issue 26).
// Everything it needs is this file, live.css and the API of the same origin.
"use strict";

const POLL_MS = 1000;
const FORECAST_MS = 60000;  // a forecast changes by the hour: once a minute is plenty
const SVG = "http://www.w3.org/2000/svg";
const UNCATALOGUED = "(uncatalogued)";  // the spots that send events but are not in the catalog, as the CLI names them
const LOAD_CATALOG = "parking-cli spots load FILE";
let baysBySpot = new Map();
let layoutKey = null;
let lastAt = null;  // the "at" of the last document drawn: the figures on screen are as of then

// On AWS the API is behind a JWT authorizer: an operator signs in on the user pool's hosted page
// (authorization code flow with PKCE; the server fills the two meta tags there, and leaves them
// empty when it serves this machine's lake, which needs no sign-in).
function meta(name) {
  const tag = document.querySelector(`meta[name="${name}"]`);
  return tag ? tag.content : "";
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function redirectUri() {
  return window.location.origin + window.location.pathname;
}

async function signIn() {
  const auth = meta("parking-auth");
  const client = meta("parking-client");
  if (!auth || !client) return false;
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  sessionStorage.setItem("parking-verifier", verifier);
  const query = new URLSearchParams({ response_type: "code", client_id: client, redirect_uri: redirectUri(),
    scope: "openid email", code_challenge: base64url(new Uint8Array(digest)), code_challenge_method: "S256" });
  window.location.assign(`${auth}/oauth2/authorize?${query}`);
  return true;
}

async function redeemCode() {
  const code = new URLSearchParams(window.location.search).get("code");
  const verifier = sessionStorage.getItem("parking-verifier");
  if (!code || !verifier || !meta("parking-auth")) return;
  history.replaceState(null, "", window.location.pathname);
  const response = await fetch(`${meta("parking-auth")}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", client_id: meta("parking-client"), code,
      redirect_uri: redirectUri(), code_verifier: verifier }),
  });
  sessionStorage.removeItem("parking-verifier");
  if (response.ok) sessionStorage.setItem("parking-token", (await response.json()).id_token);
}

function token() {
  return sessionStorage.getItem("parking-token");
}

function text(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.textContent = content;
  return node;
}

function percent(rate) {
  return rate === null ? "-" : `${Math.round(rate * 100)}%`;
}

function zoneName(zone) {
  return zone ?? UNCATALOGUED;
}

function bays(count) {
  return `${count.toLocaleString()} ${count === 1 ? "bay" : "bays"}`;
}

function localHour(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function tileLevel(zone) {
  if (zone.occupied + zone.free === 0) return "level-unknown";
  if (zone.free === 0) return "level-full";
  if (zone.free < Math.max(2, 0.1 * zone.capacity)) return "level-few";
  return "level-free";
}

function drawSummary(doc) {
  const s = doc.summary;
  const summary = document.getElementById("summary");
  summary.replaceChildren();
  summary.append(text("span", "free-now", `${s.free.toLocaleString()} bays free now`));
  const parts = [];
  if (s.fullest.length) parts.push("fullest: " + s.fullest.map((z) => `${z.zone} ${percent(z.occupancy_rate)}`).join(", "));
  parts.push(`${s.overstays} ${s.overstays === 1 ? "stay" : "stays"} to enforce`);
  parts.push(`${s.sensors_to_check} ${s.sensors_to_check === 1 ? "sensor" : "sensors"} to check`);
  summary.append(text("span", "rest", " · " + parts.join(" · ")));
  const at = new Date(doc.at);
  document.getElementById("meta").className = "meta";
  document.getElementById("meta").textContent =
    `${s.capacity.toLocaleString()} bays, ${s.unknown.toLocaleString()} unknown · as of ${at.toLocaleTimeString()} ` +
    `(updates by itself) · a sensor silent for ${doc.lookback_hours} h is unknown`;
  const notice = document.getElementById("notice");
  if (doc.catalog) {
    notice.hidden = true;
    notice.replaceChildren();
  } else {
    notice.hidden = false;
    notice.replaceChildren(
      `No spot catalog is loaded: ${s.uncatalogued ? `the ${bays(s.uncatalogued)} counted are ${UNCATALOGUED}, ` +
        "the ones that send events" : "no bay has a zone or a place on a map"}. Load one with `,
      text("code", "", LOAD_CATALOG), " so zones and maps appear.");
  }
}

function drawZones(zones) {
  const list = document.getElementById("zones");
  const items = zones.map((zone) => {
    const item = document.createElement("li");
    item.className = `tile ${tileLevel(zone)}`;
    item.dataset.zone = zone.zone ?? "";
    if (zone.zone === null) item.title = "bays that send events but are not in the spot catalog";
    item.append(text("div", "name", zoneName(zone.zone)));
    if (zone.occupied + zone.free === 0) {  // no bay's state is known: no free count to show
      item.append(text("div", "free state-unknown", "state unknown"));
      item.append(text("div", "detail", bays(zone.capacity)));
      return item;
    }
    const free = text("div", "free", `${zone.free} free`);
    free.dataset.free = String(zone.free);
    item.append(free);
    item.append(text("div", "detail",
      `of ${zone.capacity} · ${percent(zone.occupancy_rate)} full` + (zone.unknown ? ` · ${zone.unknown} unknown` : "")));
    return item;
  });
  list.replaceChildren(...items);
}

function drawMaps(levels) {
  const key = levels.map((l) => `${l.level}:${l.bays.length}:${l.bays.length ? l.bays[0][0] : ""}`).join("|");
  if (key !== layoutKey) {
    layoutKey = key;
    baysBySpot = new Map();
    const maps = document.getElementById("maps");
    if (!levels.length) {
      const empty = text("p", "empty", "No maps: the bays' places come from the spot catalog. Load one with ");
      empty.append(text("code", "", LOAD_CATALOG), ".");
      maps.replaceChildren(empty);
      return;
    }
    maps.replaceChildren(...levels.map((level) => {
      const figure = document.createElement("figure");
      figure.dataset.level = level.level;
      figure.append(text("figcaption", "", `Level ${level.level}` + (level.kind === "grid" ? " (by zone)" : "")));
      const svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("class", "map");
      svg.setAttribute("viewBox", level.bounds.join(" "));
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", `Bays of level ${level.level}`);
      for (const [spot, zone, state, x, y] of level.bays) {
        const circle = document.createElementNS(SVG, "circle");
        circle.setAttribute("cx", x);
        circle.setAttribute("cy", y);
        circle.setAttribute("r", level.radius);
        circle.setAttribute("stroke-width", level.radius * 0.15);
        circle.dataset.spot = spot;
        const title = document.createElementNS(SVG, "title");
        circle.append(title);
        svg.append(circle);
        baysBySpot.set(spot, { circle, title, zone, state: null });
      }
      figure.append(svg);
      return figure;
    }));
  }
  for (const level of levels) {
    for (const [spot, zone, state] of level.bays) {
      const bay = baysBySpot.get(spot);
      if (bay && bay.state !== state) {
        bay.state = state;
        bay.circle.setAttribute("class", state);
        bay.circle.dataset.state = state;
        bay.title.textContent = `${spot} (${zone}): ${state}`;
      }
    }
  }
}

function peak(hours) {
  // A zone's highest forecast rate over the hours shown (-1 when none is known), to order the rows by.
  return Math.max(-1, ...[...hours.values()].map((row) => row.occupancy_rate ?? -1));
}

// Why an hour's 80 % interval is 0-100 % (parking.analytics.forecast.UNCALIBRATED).
const UNCALIBRATED = "too little history to calibrate it yet (it takes 8 to 10 days of events)";

function drawForecast(answer) {
  // One row per zone, fullest at its peak first and the uncatalogued last, one column per hour ahead in the
  // browser's local time (UTC in the title): the forecast occupancy (80 % interval in the title). An hour
  // whose interval could not be calibrated is marked, and a line under the table says why.
  const table = document.getElementById("forecast");
  const hours = [...new Set(answer.rows.map((row) => row.hour))].sort();
  const uncalibrated = new Set((answer.uncalibrated_hours ?? []).filter((hour) => hours.includes(hour)));
  const zones = new Map();
  for (const row of answer.rows) {
    if (!zones.has(row.zone)) zones.set(row.zone, new Map());
    zones.get(row.zone).set(row.hour, row);
  }
  const order = [...zones.keys()].sort((a, b) =>
    (a === null) - (b === null) || peak(zones.get(b)) - peak(zones.get(a)) || (a < b ? -1 : a > b ? 1 : 0));
  const head = document.createElement("tr");
  head.append(text("th", "", "zone"), ...hours.map((hour) => {
    const cell = text("th", uncalibrated.has(hour) ? "uncalibrated" : "", localHour(hour));
    cell.title = `${hour.slice(11, 16)} UTC`;
    cell.dataset.hour = hour;
    return cell;
  }));
  const rows = order.map((zone) => {
    const line = document.createElement("tr");
    line.dataset.zone = zone ?? "";
    line.append(text("th", "", zoneName(zone)));
    for (const hour of hours) {
      const row = zones.get(zone).get(hour);
      const cell = text("td", uncalibrated.has(hour) ? "uncalibrated" : "", row ? percent(row.occupancy_rate) : "-");
      if (row && row.low !== null) {
        cell.title = `80 % interval ${percent(row.low)} to ${percent(row.high)}`
          + (uncalibrated.has(hour) ? `: ${UNCALIBRATED}` : "");
      }
      line.append(cell);
    }
    return line;
  });
  table.replaceChildren(head, ...rows);
  const note = document.getElementById("forecast-note");
  const which = uncalibrated.size >= hours.length ? "every hour" : `${uncalibrated.size} of the ${hours.length} hours`;
  note.textContent = uncalibrated.size ? `* The 80 % interval is 0-100 % at ${which}: ${UNCALIBRATED}.` : "";
  note.hidden = uncalibrated.size === 0;
}

async function refreshForecast() {
  const headers = {};
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  try {
    const response = await fetch("api/v1/forecast?by=zone&hours=6", { cache: "no-store", headers });
    if (response.ok) drawForecast(await response.json());
  } catch (error) {
    // the table keeps the last forecast; the page's own refresh says the server is not answering
  } finally {
    setTimeout(refreshForecast, FORECAST_MS);
  }
}

async function reason(response) {
  // A failed answer's one line: the API's detail, else the HTTP status (a proxy's error page is not JSON).
  try {
    const detail = (await response.json()).detail;
    if (detail) return detail;
  } catch (error) {
    // not JSON
  }
  return `HTTP ${response.status}${response.statusText ? " " + response.statusText : ""}`;
}

async function refresh() {
  const headers = {};
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  try {
    const response = await fetch("api/v1/page", { cache: "no-store", headers });
    if (response.status === 401) {
      sessionStorage.removeItem("parking-token");
      if (await signIn()) return;
      throw new Error("sign in to see the live answers");
    }
    if (!response.ok) throw new Error(await reason(response));
    const doc = await response.json();
    drawSummary(doc);
    drawZones(doc.zones);
    drawMaps(doc.levels);
    document.body.dataset.at = doc.at;
    document.body.classList.remove("stale");
    lastAt = doc.at;
  } catch (error) {
    // The figures on screen stay, greyed out, with the time they are from.
    document.body.classList.add("stale");
    const meta = document.getElementById("meta");
    const since = lastAt ? ` since ${new Date(lastAt).toLocaleTimeString()}` : "";
    meta.textContent = `Not updated${since}: ${error.message}`;
    meta.className = "meta error";
  } finally {
    setTimeout(refresh, POLL_MS);
  }
}

redeemCode().finally(() => { refresh(); refreshForecast(); });

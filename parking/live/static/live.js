// The live page: polls api/v1/page each second and redraws what changed (issue 26).
// Everything it needs is this file, live.css and the API of the same origin.
"use strict";

const POLL_MS = 1000;
const SVG = "http://www.w3.org/2000/svg";
let baysBySpot = new Map();
let layoutKey = "";

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
}

function drawZones(zones) {
  const list = document.getElementById("zones");
  const items = zones.map((zone) => {
    const item = document.createElement("li");
    item.className = `tile ${tileLevel(zone)}`;
    item.dataset.zone = zone.zone;
    item.append(text("div", "name", zone.zone));
    const free = text("div", "free", `${zone.occupied + zone.free === 0 ? "?" : zone.free} free`);
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
    if (!response.ok) throw new Error((await response.json()).detail || response.statusText);
    const doc = await response.json();
    drawSummary(doc);
    drawZones(doc.zones);
    drawMaps(doc.levels);
    document.body.dataset.at = doc.at;
  } catch (error) {
    const meta = document.getElementById("meta");
    meta.textContent = `Not updated: ${error.message}`;
    meta.className = "meta error";
  } finally {
    setTimeout(refresh, POLL_MS);
  }
}

redeemCode().finally(refresh);

// The live page: polls api/v1/page each second and redraws what changed (issue 26).
// Everything it needs is this file, live.css and the API of the same origin.
"use strict";

const POLL_MS = 1000;
const SVG = "http://www.w3.org/2000/svg";
let baysBySpot = new Map();
let layoutKey = "";

function token() {
  // On AWS the API is behind a JWT authorizer: the sign-in page hands back a token in the fragment.
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const fresh = fragment.get("id_token") || fragment.get("access_token");
  if (fresh) {
    sessionStorage.setItem("parking-token", fresh);
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
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
      const login = document.querySelector('meta[name="parking-login"]');
      if (login && login.content) window.location.assign(login.content);
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

refresh();

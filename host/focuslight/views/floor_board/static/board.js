// The floor board page: one live snapshot from /events, rendered as tiles that tick.
// Never lie: while the stream is down or silent, every tile shows "unknown".
"use strict";

const LABELS = {
  available: "available", ringing: "ringing", engaged: "engaged", hold: "on hold",
  wrap_up: "wrap-up", dnd: "do not disturb", away: "away", unknown: "unknown",
};
const SILENCE_MS = 12000;  // the board pings every 5 s; two missed pings mean a dead stream

let snapshot = null;       // the last view from the board
let offsetMs = 0;          // board clock minus this browser's clock
let live = false;
let lostAt = Date.now();
let stream = null;
let watchdog = 0;
const tiles = new Map();   // agent id -> its tile element, reused so animations run smoothly

function connect() {
  if (stream) stream.close();  // at most one stream, whichever path reconnects
  stream = new EventSource("events");
  stream.addEventListener("snapshot", (e) => { snapshot = JSON.parse(e.data); heard(snapshot.now); });
  stream.addEventListener("ping", (e) => heard(JSON.parse(e.data).now));
  stream.onerror = () => {
    lost();
    if (stream.readyState === EventSource.CLOSED) {  // a proxy error page: the browser gave up
      setTimeout(connect, 2000);
    }
  };
}

function heard(boardNow) {
  offsetMs = boardNow * 1000 - Date.now();
  live = snapshot !== null;
  clearTimeout(watchdog);
  watchdog = setTimeout(() => { lost(); connect(); }, SILENCE_MS);  // a half-open stream
  render();
}

function lost() {
  if (live) {
    live = false;
    lostAt = Date.now();
  }
  render();
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${pad(Math.floor(s % 3600 / 60))}m`;
}

function render() {
  const now = (Date.now() + offsetMs) / 1000;
  const agents = snapshot ? snapshot.agents : [];
  const floor = document.getElementById("floor");
  const seen = new Set();
  const beaconsOf = new Map();  // agent id -> the beacons that report showing it
  for (const beacon of snapshot && snapshot.beacons ? snapshot.beacons : []) {
    if (!beaconsOf.has(beacon.agent)) beaconsOf.set(beacon.agent, []);
    beaconsOf.get(beacon.agent).push(beacon);
  }
  let previous = null;
  for (const agent of agents) {
    seen.add(agent.id);
    const state = live ? agent.state : "unknown";
    const since = live ? agent.since : (lostAt + offsetMs) / 1000;
    const tile = drawTile(agent, state, `for ${duration(now - since)}`,
                          beaconsOf.get(agent.id) || []);
    const wanted = previous ? previous.nextSibling : floor.firstChild;
    if (tile !== wanted) {  // move only when out of place: a move restarts the blink
      floor.insertBefore(tile, wanted);
    }
    previous = tile;
  }
  for (const [id, tile] of tiles) {
    if (!seen.has(id)) { tile.remove(); tiles.delete(id); }
  }
  document.getElementById("empty").hidden = !live || agents.length > 0;
  drawHeader();
  fit(floor, `${agents.length} ${document.getElementById("banner").hidden}`);
}

let fittedFor = null;

// A wall TV cannot scroll: shrink the tiles (never below 40%) until the whole floor fits
// the screen. Only when the tile count or the banner changes, so the tiles don't jitter.
function fit(floor, layout) {
  if (layout === fittedFor) return;
  fittedFor = layout;
  const fits = () => document.documentElement.scrollHeight <= window.innerHeight;
  floor.style.fontSize = "1rem";
  if (fits()) return;
  let [lo, hi] = [0.4, 1.0];
  for (let step = 0; step < 7; step++) {
    const mid = (lo + hi) / 2;
    floor.style.fontSize = `${mid}rem`;
    [lo, hi] = fits() ? [mid, hi] : [lo, mid];
  }
  floor.style.fontSize = `${lo}rem`;
}

function drawTile(agent, state, forText, beacons) {
  let tile = tiles.get(agent.id);
  if (!tile) {
    tile = document.createElement("article");
    tile.dataset.agent = agent.id;
    tile.title = agent.id;
    for (const [tag, cls] of [["h2", "who"], ["p", "what"], ["p", "for"], ["p", "beacons"]]) {
      const el = document.createElement(tag);
      el.className = cls;
      tile.append(el);
    }
    tiles.set(agent.id, tile);
  }
  tile.querySelector(".who").textContent = agent.name;
  if (tile.dataset.state !== state) {
    tile.dataset.state = state;
    tile.className = `tile s-${state}`;
    tile.querySelector(".what").textContent = LABELS[state] || "unknown";
  }
  tile.querySelector(".for").textContent = forText;
  drawBeacons(tile.querySelector(".beacons"), beacons);
  return tile;
}

// Small print for the admin: each beacon of the agent and its firmware, outdated flagged.
function drawBeacons(line, beacons) {
  const text = beacons.map((b) => `${b.id} ${b.firmware}${b.outdated ? " (outdated)" : ""}`)
    .join(" · ");
  if (line.textContent !== text) line.textContent = text;
  line.classList.toggle("outdated", beacons.some((b) => b.outdated));
}

function drawHeader() {
  const link = document.getElementById("link");
  const banner = document.getElementById("banner");
  const doubts = live ? snapshot.doubts :
    [snapshot ? "lost the connection to the board, reconnecting" : "connecting to the board"];
  link.textContent = !live ? "board: not connected" :
    snapshot.broker === "connected" ? "broker: connected" : "broker: not connected";
  link.classList.toggle("down", !live || snapshot.broker !== "connected");
  banner.hidden = doubts.length === 0;
  banner.textContent = doubts.length ? `Not live — ${doubts.join("; ")}.` : "";
  const list = document.getElementById("bridges");
  list.replaceChildren(...(snapshot ? snapshot.bridges : []).map((bridge) => {
    const item = document.createElement("li");
    const state = live ? bridge.state : "unknown";
    item.className = `b-${state}`;
    item.textContent = `bridge ${bridge.id}: ${state}`;
    return item;
  }));
}

connect();
setInterval(render, 1000);
window.addEventListener("resize", () => { fittedFor = null; render(); });

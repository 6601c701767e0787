// The floor board page: a snapshot from /events, then deltas, rendered as tiles that tick.
// Never lie: while the stream is down or silent, every tile shows "unknown".
"use strict";

const LABELS = {
  available: "available", ringing: "ringing", engaged: "engaged", hold: "on hold",
  wrap_up: "wrap-up", dnd: "do not disturb", away: "away", unknown: "unknown",
};
const CUES = { reply_due: "reply due", customer_waiting: "customer waiting" };
const FREE = "available";
const BUSY = new Set(["ringing", "engaged", "hold", "wrap_up", "dnd"]);
const SILENCE_MS = 12000;  // the board pings every 5 s; two missed pings mean a dead stream

const agents = new Map();  // agent id -> its tile data, as the board last sent it
let order = [];            // agent ids, sorted: the tiles' order
let head = null;           // broker, doubts, bridges: the header the board last sent
let beacons = [];
let lastLinks = { bridges: [], sites: [] };  // shown (as unknown) while the stream is down
let offsetMs = 0;          // board clock minus this browser's clock
let live = false;
let lostAt = Date.now();
let stream = null;
let watchdog = 0;
const tiles = new Map();   // agent id -> its tile element, reused so animations run smoothly

function connect() {
  if (stream) stream.close();  // at most one stream, whichever path reconnects
  stream = new EventSource("events");
  stream.addEventListener("snapshot", (e) => {
    agents.clear();
    order = [];
    apply(JSON.parse(e.data), true);
  });
  stream.addEventListener("delta", (e) => { if (head) apply(JSON.parse(e.data)); });
  stream.addEventListener("ping", (e) => heard(JSON.parse(e.data).now));
  stream.onerror = () => {
    lost();
    if (stream.readyState === EventSource.CLOSED) {  // a proxy error page: the browser gave up
      setTimeout(connect, 2000);
    }
  };
}

// A snapshot (after clearing) or a delta: the tiles it names, the ids gone, the header.
function apply(view, whole = false) {
  const count = agents.size;
  for (const agent of view.agents) agents.set(agent.id, agent);
  for (const id of view.gone || []) agents.delete(id);
  if (whole || agents.size !== count || (view.gone && view.gone.length)) {
    order = [...agents.keys()].sort();
  }
  head = { broker: view.broker, doubts: view.doubts, bridges: view.bridges,
           sites: view.sites || [] };
  if (view.beacons) beacons = view.beacons;
  heard(view.now);
}

function heard(boardNow) {
  offsetMs = boardNow * 1000 - Date.now();
  live = head !== null;
  clearTimeout(watchdog);
  watchdog = setTimeout(() => { lost(); connect(); }, SILENCE_MS);  // a half-open stream
  render();
}

function lost() {
  if (live) {
    live = false;
    lostAt = Date.now();
    head = null;  // the next snapshot starts afresh; deltas until then are not applied
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

// What the page may show of an agent: the board's tile while the stream is live, else unknown.
function shown(agent) {
  if (live) return agent;
  return { id: agent.id, name: agent.name, group: agent.group, site: agent.site,
           state: "unknown", since: (lostAt + offsetMs) / 1000,
           reason: "no connection to the board" };
}

// The filter the address asks for: #free (who's free), #group=billing, or both (#free&group=x).
function filter() {
  const wanted = new URLSearchParams(location.hash.slice(1));
  return { free: wanted.has("free"), group: wanted.get("group") };
}

function render() {
  const now = (Date.now() + offsetMs) / 1000;
  const floor = document.getElementById("floor");
  const only = filter();
  const beaconsOf = new Map();  // agent id -> the beacons that report showing it
  for (const beacon of beacons) {
    if (!beaconsOf.has(beacon.agent)) beaconsOf.set(beacon.agent, []);
    beaconsOf.get(beacon.agent).push(beacon);
  }
  const counts = new Map();
  const seen = new Set();
  let previous = null;
  for (const id of order) {
    const agent = shown(agents.get(id));
    count(counts, agent);
    if ((only.free && agent.state !== FREE) || (only.group && agent.group !== only.group)) {
      continue;
    }
    seen.add(id);
    const tile = drawTile(agent, now, beaconsOf.get(id) || []);
    const wanted = previous ? previous.nextSibling : floor.firstChild;
    if (tile !== wanted) {  // move only when out of place: a move restarts the blink
      floor.insertBefore(tile, wanted);
    }
    previous = tile;
  }
  for (const [id, tile] of tiles) {
    if (!seen.has(id)) { tile.remove(); tiles.delete(id); }
  }
  const empty = document.getElementById("empty");
  empty.hidden = !live || seen.size > 0;
  empty.textContent = agents.size ? "Nobody here matches the filter." :
    "No agents yet: is a bridge publishing to this broker and prefix?";
  drawHeader();
  drawCounts(counts, only);
  fit(floor, `${seen.size} ${document.getElementById("banner").hidden} ${counts.size}`);
}

// Free, busy, away and unknown per group ("" = agents without a group) and for the floor.
function count(counts, agent) {
  const kind = agent.state === FREE ? "free" : BUSY.has(agent.state) ? "busy" :
    agent.state === "away" ? "away" : "unknown";
  for (const group of agent.group ? ["", agent.group] : [""]) {
    if (!counts.has(group)) counts.set(group, { free: 0, busy: 0, away: 0, unknown: 0 });
    counts.get(group)[kind] += 1;
  }
}

function drawCounts(counts, only) {
  const list = document.getElementById("groups");
  const groups = [...counts.keys()].sort();
  list.replaceChildren(...groups.map((group) => {
    const n = counts.get(group);
    const item = document.createElement("li");
    item.dataset.group = group;
    const link = document.createElement("a");
    const wanted = new URLSearchParams(only.free ? "free" : "");
    if (group) wanted.set("group", group);
    link.href = `#${wanted.toString().replace("free=", "free")}`;
    link.className = (only.group || "") === group ? "on" : "";
    link.textContent = group || "everyone";
    item.append(link, ...["free", "busy", "away", "unknown"].filter((k) => n[k] || k !== "away")
      .map((kind) => {
        const part = document.createElement("span");
        part.className = `n-${kind}`;
        part.textContent = `${n[kind]} ${kind}`;
        return part;
      }));
    return item;
  }));
  const free = document.getElementById("free");
  free.classList.toggle("on", only.free);
  free.setAttribute("aria-pressed", String(only.free));
}

let fittedFor = null;

// A wall TV cannot scroll: size the tiles so the whole floor just fits the screen, growing
// them for a few agents on a big screen (up to 4x) and shrinking them (never below 40%) for
// many. Only when the tile count or the banner changes, so the tiles don't jitter. A phone
// in portrait gets one readable column and scrolls instead.
function fit(floor, layout) {
  if (layout === fittedFor) return;
  fittedFor = layout;
  const fits = () => document.documentElement.scrollHeight <= window.innerHeight;
  const phone = window.innerWidth < 600;
  let [lo, hi] = phone ? [1.0, 1.0] : [0.4, 4.0];
  floor.style.fontSize = "1rem";
  if (!phone && !fits()) hi = 1.0;
  else lo = 1.0;
  for (let step = 0; step < 8 && hi - lo > 0.02; step++) {
    const mid = (lo + hi) / 2;
    floor.style.fontSize = `${mid}rem`;
    [lo, hi] = fits() ? [mid, hi] : [lo, mid];
  }
  floor.style.fontSize = `${lo}rem`;
}

const PARTS = [["h2", "who"], ["p", "what"], ["p", "for"], ["p", "cue"], ["p", "why"],
               ["p", "team"], ["p", "beacons"]];

function drawTile(agent, now, ofAgent) {
  let tile = tiles.get(agent.id);
  if (!tile) {
    tile = document.createElement("article");
    tile.dataset.agent = agent.id;
    tile.title = agent.id;
    for (const [tag, cls] of PARTS) {
      const el = document.createElement(tag);
      el.className = cls;
      tile.append(el);
    }
    tiles.set(agent.id, tile);
  }
  const part = (cls) => tile.querySelector(`.${cls}`);
  setText(part("who"), agent.name);
  if (tile.dataset.state !== agent.state) {
    tile.dataset.state = agent.state;
    tile.className = `tile s-${agent.state}`;
    part("what").textContent = LABELS[agent.state] || "unknown";
  }
  setText(part("for"), `for ${duration(now - agent.since)}`);
  drawAttention(tile, part("cue"), agent, now);
  setText(part("why"), agent.state === "unknown" && agent.reason ? `why: ${agent.reason}` : "");
  setText(part("team"), [agent.group, agent.site && `site ${agent.site}`].filter(Boolean)
    .join(" · "));
  drawBeacons(part("beacons"), ofAgent);
  return tile;
}

// What a supervisor acts on: a cue (reply due, customer waiting) with its age, the number of
// open chats, the escalation flag. Only on a trusted tile: an unknown tile shows no cue.
function drawAttention(tile, line, agent, now) {
  const trusted = agent.state !== "unknown";
  const words = [];
  if (trusted && agent.cue) {
    const age = agent.waiting_since ? ` ${duration(now - agent.waiting_since)}` : "";
    words.push(`${CUES[agent.cue] || agent.cue.replace(/_/g, " ")}${age}`);
  } else if (trusted && agent.waiting_since) {
    words.push(`waiting ${duration(now - agent.waiting_since)}`);
  }
  if (trusted && agent.chats) words.push(`${agent.chats} chat${agent.chats === 1 ? "" : "s"}`);
  const escalated = trusted && agent.escalated === true;
  if (escalated) words.unshift("supervisor");
  setText(line, words.join(" · "));
  line.classList.toggle("escalated", escalated);
  tile.classList.toggle("escalated", escalated);
  tile.classList.toggle("cued", trusted && Boolean(agent.cue));
}

// Small print: each beacon of the agent and its firmware; outdated and offline flagged. An
// offline beacon is the desk light's own trouble: the tile keeps the agent's state.
function drawBeacons(line, ofAgent) {
  const text = ofAgent.map((b) => `${b.id} ${b.firmware}` +
    `${b.outdated ? " (outdated)" : ""}${b.link === "offline" ? " — beacon offline" : ""}`)
    .join(" · ");
  setText(line, text);
  line.classList.toggle("outdated", ofAgent.some((b) => b.outdated));
  line.classList.toggle("offline", ofAgent.some((b) => b.link === "offline"));
}

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function drawHeader() {
  const link = document.getElementById("link");
  const banner = document.getElementById("banner");
  const doubts = live ? head.doubts :
    [agents.size ? "lost the connection to the board, reconnecting" : "connecting to the board"];
  link.textContent = !live ? "board: not connected" :
    head.broker === "connected" ? "broker: connected" : "broker: not connected";
  link.classList.toggle("down", !live || head.broker !== "connected");
  banner.hidden = doubts.length === 0;
  banner.textContent = doubts.length ? `Not live — ${doubts.join("; ")}.` : "";
  if (live) lastLinks = { bridges: head.bridges, sites: head.sites };
  const chip = (text, state) => {
    const item = document.createElement("li");
    item.className = `b-${state}`;
    item.textContent = text;
    return item;
  };
  // While the stream is down, the links the page last heard are shown, as unknown.
  const siteLink = (site) => (!live ? "unknown" : site.link === "up" ? "online" : "offline");
  document.getElementById("bridges").replaceChildren(
    ...lastLinks.sites.map((site) => chip(
      `site ${site.id}: ${live ? `link ${site.link}` : "unknown"}`, siteLink(site))),
    ...lastLinks.bridges.map((bridge) => {
      const state = live ? bridge.state : "unknown";
      return chip(`bridge ${bridge.id}: ${state}`, state);
    }));
}

document.getElementById("free").addEventListener("click", () => {
  const wanted = filter();
  const next = new URLSearchParams();
  if (!wanted.free) next.set("free", "");
  if (wanted.group) next.set("group", wanted.group);
  location.hash = next.toString().replace("free=", "free");
});
connect();
setInterval(render, 1000);
window.addEventListener("resize", () => { fittedFor = null; render(); });
window.addEventListener("hashchange", () => { fittedFor = null; render(); });

// The counter sign: one calm line for the people waiting, from /events.
// Never lie: while the stream is down or silent, the sign says its "unknown" words
// (never "next please").
"use strict";

const WORDING = JSON.parse(document.getElementById("wording").textContent);
const SILENCE_MS = 12000;  // the sign sends its view every 5 s; two missed mean a dead stream

let view = null;           // the last view from the sign's server
let offsetMs = 0;          // server clock minus this browser's clock
let live = false;
let stream = null;
let watchdog = 0;

function connect() {
  if (stream) stream.close();
  stream = new EventSource("events");
  stream.addEventListener("sign", (e) => heard(JSON.parse(e.data)));
  stream.onerror = () => {
    lost();
    if (stream.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  };
}

function heard(next) {
  view = next;
  offsetMs = view.now * 1000 - Date.now();
  live = true;
  clearTimeout(watchdog);
  watchdog = setTimeout(() => { lost(); connect(); }, SILENCE_MS);  // a half-open stream
  render();
}

function lost() {
  live = false;
  render();
}

// Minutes until the contact being served should end, rounded up; null once it is due
// (it runs long: nobody can say, so the sign gives no number).
function minutesLeft(endsAt) {
  if (endsAt === null || endsAt === undefined) return null;
  const left = endsAt - (Date.now() + offsetMs) / 1000;
  return left > 0 ? Math.ceil(left / 60) : null;
}

function render() {
  const kind = live && view && WORDING[view.kind] ? view.kind : "unknown";
  const words = WORDING[kind];
  const minutes = kind === "serving" ? minutesLeft(view.ends_at) : null;
  const detail = minutes === null ? words.detail
    : words.detail_minutes.replace("{minutes}", String(minutes));
  document.body.className = `k-${kind}`;
  document.body.dataset.minutes = minutes === null ? "" : String(minutes);
  setText("title", words.title);
  setText("detail", detail);
  document.title = words.title;
}

function setText(id, text) {
  const el = document.getElementById(id);
  if (el.textContent !== text) el.textContent = text;
}

connect();
setInterval(render, 1000);

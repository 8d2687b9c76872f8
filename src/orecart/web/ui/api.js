// The API client: the bearer token lives in sessionStorage and goes in a header, never a URL.

const KEY = "orecart.token";
export const BASE = "/api/v1";

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

function headers(extra = {}) {
  return { Authorization: `Bearer ${token.get() ?? ""}`, ...extra };
}

// {ok, status, data, error}: a failure is a value the page shows, never a thrown error
export async function call(path, { method = "GET", body, text = false } = {}) {
  let response;
  try {
    response = await fetch(BASE + path, { method, headers: headers(body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined });
  } catch (exc) {
    return { ok: false, status: 0, error: `the server cannot be reached (${exc})` };
  }
  const raw = await response.text();
  let data = raw;
  if (!text) { try { data = raw ? JSON.parse(raw) : null; } catch { data = null; } }
  const error = response.ok ? null : (data && data.error) || raw || `HTTP ${response.status}`;
  if (response.status === 401) token.clear();
  return { ok: response.ok, status: response.status, data, error };
}

// Server-sent events over fetch (EventSource cannot send the Authorization header).
export const RETRY_MS = 1000; // the first pause before a dropped stream is resumed
export const MAX_RETRY_MS = 30000;

export async function follow(path, onEvent, signal) {
  let last = 0;
  let pause = RETRY_MS;
  while (!signal.aborted) {
    let heard = false;
    const ended = await streamOnce(path, last, signal, (frame) => {
      if (frame.id) last = Number(frame.id);
      heard = true;
      onEvent(frame);
    });
    if (ended || signal.aborted) return;
    // dropped without `end` (serve stopping, a proxy): resume after `last`, backing off
    // (1 s doubling to 30 s) while the server gives nothing, so a gone serve is not polled
    // every second forever
    if (heard) pause = RETRY_MS;
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(MAX_RETRY_MS, pause * 2);
  }
}

async function streamOnce(path, last, signal, onFrame) {
  let response;
  try {
    response = await fetch(BASE + path, { headers: headers({ "Last-Event-ID": String(last) }), signal });
  } catch { return false; }
  if (!response.ok || !response.body) return true;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    let chunk;
    try { chunk = await reader.read(); } catch { return false; }
    if (chunk.done) return false;
    buffer += chunk.value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = parse(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (frame.event === "end") return true;
      if (frame.data) onFrame(frame);
    }
  }
}

function parse(block) {
  const frame = {};
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    frame[line.slice(0, at)] = line.slice(at + 1).replace(/^ /, "");
  }
  if (frame.data) { try { frame.data = JSON.parse(frame.data); } catch { frame.data = null; } }
  return frame;
}

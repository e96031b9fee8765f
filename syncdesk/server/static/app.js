// syncdesk's page: sign in with the token, drop a clip, watch it, read the verdict, fix it, download.
// Everything comes from the /v1 routes; text from the server is always set as text, never as HTML.
"use strict";

const TOKEN_KEY = "syncdesk-token";
const SVG = "http://www.w3.org/2000/svg";
const state = { token: sessionStorage.getItem(TOKEN_KEY) || "", analysis: null, fix: null, job: null, xhr: null };
const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ talking to the server

class Refused extends Error {}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {}, { Authorization: `Bearer ${state.token}` });
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    signOut("The server refused the token: sign in again.");
    throw new Refused("unauthorised");
  }
  if (!response.ok) {
    let message = `the server answered ${response.status}`;
    try {
      message = (await response.json()).error || message;
    } catch (ignored) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

// Server-sent events read with fetch (EventSource cannot send the token); polling if the stream breaks.
async function follow(url, onStatus) {
  try {
    const response = await api(`${url}/events`);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter((line) => line.startsWith("data: ")).map((line) => line.slice(6));
        if (data.length === 0) continue;
        const status = JSON.parse(data.join("\n"));
        onStatus(status);
        if (status.status === "done" || status.status === "error") return status;
      }
    }
  } catch (error) {
    if (error instanceof Refused) throw error;
  }
  for (let tries = 0; tries < 86400; tries++) {  // the stream broke: poll, once a second
    const status = await (await api(`${url}?document=false`)).json();
    onStatus(status);
    if (status.status === "done" || status.status === "error") return status;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error("the job did not finish");
}

async function download(url) {
  const response = await api(url);
  const blob = await response.blob();
  const header = response.headers.get("Content-Disposition") || "";
  const encoded = /filename\*=utf-8''([^;]+)/i.exec(header);
  const plain = /filename="([^"]+)"/i.exec(header);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = encoded ? decodeURIComponent(encoded[1]) : plain ? plain[1] : "download";
  document.body.append(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 5000);
}

// ------------------------------------------------------------------ signing in

function signOut(message) {
  state.token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  $("work").hidden = true;
  $("sign-out").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

async function signIn(token) {
  state.token = token;
  try {
    await api("/v1/roots");
  } catch (error) {
    if (!(error instanceof Refused)) $("login-error").textContent = `Cannot reach the server: ${error.message}`;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("login").hidden = true;
  $("login-error").textContent = "";
  $("work").hidden = false;
  $("sign-out").hidden = false;
}

// ------------------------------------------------------------------ one clip

function showProgress(fraction, text) {
  $("progress-box").hidden = false;
  $("progress").value = fraction;
  $("progress-text").textContent = text;
}

function describe(status) {
  if (status.status === "queued") return "queued";
  if (status.status === "running") return `${status.stage || "running"} ${Math.round(100 * status.progress)}%`;
  return status.status;
}

function uploadFile(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  const options = {};
  if ($("detector").value) options.detector = $("detector").value;
  form.append("options", JSON.stringify(options));
  if ($("tolerance").value) form.append("tolerance", $("tolerance").value);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    state.xhr = xhr;
    xhr.open("POST", "/v1/analyses");
    xhr.setRequestHeader("Authorization", `Bearer ${state.token}`);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) showProgress(event.loaded / event.total, `uploading ${Math.round(100 * event.loaded / event.total)}%`);
    };
    xhr.onload = () => {
      state.xhr = null;
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (ignored) { /* not JSON */ }
      if (xhr.status === 401) { signOut("The server refused the token: sign in again."); reject(new Refused("unauthorised")); }
      else if (xhr.status === 202) resolve(body);
      else reject(new Error(body.error || `the server answered ${xhr.status}`));
    };
    xhr.onerror = () => { state.xhr = null; reject(new Error("the upload failed (connection lost)")); };
    xhr.onabort = () => { state.xhr = null; reject(new Error("upload cancelled")); };
    xhr.send(form);
  });
}

async function analyse(file) {
  $("work-error").textContent = "";
  $("result").hidden = true;
  $("file").disabled = true;
  try {
    const created = await uploadFile(file);
    state.job = created.url;
    const finished = await follow(created.url, (status) => showProgress(status.progress, describe(status)));
    state.job = null;
    if (finished.status === "error") throw new Error(finished.error);
    const job = await (await api(created.url)).json();
    state.analysis = job;
    showResult(job);
    $("progress-box").hidden = true;
  } catch (error) {
    if (!(error instanceof Refused)) $("work-error").textContent = error.message;
  } finally {
    $("file").disabled = false;
    $("file").value = "";
    state.job = null;
  }
}

async function cancel() {
  if (state.xhr) state.xhr.abort();
  if (state.job) {
    try { await api(state.job, { method: "DELETE" }); } catch (error) { $("work-error").textContent = error.message; }
  }
}

// ------------------------------------------------------------------ the result

function signed(value, digits = 0) {
  const text = Number(value).toFixed(digits);
  return value > 0 ? `+${text}` : text;
}

function clock(seconds) {
  return `${Math.floor(seconds / 60)}:${(seconds % 60).toFixed(1).padStart(4, "0")}`;
}

function showResult(job) {
  const doc = job.document;
  const summary = job.summary || {};
  $("file-name").textContent = doc.source.path;
  $("direction").textContent = summary.direction || "";
  $("verdict").textContent = summary.verdict || "";
  $("offset").textContent = `${signed(doc.offset_frames)} frames (${signed(doc.offset_ms)} ms)`;
  $("confidence").textContent = doc.confidence.toFixed(2);
  const over = doc.sync_over_time;
  $("model").textContent = over ? over.model + (over.drift_ms_per_min != null ? ` (${signed(over.drift_ms_per_min)} ms/min)` : "") : "not measured";
  $("tolerance-result").textContent = summary.tolerance_words || "not judged";
  const warnings = $("warnings");
  warnings.replaceChildren(...(doc.warnings || []).map((text) => { const item = document.createElement("li"); item.textContent = text; return item; }));
  const rows = doc.tracks.map((track) => {
    const row = document.createElement("tr");
    const fps = doc.source.analysis_fps;
    for (const text of [String(track.id), `${clock(track.start_frame / fps)}-${clock((track.end_frame + 1) / fps)}`,
                        `${signed(track.offset_frames)} frames (${signed(track.offset_ms)} ms)`, track.confidence.toFixed(2)]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  });
  $("tracks").tBodies[0].replaceChildren(...rows);
  drawPlot(doc);
  $("download-fixed").hidden = true;
  $("fix-text").textContent = "";
  $("result").hidden = false;
}

function svg(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

// The offset over time: a point per window (grey when not confident), the file's model as lines,
// and the tolerance's band when one was chosen. Positive (audio leads) is up.
function drawPlot(doc) {
  const over = doc.sync_over_time;
  const box = $("plot");
  if (!over || over.points.length === 0) {
    box.textContent = "The file is too short for an offset over time.";
    return;
  }
  const width = 720, height = 240, left = 64, right = 12, top = 12, bottom = 28;
  const duration = Math.max(doc.source.duration_s, ...over.points.map((p) => p.t_s), 1);
  const values = over.points.filter((p) => p.offset_ms != null).map((p) => Math.abs(p.offset_ms));
  const tolerance = doc.tolerance;
  if (tolerance) values.push(tolerance.lead_ms, tolerance.lag_ms);
  const reach = Math.max(100, ...values) * 1.2;
  const x = (t) => left + (width - left - right) * t / duration;
  const y = (ms) => top + (height - top - bottom) * (reach - ms) / (2 * reach);
  const plot = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "offset over time" });
  if (tolerance) plot.append(svg("rect", { class: "band", x: left, width: width - left - right, y: y(tolerance.lead_ms), height: y(-tolerance.lag_ms) - y(tolerance.lead_ms) }));
  plot.append(svg("line", { class: "zero", x1: left, x2: width - right, y1: y(0), y2: y(0) }));
  plot.append(svg("line", { class: "axis", x1: left, x2: left, y1: top, y2: height - bottom }));
  plot.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: height - bottom, y2: height - bottom }));
  for (const ms of [reach / 1.2, 0, -reach / 1.2]) {
    plot.append(svg("text", { x: left - 6, y: y(ms) + 4, "text-anchor": "end" }, `${signed(ms)} ms`));
  }
  plot.append(svg("text", { x: left, y: height - 8 }, "0 s"));
  plot.append(svg("text", { x: width - right, y: height - 8, "text-anchor": "end" }, `${duration.toFixed(1)} s`));
  for (const segment of over.segments) {
    if (segment.offset_ms == null) continue;
    const end = segment.end_offset_ms != null ? segment.end_offset_ms : segment.offset_ms;
    plot.append(svg("line", { class: "segment", x1: x(segment.start_s), x2: x(segment.end_s), y1: y(segment.offset_ms), y2: y(end) }));
  }
  for (const point of over.points) {
    if (point.offset_ms == null) continue;
    const dot = svg("circle", { class: point.confidence >= 2 ? "point" : "point weak", cx: x(point.t_s), cy: y(point.offset_ms), r: 4 });
    dot.append(svg("title", {}, `${point.t_s.toFixed(1)} s: ${signed(point.offset_ms)} ms, confidence ${point.confidence.toFixed(2)}`));
    plot.append(dot);
  }
  box.replaceChildren(plot);
}

// ------------------------------------------------------------------ fixing

async function fix() {
  if (!state.analysis) return;
  $("fix").disabled = true;
  $("download-fixed").hidden = true;
  $("fix-text").textContent = "";
  try {
    const created = await (await post("/v1/fixes", { analysis: state.analysis.id, auto: true, force: $("force").checked })).json();
    state.job = created.url;
    const finished = await follow(created.url, (status) => showProgress(status.progress, `fixing: ${describe(status)}`));
    $("progress-box").hidden = true;
    if (finished.status === "error") throw new Error(finished.error);
    const job = await (await api(created.url)).json();
    state.fix = job;
    $("fix-text").textContent = job.result.message;
    $("download-fixed").hidden = !job.file;
  } catch (error) {
    if (!(error instanceof Refused)) $("fix-text").textContent = error.message;
  } finally {
    $("fix").disabled = false;
    state.job = null;
  }
}

// ------------------------------------------------------------------ wiring

function wire() {
  $("login-form").addEventListener("submit", (event) => { event.preventDefault(); signIn($("token").value.trim()); });
  $("sign-out").addEventListener("click", () => signOut(""));
  $("file").addEventListener("change", () => { if ($("file").files.length) analyse($("file").files[0]); });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) analyse(event.dataTransfer.files[0]);
  });
  $("cancel").addEventListener("click", cancel);
  $("fix").addEventListener("click", fix);
  $("download-document").addEventListener("click", () => download(`${state.analysis.url}/document`).catch((error) => { $("fix-text").textContent = error.message; }));
  $("download-fixed").addEventListener("click", () => download(state.fix.file).catch((error) => { $("fix-text").textContent = error.message; }));
  if (state.token) signIn(state.token);
}

document.addEventListener("DOMContentLoaded", wire);

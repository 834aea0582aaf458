// The bg-remover page: plain JavaScript, same origin as the API, nothing loaded from elsewhere.
// Every request goes through api() so the API key (auth on) rides along; images are fetched the same
// way and shown through object URLs, because <img src> cannot send a header.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "bgr-api-key"; // sessionStorage: this tab only
const FINAL = new Set(["succeeded", "failed", "canceled"]);
const STAGES = {
  decode: "reading photos", thumbnails: "making thumbnails", cutouts: "removing backgrounds",
  embeddings: "comparing photos", grouping: "grouping", store: "saving results", enqueue: "queueing",
};
const ERROR_WORDS = {
  "image-truncated": "The file is incomplete: it was cut off while being copied or uploaded.",
  "image-corrupt": "The file is damaged and cannot be read as a picture.",
  "image-not-an-image": "This file is not a picture.",
  "image-unsupported-format": "This picture format is not supported.",
  "image-too-many-pixels": "The picture is too large (too many pixels).",
  "image-empty": "The file is empty.",
  "image-processing-failed": "Something went wrong while processing this photo.",
};

const state = { key: sessionStorage.getItem(KEY_STORE), files: [], jobId: null, follow: null, cursor: null };
const objectUrls = new Map();

class AuthNeeded extends Error {}

function authHeaders(extra = {}) {
  return state.key ? { ...extra, "X-API-Key": state.key } : extra;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: authHeaders(options.headers) });
  if (response.status === 401) {
    askForKey(state.key ? "That API key was not accepted. Check it and try again." : "");
    throw new AuthNeeded();
  }
  return response;
}

async function problemText(response) {
  try {
    const problem = await response.json();
    return problem.detail || problem.title || `The server answered ${response.status}.`;
  } catch {
    return `The server answered ${response.status}.`;
  }
}

function errorWords(error) {
  const slug = ((error && error.type) || "").split(":").pop();
  return ERROR_WORDS[slug] || (error && (error.detail || error.title)) || "This photo could not be processed.";
}

// --- the API key ------------------------------------------------------------------------------------

function askForKey(message) {
  for (const id of ["submit-panel", "recent-panel", "job-panel"]) $(id).hidden = true;
  $("key-panel").hidden = false;
  $("key-error").textContent = message;
  $("api-key").focus();
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.key = $("api-key").value.trim();
  sessionStorage.setItem(KEY_STORE, state.key);
  start();
});

$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORE);
  state.key = null;
  $("api-key").value = "";
  start();
});

async function start() {
  try {
    await loadRecent(true);
  } catch (error) {
    if (!(error instanceof AuthNeeded)) $("submit-error").textContent = String(error.message || error);
    if (error instanceof AuthNeeded) return;
  }
  $("key-panel").hidden = true;
  $("submit-panel").hidden = false;
  $("recent-panel").hidden = false;
  $("sign-out").hidden = !state.key;
}

// --- choosing photos ------------------------------------------------------------------------------

function isPhoto(file) {
  return file.type.startsWith("image/") || /\.(jpe?g|png|webp|gif|bmp|tiff?|avif|heic)$/i.test(file.name);
}

function setFiles(files) {
  state.files = files.filter(isPhoto);
  const skipped = files.length - state.files.length;
  const count = state.files.length;
  $("picked").textContent = count
    ? `${count} photo${count === 1 ? "" : "s"} chosen` + (skipped ? ` (${skipped} other file${skipped === 1 ? "" : "s"} left out).` : ".")
    : "No photos chosen.";
  $("submit-button").disabled = count === 0;
}

$("files").addEventListener("change", (event) => setFiles([...event.target.files]));
$("folder").addEventListener("change", (event) => setFiles([...event.target.files]));

const dropZone = $("drop-zone");
dropZone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropZone.classList.add("dragging");
});
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragging"));
dropZone.addEventListener("drop", async (event) => {
  event.preventDefault();
  dropZone.classList.remove("dragging");
  setFiles(await droppedFiles(event.dataTransfer));
});

async function droppedFiles(transfer) {
  // Entries must be taken while the event is dispatched; folders are then walked asynchronously.
  const roots = [...transfer.items].map((item) => {
    const entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
    return entry || item.getAsFile();
  }).filter(Boolean);
  const files = [];
  async function walk(entry) {
    if (entry instanceof File) {
      files.push(entry);
    } else if (entry.isFile) {
      files.push(await new Promise((resolve, reject) => entry.file(resolve, reject)));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await walk(child);
      }
    }
  }
  for (const root of roots) await walk(root);
  return files;
}

function syncOptions() {
  const kind = document.querySelector('input[name="kind"]:checked').value;
  const grouping = kind === "group-images";
  $("with-cutouts-label").hidden = !grouping;
  const cutouts = !grouping || $("with-cutouts").checked;
  for (const id of ["format", "crop", "bg-color"]) $(id).disabled = !cutouts;
}
for (const input of document.querySelectorAll('input[name="kind"], #with-cutouts')) {
  input.addEventListener("change", syncOptions);
}
syncOptions();

// --- submitting, with the upload's own progress (XHR: fetch cannot report upload progress) ---------

$("submit-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const kind = document.querySelector('input[name="kind"]:checked').value;
  const form = new FormData();
  for (const file of state.files) form.append("images", file, file.name);
  const cutouts = kind === "remove-background" || $("with-cutouts").checked;
  if (kind === "group-images" && cutouts) form.append("remove_background", "true");
  if (cutouts) {
    form.append("format", $("format").value);
    if ($("crop").checked) form.append("crop", "true");
    if ($("bg-color").value.trim()) form.append("bg_color", $("bg-color").value.trim());
  }
  upload(`/v1/${kind}`, form);
});

function upload(path, form) {
  const xhr = new XMLHttpRequest();
  xhr.open("POST", path);
  for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
  $("submit-error").textContent = "";
  $("submit-button").disabled = true;
  $("upload-status").hidden = false;
  $("upload-progress").value = 0;
  xhr.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) $("upload-progress").value = Math.round((100 * event.loaded) / event.total);
  });
  xhr.addEventListener("load", () => {
    $("submit-button").disabled = state.files.length === 0;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { body = {}; }
    if (xhr.status === 401) return askForKey("That API key was not accepted. Check it and try again.");
    if (xhr.status !== 202) {
      $("submit-error").textContent = body.detail || body.title || `The upload was refused (${xhr.status}).`;
      return;
    }
    $("upload-progress").value = 100;
    openJob(body.jobId);
    loadRecent(true).catch(() => {});
  });
  xhr.addEventListener("error", () => {
    $("submit-button").disabled = false;
    $("submit-error").textContent = "The upload failed: the server could not be reached.";
  });
  xhr.send(form);
}

// --- following a job: SSE over fetch (it can carry the key), polling as the fallback ---------------

function openJob(jobId) {
  if (state.follow) state.follow.abort();
  state.jobId = jobId;
  state.follow = new AbortController();
  $("job-panel").hidden = false;
  $("job-panel").dataset.jobId = jobId;
  $("job-title").textContent = `Job ${jobId.slice(0, 8)}`;
  $("job-error").textContent = "";
  $("job-actions").hidden = true;
  $("results").replaceChildren();
  follow(jobId, state.follow.signal).catch((error) => {
    if (!(error instanceof AuthNeeded) && error.name !== "AbortError") $("job-error").textContent = String(error);
  });
}

async function follow(jobId, signal) {
  let lastId = null;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      const headers = lastId ? { "Last-Event-ID": lastId } : {};
      const response = await api(`/v1/jobs/${jobId}/events`, { headers, signal });
      if (!response.ok || !response.body) throw new Error(await problemText(response));
      for await (const event of sseEvents(response.body)) {
        lastId = event.id || lastId;
        renderJob(JSON.parse(event.data));
        if (event.event === "final") return;
      }
    } catch (error) {
      if (error instanceof AuthNeeded || signal.aborted) throw error;
    }
  }
  await poll(jobId, signal); // the stream keeps failing (a proxy that buffers, say): poll instead
}

async function* sseEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { event: "message", id: null, data: "" };
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = line.slice(0, colon);
        const value = line.slice(colon + 1).replace(/^ /, "");
        if (name === "data") event.data += (event.data ? "\n" : "") + value;
        else if (name === "event" || name === "id") event[name] = value;
      }
      if (event.data) yield event;
    }
  }
}

async function poll(jobId, signal) {
  while (!signal.aborted) {
    const response = await api(`/v1/jobs/${jobId}`, { signal });
    if (!response.ok) throw new Error(await problemText(response));
    const job = await response.json();
    renderJob(job);
    if (FINAL.has(job.status)) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function describe(job) {
  const { done, total } = job.progress;
  const photos = `${done} of ${total} photo${total === 1 ? "" : "s"}`;
  if (job.status === "queued") return "Waiting for a worker…";
  if (job.status === "running") return `Working: ${STAGES[job.stage] || job.stage || "starting"} (${photos} done)`;
  if (job.status === "canceled") return "Canceled.";
  if (job.status === "failed") return "The job failed.";
  const failed = (job.result ? job.result.images : []).filter((image) => image.status === "failed").length;
  return `Done: ${total} photo${total === 1 ? "" : "s"}` + (failed ? `, ${failed} could not be processed.` : ".");
}

function renderJob(job) {
  if (job.jobId !== state.jobId) return;
  $("job-status").textContent = describe(job);
  $("job-progress").max = Math.max(1, job.progress.total);
  $("job-progress").value = job.progress.done;
  if (job.error) $("job-error").textContent = errorWords(job.error);
  if (!FINAL.has(job.status)) return;
  $("job-actions").hidden = job.status !== "succeeded";
  if (job.result) renderResults(job);
  loadRecent(true).catch(() => {});
}

function renderResults(job) {
  const images = job.result.images;
  const byId = new Map(images.map((image) => [image.imageId, image]));
  const rows = [];
  if (job.type === "group-images") {
    (job.result.groups || []).forEach((group, index) => {
      const members = group.imageIds.map((id) => byId.get(id)).filter(Boolean);
      rows.push(row(`Group ${index + 1} (${members.length} photo${members.length === 1 ? "" : "s"})`,
        members, group.representativeImageId, group.groupId));
    });
  } else {
    rows.push(row("Cut-outs", images.filter((image) => image.status === "succeeded"), null, "cutouts"));
  }
  const failed = images.filter((image) => image.status === "failed");
  if (failed.length) rows.push(failedRow(failed));
  $("results").replaceChildren(...rows);
}

function row(title, images, representativeId, groupId) {
  const section = document.createElement("section");
  section.className = "group";
  section.dataset.groupId = groupId;
  const heading = document.createElement("h3");
  heading.textContent = title;
  const list = document.createElement("ul");
  list.className = "thumbs";
  for (const image of images) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "thumb";
    button.dataset.imageId = image.imageId;
    const representative = image.imageId === representativeId;
    if (representative) button.classList.add("representative");
    button.setAttribute("aria-label", `${image.filename}${representative ? " (representative)" : ""}: open before and after`);
    const img = document.createElement("img");
    img.alt = "";
    showImage(img, image.thumbnailUrl || image.originalUrl);
    button.append(img);
    button.addEventListener("click", () => openViewer(image));
    const caption = document.createElement("p");
    caption.className = "caption";
    caption.textContent = image.filename;
    item.append(button, caption);
    if (representative) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "Representative";
      item.append(badge);
    }
    list.append(item);
  }
  section.append(heading, list);
  return section;
}

function failedRow(images) {
  const section = document.createElement("section");
  section.className = "group";
  const heading = document.createElement("h3");
  heading.textContent = "Photos that could not be processed";
  const list = document.createElement("ul");
  for (const image of images) {
    const item = document.createElement("li");
    item.className = "failed-image";
    item.dataset.imageId = image.imageId;
    item.textContent = `${image.filename}: ${errorWords(image.error)}`;
    list.append(item);
  }
  section.append(heading, list);
  return section;
}

async function blobUrl(url) {
  if (!objectUrls.has(url)) {
    const response = await api(url);
    if (!response.ok) throw new Error(await problemText(response));
    objectUrls.set(url, URL.createObjectURL(await response.blob()));
  }
  return objectUrls.get(url);
}

function showImage(img, url) {
  if (!url) return;
  blobUrl(url).then((src) => { img.src = src; }).catch(() => { img.alt = "(not available)"; });
}

async function download(url, filename) {
  const link = document.createElement("a");
  link.href = await blobUrl(url);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
}

$("download-zip").addEventListener("click", () => {
  download(`/v1/jobs/${state.jobId}/archive`, `bg-remover-${state.jobId}.zip`).catch((error) => {
    $("job-error").textContent = String(error.message || error);
  });
});

// --- before / after ---------------------------------------------------------------------------------

let viewed = null;

function openViewer(image) {
  viewed = image;
  $("viewer-title").textContent = image.filename;
  $("viewer-error").textContent = image.cutoutUrl ? "" : "There is no cut-out of this photo: choose “Also make cut-outs” or “Remove backgrounds”.";
  $("before").removeAttribute("src");
  $("after").removeAttribute("src");
  showImage($("before"), image.originalUrl);
  showImage($("after"), image.cutoutUrl);
  $("download-cutout").disabled = !image.cutoutUrl;
  $("slider").value = 50;
  setSlider(50);
  $("viewer").showModal();
}

function setSlider(value) {
  // the original left of the handle, the cut-out right of it: each clipped, so the checkerboard shows
  // through the cut-out's transparency instead of the original beneath it
  $("before").style.clipPath = `inset(0 ${100 - value}% 0 0)`;
  $("after").style.clipPath = `inset(0 0 0 ${value}%)`;
  $("compare").style.setProperty("--split", `${value}%`);
}

$("slider").addEventListener("input", (event) => setSlider(event.target.value));
$("close-viewer").addEventListener("click", () => $("viewer").close());
$("download-cutout").addEventListener("click", async () => {
  if (!viewed || !viewed.cutoutUrl) return;
  const response = await api(viewed.cutoutUrl, { method: "GET" });
  const type = response.headers.get("content-type") || "";
  const extension = { "image/png": "png", "image/webp": "webp", "image/jpeg": "jpg" }[type] || "bin";
  const stem = viewed.filename.replace(/\.[^.]+$/, "");
  objectUrls.set(viewed.cutoutUrl, URL.createObjectURL(await response.blob()));
  await download(viewed.cutoutUrl, `${stem}-cutout.${extension}`);
});

// --- recent jobs --------------------------------------------------------------------------------------

async function loadRecent(fresh) {
  const cursor = fresh ? null : state.cursor;
  const response = await api(`/v1/jobs?limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
  if (!response.ok) throw new Error(await problemText(response));
  const page = await response.json();
  state.cursor = page.nextCursor;
  const items = page.jobs.map((job) => {
    const item = document.createElement("li");
    item.dataset.jobId = job.jobId;
    const when = new Date(job.createdAt).toLocaleString();
    const what = job.type === "group-images" ? "Grouping" : "Cut-outs";
    const text = document.createElement("span");
    text.textContent = `${when} · ${what} · ${job.progress.total} photo${job.progress.total === 1 ? "" : "s"} · ${job.status}`;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "secondary";
    open.textContent = "Open";
    open.setAttribute("aria-label", `Open job ${job.jobId.slice(0, 8)} (${what}, ${when})`);
    open.addEventListener("click", () => openJob(job.jobId));
    item.append(text, open);
    return item;
  });
  if (fresh) $("recent").replaceChildren(...items);
  else $("recent").append(...items);
  $("recent-more").hidden = !state.cursor;
}

$("recent-more").addEventListener("click", () => loadRecent(false).catch(() => {}));

start();

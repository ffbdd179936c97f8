// The status page: every object the token may see, kept current by the API's watch stream.
// Text goes in with textContent only, so object fields can never become markup.
const API = "/apis/airloft.dev/v1alpha1";
const TOKEN_KEY = "airloft.token";
const objects = new Map();
let selected;
let position;
let stream;
let usageTimer;

const $ = (id) => document.getElementById(id);
const keyOf = (o) => `${o.kind}/${o.metadata.group ?? ""}/${o.metadata.name}`;
const token = () => sessionStorage.getItem(TOKEN_KEY);

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${token()}` } });
  if (res.status === 401 || res.status === 403) {
    logout((await res.json().catch(() => ({}))).message ?? "signed out");
    throw new Error("unauthorized");
  }
  return res;
}

function condition(o, type) {
  return (o.status?.conditions ?? []).find((c) => c.type === type);
}

function readiness(o) {
  if (o.metadata.deletionTimestamp)
    return { text: "Deleting", cls: "ready-unknown", reason: "Deleting", message: "deletion in progress" };
  const stalled = condition(o, "Stalled");
  const ready = condition(o, "Ready");
  const shown = stalled?.status === "True" ? stalled : ready;
  const status = ready?.status ?? "Unknown";
  return {
    text: status === "True" ? "Ready" : status === "False" ? "Not ready" : "Unknown",
    cls: `ready-${status.toLowerCase()}`,
    reason: shown?.reason ?? "",
    message: shown?.message ?? "",
  };
}

function replicas(o) {
  const wanted = o.spec.autoscale
    ? (o.status?.autoscale?.desiredReplicas ?? o.spec.autoscale.min ?? 1)
    : o.spec.replicas;
  return o.kind === "App" ? `${o.status?.readyReplicas ?? 0}/${wanted ?? 1}` : "-";
}

function endpoints(o) {
  if (o.kind === "App") return (o.status?.endpoints ?? []).join(", ") || "-";
  if (o.kind === "Service") return o.status?.host ?? o.status?.address ?? "-";
  if (o.kind === "Group") return o.status?.aws?.loadBalancer?.dnsName ?? o.status?.network?.name ?? "-";
  return "-";
}

// The last minutes of each app's CPU (cores, all replicas) and request rate, one sample per stats pass.
const HISTORY = 40;
const usage = new Map();
const sampled = new Map();

async function pollUsage() {
  const groups = [...objects.values()].filter((o) => o.kind === "Group").map((o) => o.metadata.name);
  for (const group of groups) {
    const res = await api(`${API}/groups/${group}/metrics?format=json`).catch(() => undefined);
    if (!res?.ok) continue;
    const figures = await res.json();
    if (!figures.sampledAt || sampled.get(group) === figures.sampledAt) continue;
    sampled.set(group, figures.sampledAt);
    const cpu = new Map();
    for (const r of figures.replicas) if (r.kind === "App") cpu.set(r.name, (cpu.get(r.name) ?? 0) + (r.cpuCores ?? 0));
    const rates = new Map((figures.apps ?? []).map((a) => [a.name, a.requestsPerSecond]));
    for (const name of new Set([...cpu.keys(), ...rates.keys()])) {
      const key = `App/${group}/${name}`;
      const list = [...(usage.get(key) ?? []), { cpu: cpu.get(name) ?? 0, rps: rates.get(name) ?? 0 }];
      usage.set(key, list.slice(-HISTORY));
    }
  }
  render();
}

/** Two polylines in an inline SVG, each scaled to its own highest point; no library. */
function sparkline(samples) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("viewBox", `0 0 ${HISTORY} 20`);
  svg.setAttribute("preserveAspectRatio", "none");
  for (const [field, cls] of [
    ["cpu", "spark-cpu"],
    ["rps", "spark-rps"],
  ]) {
    const top = Math.max(...samples.map((x) => x[field]), 1e-9);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("class", cls);
    const offset = HISTORY - samples.length;
    line.setAttribute(
      "points",
      samples.map((x, i) => `${offset + i},${(19 - (x[field] / top) * 18).toFixed(2)}`).join(" "),
    );
    svg.append(line);
  }
  return svg;
}

function usageCell(o) {
  const samples = o.kind === "App" ? usage.get(keyOf(o)) : undefined;
  if (!samples?.length) return cell("-");
  const last = samples[samples.length - 1];
  const td = cell(`${Math.round(last.cpu * 1000)}m ${last.rps.toFixed(1)}/s `, "usage");
  td.title = "CPU (millicores, all replicas) and requests per second at the edge, over the last stats passes";
  td.append(sparkline(samples));
  return td;
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

const ORDER = { Group: 0, Quota: 1, Secret: 2, Service: 3, App: 4 };
let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    const body = $("objects").tBodies[0];
    const rows = [...objects.values()].sort(
      (a, b) =>
        (a.metadata.group ?? a.metadata.name).localeCompare(b.metadata.group ?? b.metadata.name) ||
        ORDER[a.kind] - ORDER[b.kind] ||
        a.metadata.name.localeCompare(b.metadata.name),
    );
    body.replaceChildren(
      ...rows.map((o) => {
        const r = readiness(o);
        const tr = document.createElement("tr");
        tr.dataset.key = keyOf(o);
        tr.title = r.message;
        if (selected === keyOf(o)) tr.className = "selected";
        tr.append(
          cell(o.kind),
          cell(o.metadata.group ?? "-"),
          cell(o.metadata.name),
          cell(r.text, r.cls),
          cell(r.reason),
          cell(replicas(o)),
          usageCell(o),
          cell(endpoints(o)),
        );
        tr.addEventListener("click", () => select(keyOf(o)));
        return tr;
      }),
    );
    $("empty").hidden = rows.length > 0;
  });
}

function pathOf(o) {
  return o.kind === "Group"
    ? `${API}/groups/${o.metadata.name}`
    : `${API}/groups/${o.metadata.group}/${o.kind.toLowerCase()}s/${o.metadata.name}`;
}

async function select(key) {
  selected = key;
  render();
  const o = objects.get(key);
  if (!o) return;
  $("details").hidden = false;
  $("details-title").textContent =
    `${o.kind.toLowerCase()}/${o.metadata.group ? `${o.metadata.group}/` : ""}${o.metadata.name}`;
  $("details-message").textContent = readiness(o).message;
  const res = await api(`${pathOf(o)}/events`);
  if (!res.ok || selected !== key) return;
  const { items } = await res.json();
  $("events").tBodies[0].replaceChildren(
    ...items
      .slice()
      .reverse()
      .map((e) => {
        const tr = document.createElement("tr");
        tr.append(cell(new Date(e.time).toLocaleTimeString()), cell(e.type), cell(e.reason), cell(e.message));
        return tr;
      }),
  );
}

function applyEvent(event) {
  if (event.resourceVersion) position = event.resourceVersion;
  if (event.type === "BOOKMARK") return;
  const key = keyOf(event.object);
  if (event.type === "DELETED") objects.delete(key);
  else objects.set(key, event.object);
  render();
  if (key === selected) void select(key);
}

async function watch() {
  const controller = new AbortController();
  stream = controller;
  const query = position ? `&resourceVersion=${encodeURIComponent(position)}` : "";
  try {
    const res = await api(`${API}/objects?watch=true${query}`, { signal: controller.signal });
    if (res.status === 410) {
      position = undefined;
      objects.clear();
    } else if (res.ok && res.body) {
      $("live").hidden = false;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += value;
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) if (line.trim()) applyEvent(JSON.parse(line));
      }
    }
  } catch {
    // A dropped stream resumes below from the last position.
  }
  $("live").hidden = true;
  if (stream === controller && token()) setTimeout(watch, 1000);
}

async function start() {
  $("login").hidden = true;
  $("status").hidden = false;
  $("logout").hidden = false;
  const me = await (await api("/api/whoami")).json();
  $("who").textContent = `${me.kind} ${me.name}`;
  void watch();
  usageTimer ??= setInterval(() => void pollUsage().catch(() => undefined), 5000);
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  stream?.abort();
  stream = undefined;
  clearInterval(usageTimer);
  usageTimer = undefined;
  usage.clear();
  sampled.clear();
  objects.clear();
  position = undefined;
  selected = undefined;
  $("status").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = message ?? "";
}

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const kind = $("login-kind").value;
  const res = await fetch("/api/tokens", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ [kind]: $("login-name").value, password: $("login-password").value }),
  });
  const body = await res.json().catch(() => ({}));
  $("login-password").value = "";
  if (!res.ok) {
    $("login-error").textContent = body.message ?? `login failed (${res.status})`;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, body.token);
  $("login-error").textContent = "";
  void start();
});
$("logout").addEventListener("click", () => logout());

if (token()) void start();
else logout();

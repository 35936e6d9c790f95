// The mosquitto-ts dashboard: plain browser JavaScript, no framework, no build step.
// Polls the JSON endpoints of the page on show and streams live messages with
// Server-Sent Events. Everything it shows is set with textContent (never as HTML).
'use strict';

const PAGES = ['overview', 'clients', 'topics', 'messages', 'listeners', 'bridges'];
const REFRESH_MS = { overview: 1000, clients: 1000, topics: 2000, listeners: 10000, bridges: 2000 };
const MAX_MESSAGE_ROWS = 200;

let session = null;
let refreshTimer = null;
let stream = null;

const $ = (id) => document.getElementById(id);

async function request(path, options = {}) {
  const response = await fetch(path, { credentials: 'same-origin', ...options });
  const body = await response.json().catch(() => null);
  if (
    response.status === 401 &&
    session &&
    session.access === 'login' &&
    path !== '/dashboard/login'
  ) {
    showLogin();
  }
  return { status: response.status, body };
}

function post(path, payload) {
  const headers = { 'Content-Type': 'application/json' };
  if (session && session.csrfToken) headers['X-CSRF-Token'] = session.csrfToken;
  return request(path, { method: 'POST', headers, body: JSON.stringify(payload) });
}

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined ? '–' : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fillTable(id, items, render) {
  const body = $(id);
  const rows = items.map((item) => {
    const tr = document.createElement('tr');
    render(tr, item);
    return tr;
  });
  body.replaceChildren(...rows);
}

function formatTime(seconds) {
  return new Date(seconds * 1000).toLocaleString();
}

function formatDuration(seconds) {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m` : `${m}m ${s}s`;
}

function formatRate(value) {
  return value >= 100 ? Math.round(value).toString() : value.toFixed(1).replace(/\.0$/, '');
}

// ---- Charts: hand-written SVG polylines --------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

function drawChart(svg, history, series) {
  const [width, height] = svg.getAttribute('viewBox').split(' ').slice(2).map(Number);
  const left = 44;
  const bottom = height - 18;
  const top = 8;
  const right = width - 8;
  const max = Math.max(1, ...history.flatMap((sample) => series.map((s) => sample[s.key])));
  const children = [];
  for (const fraction of [0, 0.5, 1]) {
    const y = bottom - (bottom - top) * fraction;
    children.push(svgElement('line', { x1: left, x2: right, y1: y, y2: y, class: 'grid' }));
    const label = svgElement('text', {
      x: left - 6,
      y: y + 4,
      'text-anchor': 'end',
      class: 'axis',
    });
    label.textContent = formatRate(max * fraction);
    children.push(label);
  }
  const start = svgElement('text', { x: left, y: height - 4, class: 'axis' });
  start.textContent = '−60 min';
  const end = svgElement('text', { x: right, y: height - 4, 'text-anchor': 'end', class: 'axis' });
  end.textContent = 'now';
  children.push(start, end);
  // The hour is 360 buckets of 10 s; the newest is at the right edge.
  const slots = 360;
  for (const s of series) {
    const points = history.map((sample, index) => {
      const x = right - ((history.length - 1 - index) / (slots - 1)) * (right - left);
      const y = bottom - (sample[s.key] / max) * (bottom - top);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    children.push(svgElement('polyline', { points: points.join(' '), class: s.className }));
  }
  svg.replaceChildren(...children);
}

// ---- Pages -------------------------------------------------------------------------

async function refreshOverview() {
  const { body } = await request('/dashboard/api/overview');
  if (!body) return;
  $('ov-clients').textContent = body.clientsConnected;
  $('ov-in').textContent = formatRate(body.messagesInPerSecond);
  $('ov-out').textContent = formatRate(body.messagesOutPerSecond);
  $('ov-retained').textContent = body.retained;
  $('ov-sessions').textContent = body.sessions;
  $('ov-uptime').textContent = formatDuration(body.uptimeSeconds);
  drawChart($('chart-rates'), body.history, [
    { key: 'in', className: 'in' },
    { key: 'out', className: 'out' },
  ]);
  drawChart($('chart-clients'), body.history, [{ key: 'clients', className: 'clients' }]);
}

async function disconnectClient(clientId) {
  if (!window.confirm(`Disconnect client ${clientId}?`)) return;
  const { status, body } = await post('/dashboard/api/disconnect', { clientId });
  $('clients-note').textContent =
    status === 200
      ? `Disconnected ${clientId}.`
      : `Could not disconnect ${clientId}: ${body ? body.error : status}`;
  await refreshClients();
}

async function refreshClients() {
  const { body } = await request('/dashboard/api/clients');
  if (!body) return;
  const canAct = session && session.canAct;
  if (!canAct)
    $('clients-note').textContent =
      'Read-only: log in as one of dashboard_users to disconnect clients.';
  fillTable('clients-body', body.clients, (tr, client) => {
    tr.dataset.clientId = client.clientId;
    cell(tr, client.bridge ? `${client.clientId} (bridge ${client.bridge})` : client.clientId);
    cell(tr, `${client.address}:${client.port}`);
    cell(tr, client.protocol);
    cell(tr, client.username);
    cell(tr, `${client.keepalive} s`);
    cell(tr, client.queued);
    cell(tr, client.inflight);
    cell(tr, formatTime(client.connectedSince));
    const actions = cell(tr, '');
    if (canAct && !client.bridge) {
      const button = document.createElement('button');
      button.className = 'danger';
      button.textContent = 'Disconnect';
      button.addEventListener('click', () => void disconnectClient(client.clientId));
      actions.appendChild(button);
    }
  });
}

async function refreshTopics() {
  const { body } = await request('/dashboard/api/topics');
  if (!body) return;
  $('topics-note').textContent =
    `${body.retained} retained messages; ${body.total} topics active or retained` +
    (body.total > body.topics.length ? ` (the busiest ${body.topics.length} shown)` : '');
  fillTable('topics-body', body.topics, (tr, topic) => {
    cell(tr, topic.topic);
    cell(tr, formatRate(topic.rate));
    cell(
      tr,
      topic.retainedBytes === null ? null : `${topic.retainedBytes} bytes, QoS ${topic.qos}`,
    );
  });
}

async function refreshListeners() {
  const { body } = await request('/dashboard/api/listeners');
  if (!body) return;
  fillTable('listeners-body', body.listeners, (tr, listener) => {
    cell(tr, listener.address);
    cell(tr, listener.protocol);
    cell(tr, listener.allowAnonymous ? 'allowed' : 'refused');
    if (listener.tls === null) {
      cell(tr, 'no TLS');
      cell(tr, null);
    } else if (listener.tls.error) {
      cell(tr, listener.tls.certfile);
      cell(tr, listener.tls.error, 'expiring');
    } else {
      cell(tr, `${listener.tls.subject} (${listener.tls.certfile})`);
      cell(
        tr,
        `${listener.tls.validTo.slice(0, 10)} (${listener.tls.daysLeft} days)`,
        listener.tls.daysLeft < 30 ? 'expiring' : '',
      );
    }
  });
}

async function refreshBridges() {
  const { body } = await request('/dashboard/api/bridges');
  if (!body) return;
  if (body.bridges.length === 0) {
    fillTable('bridges-body', [null], (tr) => cell(tr, 'No bridges configured.'));
    return;
  }
  fillTable('bridges-body', body.bridges, (tr, bridge) => {
    cell(tr, bridge.name);
    cell(tr, bridge.state, `state-${bridge.state}`);
  });
}

const REFRESH = {
  overview: refreshOverview,
  clients: refreshClients,
  topics: refreshTopics,
  listeners: refreshListeners,
  bridges: refreshBridges,
};

// ---- Live messages -----------------------------------------------------------------

function stopWatching() {
  if (stream) stream.close();
  stream = null;
  $('watch-status').textContent = 'Stopped.';
}

function watch(filter) {
  stopWatching();
  $('messages-body').replaceChildren();
  $('watch-status').textContent = `Connecting to the stream for ${filter}…`;
  stream = new EventSource(`/dashboard/api/messages?filter=${encodeURIComponent(filter)}`);
  // The broker starts listening before its answer's headers leave: from 'open' on, nothing
  // published is missed (and the browser's retries after an interruption land here too).
  stream.addEventListener('open', () => {
    $('watch-status').textContent = `Watching ${filter}…`;
  });
  stream.addEventListener('message', (event) => {
    const message = JSON.parse(event.data);
    const tr = document.createElement('tr');
    cell(tr, new Date(message.at).toLocaleTimeString());
    cell(tr, message.topic);
    cell(tr, message.qos);
    cell(tr, message.retain ? 'yes' : '');
    cell(tr, message.clientId || '(broker)');
    const shown = message.binary ? `hex ${message.text}` : message.text;
    cell(tr, shown + (message.truncated ? ` … (${message.bytes} bytes)` : ''), 'payload');
    const body = $('messages-body');
    body.prepend(tr);
    while (body.children.length > MAX_MESSAGE_ROWS) body.lastElementChild.remove();
    $('watch-status').textContent =
      `Watching ${filter}` +
      (message.dropped > 0 ? `; ${message.dropped} dropped (browser too slow)` : '');
  });
  stream.addEventListener('error', () => {
    $('watch-status').textContent = `Stream interrupted; the browser retries.`;
  });
}

// ---- Navigation and login ----------------------------------------------------------

function showPage() {
  const page = PAGES.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'overview';
  for (const name of PAGES) $(`page-${name}`).hidden = name !== page;
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('active', link.getAttribute('href') === `#${page}`);
  }
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
  const refresh = REFRESH[page];
  if (refresh) {
    void refresh();
    refreshTimer = setInterval(() => void refresh(), REFRESH_MS[page]);
  }
}

function showWho() {
  const who = $('who');
  const parts = [];
  if (session.username) {
    const name = document.createElement('span');
    name.textContent = session.username;
    const logout = document.createElement('button');
    logout.textContent = 'Log out';
    logout.id = 'logout';
    logout.addEventListener('click', async () => {
      await post('/dashboard/logout', {});
      session = { ...session, username: null, csrfToken: null, canAct: false };
      showLogin();
    });
    parts.push(name, logout);
  } else {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = 'read-only';
    parts.push(badge);
  }
  who.replaceChildren(...parts);
}

function showLogin() {
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
  stopWatching();
  $('nav').hidden = true;
  $('who').replaceChildren();
  for (const name of PAGES) $(`page-${name}`).hidden = true;
  $('login').hidden = false;
  $('username').focus();
}

function showApp() {
  $('login').hidden = true;
  $('nav').hidden = false;
  showWho();
  showPage();
}

async function start() {
  const { body } = await request('/dashboard/api/session');
  session = body;
  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const { status, body: answer } = await post('/dashboard/login', {
      username: $('username').value,
      password: $('password').value,
    });
    if (status !== 200) {
      $('login-error').textContent = answer ? answer.error : `Login failed (${status}).`;
      return;
    }
    $('login-error').textContent = '';
    $('password').value = '';
    session = { ...session, username: answer.username, csrfToken: answer.csrfToken, canAct: true };
    showApp();
  });
  $('watch-form').addEventListener('submit', (event) => {
    event.preventDefault();
    watch($('watch-filter').value);
  });
  $('watch-stop').addEventListener('click', stopWatching);
  window.addEventListener('hashchange', () => {
    if (!$('login').hidden) return;
    showPage();
  });
  if (session.access === 'login' && !session.username) showLogin();
  else showApp();
}

void start();

// The connectord console's shared part: DOM helpers, the JSON API client, schema views.
// Each page has a script of its own (connectors.js, accounts.js, ...) that calls start().
// Everything from the server is put into the page as text (textContent, attribute values),
// never as HTML: connector titles and descriptions are untrusted.
'use strict';

window.connectordConsole = (function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const content = document.getElementById('content');
  const statusLine = document.getElementById('status');
  const POLL_WAIT = 10; // seconds a poll of an execution waits on the server
  const REFRESH_MS = 1500; // how often a page with something running reloads it
  const PAGE_SIZE = 50;

  // -- DOM ---------------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'value') node.value = value;
      else if (value === true) node.setAttribute(key, '');
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  let uid = 0;
  function nextId(prefix) {
    uid += 1;
    return `${prefix}-${uid}`;
  }

  function say(message) {
    statusLine.textContent = message;
  }

  function errorBox(message) {
    return el('p', { class: 'error', role: 'alert' }, message);
  }

  function empty(message) {
    return el('p', { class: 'empty' }, message);
  }

  function pre(value) {
    return el('pre', { class: 'json' }, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  }

  function table(caption, headers, rows) {
    return el('div', { class: 'scroll', role: 'region', 'aria-label': caption, tabindex: '0' },
      el('table', {},
        el('caption', { class: 'visually-hidden' }, caption),
        el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((c) => el('td', {}, c)))))));
  }

  function field(labelText, control, hint) {
    control.id = control.id || nextId('f');
    const parts = [el('label', { for: control.id }, labelText), control];
    if (hint) {
      const hintId = nextId('hint');
      control.setAttribute('aria-describedby', hintId);
      parts.push(el('small', { id: hintId }, hint));
    }
    return el('p', { class: 'field' }, parts);
  }

  function select(options, value, attrs) {
    return el('select', attrs || {}, options.map(([v, label]) =>
      el('option', { value: v, selected: v === value }, label)));
  }

  function button(label, onclick, attrs) {
    return el('button', Object.assign({ type: 'button', onclick }, attrs || {}), label);
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  // -- API ---------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      const text = body && body.message ? body.message : `HTTP ${status}`;
      super(body && body.field ? `${text} (field: ${body.field})` : text);
      this.status = status;
      this.body = body;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
    const init = { method, headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = { message: text }; }
    }
    if (response.status === 401) window.location.assign('/console/login');
    if (!response.ok) throw new ApiError(response.status, data);
    return { status: response.status, data, url: response.url };
  }

  // A route this server does not have (another version): 405, or aiohttp's bare 404.
  function unavailable(error) {
    return error instanceof ApiError && (error.status === 405 ||
      (error.status === 404 && (!error.body || (error.body.message === 'Not Found' && !error.body.field))));
  }

  function notAvailable(what, endpoint) {
    return el('p', { class: 'empty unavailable' },
      `${what} is not available on this server: it has no ${endpoint} endpoint yet.`);
  }

  // Seed 001's flow: schedule, poll (long-poll with wait) until redirected to the result.
  async function execute(body) {
    const scheduled = await api('POST', '/v1/exec/schedule', body);
    return pollResult(scheduled.data.id);
  }

  function reasonText(reason) {
    if (!reason) return 'unknown reason';
    if (typeof reason === 'string') return reason;
    const where = reason.field ? ` (field: ${reason.field})` : '';
    return `${reason.message || reason.kind || JSON.stringify(reason)}${where}`;
  }

  async function loadAll(path) {
    const { data } = await api('GET', `${path}${path.includes('?') ? '&' : '?'}limit=500`);
    return data.data;
  }

  // -- schemas ----------------------------------------------------------------------------

  function typeName(schema) {
    if (!schema || typeof schema !== 'object') return 'any';
    let type = Array.isArray(schema.type) ? schema.type.join(' or ') : (schema.type || 'any');
    if (type === 'array' && schema.items) type = `array of ${typeName(schema.items)}`;
    if (schema.format) type += ` (${schema.format})`;
    return type;
  }

  function schemaView(schema, title) {
    const wrap = el('div', { class: 'schema' });
    if (title) wrap.append(el('h4', {}, title));
    if (!schema || typeof schema !== 'object' || Object.keys(schema).length === 0) {
      wrap.append(el('p', { class: 'muted' }, 'No schema.'));
      return wrap;
    }
    if (schema.title) wrap.append(el('p', {}, el('strong', {}, schema.title)));
    if (schema.description) wrap.append(el('p', { class: 'description' }, schema.description));
    const properties = schema.properties || {};
    const names = Object.keys(properties);
    const required = new Set(schema.required || []);
    if (names.length === 0) {
      wrap.append(el('p', { class: 'muted' }, `Type ${typeName(schema)}, no named fields.`));
    } else {
      wrap.append(table(title || 'Fields', ['Field', 'Type', 'Required', 'About'], names.map((name) => {
        const prop = properties[name] || {};
        const notes = [];
        if (prop.secret) notes.push(el('span', { class: 'badge' }, 'secret'));
        if (prop['x-model']) notes.push(el('span', { class: 'badge' }, `options: ${prop['x-model']}`));
        if (prop.enum) notes.push(`one of ${prop.enum.map(String).join(', ')}`);
        if (prop.default !== undefined) notes.push(` default ${JSON.stringify(prop.default)}`);
        const about = [prop.title && prop.title !== name ? el('strong', {}, prop.title) : null,
          prop.description ? el('span', {}, ' ', prop.description) : null, ' ', notes];
        if (prop.properties) about.push(el('details', {}, el('summary', {}, 'Fields'), schemaView(prop)));
        return [el('code', {}, name), typeName(prop), required.has(name) ? 'yes' : 'no', about];
      })));
    }
    wrap.append(el('details', {}, el('summary', {}, 'JSON Schema'), pre(schema)));
    return wrap;
  }

  // -- verifying credentials ----------------------------------------------------------

  function verifyText(data) {
    const v = data && data.data !== undefined ? data.data : data;
    if (v && typeof v === 'object' && 'verified' in v) {
      const failure = v.failure ? ` (${v.failure.kind}${v.failure.field ? `, field ${v.failure.field}` : ''})` : '';
      return [v.verified ? 'Verified' : 'Not verified', `${v.message ? `: ${v.message}` : ''}${failure}`];
    }
    return ['Result', `: ${JSON.stringify(v)}`];
  }

  function verifyResult(outcome) {
    if (!outcome.ok) return errorBox(`Verification failed: ${reasonText(outcome.reason)}`);
    const [head, rest] = verifyText(outcome.data);
    return el('p', { class: head === 'Verified' ? 'ok' : 'error', role: 'status' }, el('strong', {}, head), rest);
  }

  // POST /v1/accounts/{id}/_verify: verify_credentials with a stored account.
  async function verifyStored(accountId, where) {
    where.replaceChildren(el('p', { class: 'muted' }, 'Testing…'));
    try {
      const response = await api('POST', `/v1/accounts/${encodeURIComponent(accountId)}/_verify`, {});
      if (response.status === 202 && response.data && response.data.id) {
        where.replaceChildren(verifyResult(await pollResult(response.data.id)));
      } else {
        where.replaceChildren(verifyResult({ ok: true, data: response.data }));
      }
    } catch (error) {
      where.replaceChildren(unavailable(error)
        ? notAvailable('Testing a stored account', 'POST /v1/accounts/{id}/_verify')
        : errorBox(`Test failed: ${error.message}`));
    }
  }

  async function pollResult(id) {
    for (;;) {
      const response = await fetch(`/v1/exec/poll/${encodeURIComponent(id)}?wait=${POLL_WAIT}`,
        { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      const data = await response.json().catch(() => null);
      if (response.url.includes('/v1/exec/result/')) {
        return response.ok ? { ok: true, data: data.data } : { ok: false, reason: data && (data.reason || data.message) };
      }
      if (!response.ok) throw new ApiError(response.status, data);
    }
  }

  function logsView(logs) {
    if (!logs || !logs.length) return empty('No log lines.');
    return el('pre', { class: 'logs' }, logs.map((l) =>
      `${typeof l.time === 'number' ? new Date(l.time * 1000).toISOString() : l.time} ${l.level} ${l.logger}: ${l.message}\n`).join(''));
  }

  // -- start -------------------------------------------------------------------------------

  function fail(error) {
    content.replaceChildren(errorBox(`Could not load this page: ${error.message}`));
  }

  // Render the page (each page's script calls this once).
  function start(render) {
    render().catch(fail);
  }

  return {
    csrf, content, POLL_WAIT, REFRESH_MS, PAGE_SIZE, el, nextId, say, errorBox, empty, pre, table,
    field, select, button, debounce, ApiError, api, unavailable, notAvailable, execute, reasonText,
    loadAll, typeName, schemaView, verifyResult, verifyStored, pollResult, logsView, fail, start,
  };
})();

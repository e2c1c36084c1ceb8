// The connectord console: builds each page from the JSON API of the same server.
// Everything from the server is put into the page as text (textContent, attribute values),
// never as HTML: connector titles and descriptions are untrusted.
'use strict';

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const main = document.getElementById('main');
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

  // -- connectors -------------------------------------------------------------------------

  function operationView(op, kind) {
    const facts = [];
    if (op.model_methods && op.model_methods.length) facts.push(`select_model: ${op.model_methods.join(', ')}`);
    if (op.dynamic_metadata) facts.push('dynamic metadata (get_meta_model)');
    return el('li', { class: 'operation' },
      el('strong', {}, op.title), ' ', el('code', {}, op.name), ` (${kind})`,
      op.description ? el('p', { class: 'description' }, op.description) : null,
      facts.length ? el('p', { class: 'muted' }, facts.join(' · ')) : null,
      op.config_schema && Object.keys(op.config_schema).length
        ? el('details', {}, el('summary', {}, 'Configuration schema'), schemaView(op.config_schema)) : null);
  }

  function jobTypeView(jobType) {
    return el('li', { class: 'operation' },
      el('strong', {}, jobType.title), ' ', el('code', {}, jobType.code),
      jobType.needs_account ? el('span', { class: 'badge' }, 'needs an account') : null,
      jobType.description ? el('p', { class: 'description' }, jobType.description) : null,
      el('details', {}, el('summary', {}, 'Parameters schema'), schemaView(jobType.params_schema)));
  }

  async function connectorsPage() {
    const { data } = await api('GET', '/v1/components');
    const parts = [];
    if (data.errors.length) {
      parts.push(el('section', { class: 'card failures', 'aria-labelledby': 'failures-h' },
        el('h2', { id: 'failures-h' }, 'Load failures'),
        table('Connectors that failed to load', ['Connector', 'Origin', 'Reason'],
          data.errors.map((e) => [el('code', {}, e.id), e.origin, e.reason]))));
    }
    if (!data.data.length) parts.push(empty('No connectors are installed on this server.'));
    for (const c of data.data) {
      const headingId = nextId('conn');
      const ops = [...(c.actions || []).map((op) => operationView(op, 'action')),
        ...(c.triggers || []).map((op) => operationView(op, 'trigger'))];
      parts.push(el('section', { class: 'card connector', 'aria-labelledby': headingId },
        el('h2', { id: headingId }, c.title),
        el('p', { class: 'muted' }, el('code', {}, c.id), ` · version ${c.version} · ${c.origin}`),
        c.description ? el('p', { class: 'description' }, c.description) : null,
        el('h3', {}, 'Actions and triggers'),
        ops.length ? el('ul', { class: 'plain' }, ops) : empty('None.'),
        el('h3', {}, 'Job types'),
        (c.job_types || []).length ? el('ul', { class: 'plain' }, c.job_types.map(jobTypeView)) : empty('None.'),
        el('details', {}, el('summary', {}, 'Credentials schema'), schemaView(c.credentials_schema))));
    }
    content.replaceChildren(...parts);
  }

  // -- accounts ---------------------------------------------------------------------------

  // A form's fields from a connector's credentials schema; read() gives the keys to send.
  function credentialFields(schema, stored) {
    const properties = (schema && schema.properties) || {};
    const required = new Set((schema && schema.required) || []);
    const controls = [];
    const rows = Object.entries(properties).map(([name, prop]) => {
      const label = `${prop.title || name}${required.has(name) ? ' (required)' : ''}`;
      const current = stored ? stored[name] : undefined;
      let control;
      if (prop.enum) {
        control = select([['', '—'], ...prop.enum.map((v) => [String(v), String(v)])],
          current === undefined ? '' : String(current), { name });
      } else if (prop.type === 'boolean') {
        control = el('input', { type: 'checkbox', name, checked: current === true });
      } else if (prop.secret) {
        control = el('input', { type: 'password', name, autocomplete: 'new-password',
          placeholder: stored && current !== undefined ? 'unchanged: type to replace' : '' });
      } else {
        const numeric = prop.type === 'integer' || prop.type === 'number';
        control = el('input', { type: numeric ? 'number' : 'text', name,
          value: current === undefined ? '' : String(current) });
      }
      if (required.has(name) && !(prop.secret && stored) && prop.type !== 'boolean') control.required = true;
      controls.push([name, prop, control]);
      return field(label, control, prop.description);
    });
    function read() {
      const keys = {};
      for (const [name, prop, control] of controls) {
        if (prop.type === 'boolean') { keys[name] = control.checked; continue; }
        const value = control.value;
        if (value === '') {
          // an empty secret keeps the stored one: send back its mask
          if (prop.secret && stored && stored[name] !== undefined) keys[name] = stored[name];
          continue;
        }
        if (prop.type === 'integer' || prop.type === 'number') keys[name] = Number(value);
        else keys[name] = value;
      }
      return keys;
    }
    return { rows: rows.length ? rows : [empty('This connector needs no credentials.')], read };
  }

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

  async function accountsPage() {
    const [{ data: catalog }, accounts] = await Promise.all([api('GET', '/v1/components'), loadAll('/v1/accounts')]);
    const byId = Object.fromEntries(catalog.data.map((c) => [c.id, c]));
    const formArea = el('section', { class: 'card', 'aria-labelledby': 'account-form-h' });
    const listArea = el('section', { 'aria-labelledby': 'accounts-h' });

    function showForm(account) {
      const editing = Boolean(account);
      const componentSelect = select(catalog.data.map((c) => [c.id, `${c.title} (${c.id})`]),
        editing ? account.component : (catalog.data[0] || {}).id, { name: 'component', disabled: editing });
      const nameInput = el('input', { type: 'text', name: 'name', required: true, maxlength: '200',
        value: editing ? account.name : '' });
      const fieldsArea = el('fieldset', {}, el('legend', {}, 'Credentials'));
      const result = el('div', { 'aria-live': 'polite' });
      let creds = null;
      function renderFields() {
        const connector = byId[componentSelect.value];
        creds = credentialFields(connector ? connector.credentials_schema : {}, editing ? account.keys : null);
        fieldsArea.replaceChildren(el('legend', {}, 'Credentials'), ...creds.rows);
      }
      componentSelect.addEventListener('change', renderFields);
      renderFields();
      const form = el('form', { class: 'stack', novalidate: false },
        field('Connector', componentSelect),
        field('Name', nameInput, 'A name to tell this account from others'),
        fieldsArea,
        el('div', { class: 'actions' },
          el('button', { type: 'submit' }, editing ? 'Save account' : 'Create account'),
          editing ? null : button('Test these credentials', async () => {
            result.replaceChildren(el('p', { class: 'muted' }, 'Testing…'));
            try {
              result.replaceChildren(verifyResult(await execute({ execution_type: 'verify_credentials',
                component: componentSelect.value, account_data: creds.read() })));
            } catch (error) { result.replaceChildren(errorBox(error.message)); }
          }),
          editing ? button('Cancel', () => showForm(null)) : null),
        result);
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const body = { name: nameInput.value, component: componentSelect.value, keys: creds.read() };
        try {
          if (editing) await api('PUT', `/v1/accounts/${encodeURIComponent(account.id)}`, body);
          else await api('POST', '/v1/accounts', body);
          say(editing ? `Account ${body.name} saved.` : `Account ${body.name} created.`);
          await accountsPage();
        } catch (error) { result.replaceChildren(errorBox(error.message)); }
      });
      formArea.replaceChildren(el('h2', { id: 'account-form-h' }, editing ? `Edit account ${account.name}` : 'New account'),
        catalog.data.length ? form : empty('No connectors are installed: there is nothing to store credentials for.'));
      if (editing) nameInput.focus();
    }

    const rows = accounts.map((account) => {
      const testResult = el('div', { 'aria-live': 'polite' });
      const keys = Object.entries(account.keys).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
      return [account.name, el('code', {}, account.component), el('span', { class: 'keys' }, keys.join(', ')),
        new Date(account.updated_at * 1000).toISOString(),
        el('div', { class: 'actions' },
          button('Edit', () => showForm(account), { 'aria-label': `Edit ${account.name}` }),
          button('Test', () => verifyStored(account.id, testResult), { 'aria-label': `Test ${account.name}` }),
          button('Delete', async () => {
            if (!window.confirm(`Delete the account ${account.name}?`)) return;
            try {
              await api('DELETE', `/v1/accounts/${encodeURIComponent(account.id)}`);
              say(`Account ${account.name} deleted.`);
              await accountsPage();
            } catch (error) { testResult.replaceChildren(errorBox(error.message)); }
          }, { class: 'danger', 'aria-label': `Delete ${account.name}` }),
          testResult)];
    });
    listArea.replaceChildren(el('h2', { id: 'accounts-h' }, 'Stored accounts'),
      rows.length ? table('Stored accounts', ['Name', 'Connector', 'Keys (secrets masked)', 'Updated', 'Actions'], rows)
        : empty('No accounts yet: create one with the form.'));
    showForm(null);
    content.replaceChildren(formArea, listArea);
  }

  // -- playground -------------------------------------------------------------------------

  // The dropdowns an operation fills from select_model: config fields marked x-model, then
  // model methods no field names.
  function modelFields(op) {
    const fields = [];
    const properties = (op.config_schema && op.config_schema.properties) || {};
    for (const [name, prop] of Object.entries(properties)) {
      if (prop['x-model']) fields.push({ name, method: prop['x-model'], label: prop.title || name, description: prop.description });
    }
    for (const method of op.model_methods || []) {
      if (!fields.some((f) => f.method === method)) fields.push({ name: method, method, label: method });
    }
    return fields;
  }

  async function playgroundPage() {
    const [{ data: catalog }, accounts] = await Promise.all([api('GET', '/v1/components'), loadAll('/v1/accounts')]);
    const connectors = catalog.data.filter((c) => (c.actions || []).length + (c.triggers || []).length > 0);
    if (!connectors.length) {
      content.replaceChildren(empty('No installed connector has actions or triggers to try.'));
      return;
    }
    const connectorSelect = select(connectors.map((c) => [c.id, `${c.title} (${c.id})`]), connectors[0].id);
    const opSelect = el('select');
    const accountSelect = el('select');
    const verifyOut = el('div', { 'aria-live': 'polite' });
    const configArea = el('section', { class: 'card', 'aria-labelledby': 'cfg-h' });
    const metaArea = el('section', { class: 'card', 'aria-labelledby': 'meta-h' });
    const cfg = {};

    function operation() {
      const c = connectors.find((x) => x.id === connectorSelect.value);
      return [...(c.actions || []), ...(c.triggers || [])].find((op) => op.name === opSelect.value);
    }

    function fillOperations() {
      const c = connectors.find((x) => x.id === connectorSelect.value);
      opSelect.replaceChildren(
        el('optgroup', { label: 'Actions' }, (c.actions || []).map((op) => el('option', { value: op.name }, op.title))),
        el('optgroup', { label: 'Triggers' }, (c.triggers || []).map((op) => el('option', { value: op.name }, op.title))));
      const own = accounts.filter((a) => a.component === c.id);
      accountSelect.replaceChildren(...own.map((a) => el('option', { value: a.id }, a.name)));
      accountSelect.disabled = own.length === 0;
      fillConfig();
    }

    function fillConfig() {
      for (const key of Object.keys(cfg)) delete cfg[key];
      const op = operation();
      const parts = [el('h2', { id: 'cfg-h' }, 'Configuration')];
      metaArea.replaceChildren(el('h2', { id: 'meta-h' }, 'Metadata'),
        el('p', { class: 'muted' }, op && op.dynamic_metadata
          ? 'Choose the configuration, then load the metadata.' : 'This operation has no dynamic metadata.'));
      if (!accountSelect.value) {
        parts.push(empty('No account for this connector yet: create one on the Accounts page.'));
        configArea.replaceChildren(...parts);
        return;
      }
      const fields = op ? modelFields(op) : [];
      if (!fields.length) parts.push(empty('This operation has no dropdowns to fill.'));
      for (const f of fields) parts.push(dropdown(f));
      if (op && op.dynamic_metadata) parts.push(el('div', { class: 'actions' }, button('Load metadata', loadMeta)));
      configArea.replaceChildren(...parts);
    }

    // One select_model dropdown: search box, options, "more" while the connector has pages.
    function dropdown(f) {
      const search = el('input', { type: 'search', placeholder: 'Search', autocomplete: 'off' });
      const choice = el('select', { 'data-model': f.method });
      const more = button('More options', () => load(true));
      const note = el('small', { 'aria-live': 'polite' });
      let cursor = null;
      let generation = 0;
      more.hidden = true;
      async function load(append) {
        generation += 1;
        const mine = generation;
        note.textContent = 'Loading options…';
        try {
          const query = { limit: PAGE_SIZE };
          if (search.value) query.search = search.value;
          if (append && cursor) query.cursor = cursor;
          const outcome = await execute({ execution_type: 'select_model', component: connectorSelect.value,
            action_or_trigger: opSelect.value, account_id: accountSelect.value, model_method: f.method,
            cfg: Object.assign({}, cfg), query });
          if (mine !== generation) return; // a newer search replaced this one
          if (!outcome.ok) {
            note.replaceChildren(errorBox(`select_model failed: ${reasonText(outcome.reason)}`));
            return;
          }
          const options = outcome.data.options || [];
          if (!append) choice.replaceChildren(el('option', { value: '' }, '— choose —'));
          choice.append(...options.map((o) => el('option', { value: o.value }, o.label)));
          cursor = outcome.data.next_cursor || null;
          more.hidden = !cursor;
          const count = choice.options.length - 1;
          note.textContent = count ? `${count} option${count === 1 ? '' : 's'}${cursor ? ', more available' : ''}`
            : 'No options match.';
        } catch (error) { note.replaceChildren(errorBox(error.message)); }
      }
      search.addEventListener('input', debounce(() => load(false), 300));
      choice.addEventListener('change', () => {
        if (choice.value) cfg[f.name] = choice.value; else delete cfg[f.name];
        const op = operation();
        if (op && op.dynamic_metadata && choice.value) loadMeta();
      });
      load(false);
      choice.id = nextId('model');
      search.setAttribute('aria-label', `Search ${f.label}`);
      return el('div', { class: 'dropdown' },
        el('label', { for: choice.id }, f.label, ' ', el('code', {}, `select_model: ${f.method}`)),
        el('div', { class: 'row' }, search, choice, more), note,
        f.description ? el('small', {}, f.description) : null);
    }

    async function loadMeta() {
      metaArea.replaceChildren(el('h2', { id: 'meta-h' }, 'Metadata'), el('p', { class: 'muted' }, 'Loading metadata…'));
      try {
        const outcome = await execute({ execution_type: 'get_meta_model', component: connectorSelect.value,
          action_or_trigger: opSelect.value, account_id: accountSelect.value, cfg: Object.assign({}, cfg) });
        metaArea.replaceChildren(el('h2', { id: 'meta-h' }, 'Metadata'), outcome.ok
          ? el('div', { class: 'meta' }, schemaView(outcome.data.in, 'In: what the operation takes'),
            schemaView(outcome.data.out, 'Out: what it gives'))
          : errorBox(`get_meta_model failed: ${reasonText(outcome.reason)}`));
      } catch (error) {
        metaArea.replaceChildren(el('h2', { id: 'meta-h' }, 'Metadata'), errorBox(error.message));
      }
    }

    connectorSelect.addEventListener('change', fillOperations);
    opSelect.addEventListener('change', fillConfig);
    accountSelect.addEventListener('change', fillConfig);
    const picker = el('section', { class: 'card', 'aria-labelledby': 'pick-h' },
      el('h2', { id: 'pick-h' }, 'Pick'),
      el('div', { class: 'grid' }, field('Connector', connectorSelect), field('Action or trigger', opSelect),
        field('Account', accountSelect)),
      el('div', { class: 'actions' }, button('Verify credentials', () => {
        if (accountSelect.value) verifyStored(accountSelect.value, verifyOut);
      })), verifyOut);
    content.replaceChildren(picker, configArea, metaArea);
    fillOperations();
  }

  // -- job definitions -------------------------------------------------------------------

  function scheduleText(schedule) {
    if (!schedule) return 'no schedule (run on demand)';
    if (schedule.cron) return `cron ${schedule.cron} (${schedule.timezone || 'UTC'})`;
    return `every ${schedule.every} ${schedule.unit}${schedule.every === 1 ? '' : 's'} (${schedule.timezone || 'UTC'})`;
  }

  // The schedule part of the definition form, with its live preview of next fire times.
  function scheduleForm(current) {
    const kind = current ? (current.cron ? 'cron' : 'interval') : 'none';
    const radios = ['none', 'cron', 'interval'].map((value) => el('input', { type: 'radio', name: 'schedule-kind',
      value, id: `kind-${value}`, checked: value === kind }));
    const labels = { none: 'No schedule', cron: 'Cron (Unix 5 fields or Quartz 6-7)', interval: 'Interval' };
    const cron = el('input', { type: 'text', name: 'cron', value: current && current.cron ? current.cron : '',
      placeholder: '*/15 9-17 * * MON-FRI', spellcheck: 'false', autocomplete: 'off' });
    const every = el('input', { type: 'number', name: 'every', min: '1', max: '1000',
      value: current && current.every ? String(current.every) : '1' });
    const unit = select(['minute', 'hour', 'day', 'week', 'month'].map((u) => [u, u]),
      current && current.unit ? current.unit : 'hour', { name: 'unit' });
    const anchor = el('input', { type: 'text', name: 'anchor', placeholder: '2026-01-01T09:00:00',
      value: current && current.anchor ? current.anchor : '' });
    const timezone = el('input', { type: 'text', name: 'timezone', list: 'zones',
      value: current && current.timezone ? current.timezone : 'UTC', autocomplete: 'off' });
    const zones = el('datalist', { id: 'zones' }, ['UTC', 'Europe/Berlin', 'Europe/London', 'America/New_York',
      'America/Los_Angeles', 'Asia/Tokyo', 'Australia/Sydney'].map((z) => el('option', { value: z })));
    const preview = el('div', { class: 'preview', 'aria-live': 'polite', id: 'schedule-preview' });
    const cronPart = el('div', {}, field('Cron expression', cron,
      '5 fields: Unix (minute hour day month weekday); 6 or 7: Quartz (seconds first, ? L W #)'));
    const intervalPart = el('div', { class: 'grid' }, field('Every', every), field('Unit', unit),
      field('Anchor (optional)', anchor, 'ISO 8601; local time in the zone without an offset'));
    const zonePart = el('div', {}, field('Time zone', timezone, 'An IANA name such as Europe/Berlin'), zones);

    function selected() { return radios.find((r) => r.checked).value; }
    function read() {
      const k = selected();
      if (k === 'none') return null;
      if (k === 'cron') return { cron: cron.value, timezone: timezone.value || 'UTC' };
      const value = { every: Number(every.value), unit: unit.value, timezone: timezone.value || 'UTC' };
      if (anchor.value) value.anchor = anchor.value;
      return value;
    }
    let generation = 0;
    async function update() {
      const k = selected();
      cronPart.hidden = k !== 'cron';
      intervalPart.hidden = k !== 'interval';
      zonePart.hidden = k === 'none';
      cron.removeAttribute('aria-invalid');
      if (k === 'none') { preview.replaceChildren(el('p', { class: 'muted' }, 'Runs only when started or run now.')); return; }
      const params = new URLSearchParams({ timezone: timezone.value || 'UTC', n: '5' });
      if (k === 'cron') {
        if (!cron.value.trim()) { preview.replaceChildren(el('p', { class: 'muted' }, 'Type an expression to see when it fires.')); return; }
        params.set('cron', cron.value);
      } else {
        params.set('every', every.value); params.set('unit', unit.value);
        if (anchor.value) params.set('anchor', anchor.value);
      }
      generation += 1;
      const mine = generation;
      try {
        const { data } = await api('GET', `/console/api/next-fires?${params}`);
        if (mine !== generation) return;
        const dialect = data.dialect ? `${data.dialect === 'quartz' ? 'Quartz' : 'Unix'} cron. ` : '';
        preview.replaceChildren(el('p', {}, `${dialect}Next fire times:`),
          data.nextFireTimes.length ? el('ol', { class: 'fires' }, data.nextFireTimes.map((t) => el('li', {}, el('time', { datetime: t }, t))))
            : empty('It never fires again.'));
      } catch (error) {
        if (mine !== generation) return;
        if (k === 'cron') cron.setAttribute('aria-invalid', 'true');
        preview.replaceChildren(errorBox(error.message));
      }
    }
    const later = debounce(update, 250);
    for (const input of [cron, every, unit, anchor, timezone]) input.addEventListener('input', later);
    for (const radio of radios) radio.addEventListener('change', update);
    const node = el('fieldset', { class: 'schedule' }, el('legend', {}, 'Schedule'),
      el('div', { class: 'radios', role: 'radiogroup', 'aria-label': 'Kind of schedule' }, radios.map((r) => el('label', { for: r.id }, r, ' ', labels[r.value]))),
      cronPart, intervalPart, zonePart, preview);
    update();
    return { node, read };
  }

  async function definitionsPage() {
    const [definitions, types, accounts] = await Promise.all([loadAll('/v1/job-definitions'),
      api('GET', '/v1/job-types').then((r) => r.data.data), loadAll('/v1/accounts')]);
    const formArea = el('section', { class: 'card', 'aria-labelledby': 'def-form-h' });
    const listArea = el('section', { 'aria-labelledby': 'defs-h' });
    const out = el('div', { 'aria-live': 'polite' });

    function showForm(def) {
      const editing = Boolean(def);
      const code = el('input', { type: 'text', name: 'code', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]{0,127}',
        value: editing ? def.jobDefinitionCode : '', disabled: editing });
      const name = el('input', { type: 'text', name: 'name', value: editing ? def.name : '' });
      const typeSelect = select(types.map((t) => [t.code, `${t.title} (${t.code}, ${t.component})`]),
        editing ? def.jobType : (types[0] || {}).code, { name: 'jobType', disabled: editing });
      const accountSelect = el('select', { name: 'account' });
      const params = el('textarea', { name: 'params', rows: '4', spellcheck: 'false' });
      params.value = JSON.stringify(editing ? def.params || {} : {}, null, 2);
      const retries = el('input', { type: 'number', name: 'maxRetries', min: '0', max: '10',
        value: String(editing ? def.maxRetries : 0) });
      const schedule = scheduleForm(editing ? def.schedule : null);
      const result = el('div', { 'aria-live': 'polite' });
      function fillAccounts() {
        const type = types.find((t) => t.code === typeSelect.value);
        const own = accounts.filter((a) => type && a.component === type.component);
        accountSelect.replaceChildren(el('option', { value: '' }, type && type.needsAccount ? '— choose —' : 'none'),
          ...own.map((a) => el('option', { value: a.id, selected: editing && def.accountId === a.id }, a.name)));
      }
      const typeSchema = el('details', {}, el('summary', {}, 'Parameters schema'));
      // A new definition starts from the type's defaults; the schema is shown beside them.
      function typeChanged() {
        fillAccounts();
        const type = types.find((t) => t.code === typeSelect.value);
        typeSchema.replaceChildren(el('summary', {}, 'Parameters schema'), schemaView(type ? type.paramsSchema : null));
        if (editing || !type) return;
        const defaults = {};
        for (const [key, prop] of Object.entries((type.paramsSchema || {}).properties || {})) {
          if (prop.default !== undefined) defaults[key] = prop.default;
        }
        params.value = JSON.stringify(defaults, null, 2);
      }
      typeSelect.addEventListener('change', typeChanged);
      typeChanged();
      const form = el('form', { class: 'stack' },
        el('div', { class: 'grid' }, field('Code', code, 'Letters, digits, _ . -; it cannot change later'),
          field('Name', name), field('Job type', typeSelect), field('Account', accountSelect)),
        field('Parameters (JSON)', params, 'An object matching the job type\'s parameters schema'), typeSchema,
        field('Retries after a failure', retries),
        schedule.node,
        el('div', { class: 'actions' }, el('button', { type: 'submit' }, editing ? 'Save definition' : 'Create definition'),
          editing ? button('Cancel', () => showForm(null)) : null),
        result);
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        let parsed;
        try { parsed = JSON.parse(params.value || '{}'); } catch (error) {
          result.replaceChildren(errorBox(`Parameters are not valid JSON: ${error.message}`));
          params.focus();
          return;
        }
        const body = { name: name.value, params: parsed, maxRetries: Number(retries.value || 0),
          schedule: schedule.read(), accountId: accountSelect.value || null };
        try {
          if (editing) {
            await api('PATCH', `/v1/job-definitions/${encodeURIComponent(def.jobDefinitionCode)}`, { jobDefinition: body });
          } else {
            body.jobDefinitionCode = code.value;
            body.jobType = typeSelect.value;
            for (const key of ['schedule', 'accountId']) if (body[key] === null) delete body[key];
            await api('POST', '/v1/job-definitions', { jobDefinition: body });
          }
          say(`Job definition ${editing ? def.jobDefinitionCode : code.value} saved.`);
          await definitionsPage();
        } catch (error) { result.replaceChildren(errorBox(error.message)); }
      });
      formArea.replaceChildren(el('h2', { id: 'def-form-h' }, editing ? `Edit ${def.jobDefinitionCode}` : 'New job definition'),
        types.length ? form : empty('No installed connector offers a job type.'));
      if (editing) name.focus();
    }

    async function act(def, label, method, suffix) {
      try {
        const response = await api(method, `/v1/job-definitions/${encodeURIComponent(def.jobDefinitionCode)}${suffix}`,
          method === 'POST' ? {} : undefined);
        say(`${label}: ${def.jobDefinitionCode}${response.data && response.data.jobId ? ` (job ${response.data.jobId})` : ''}.`);
        await definitionsPage();
      } catch (error) { out.replaceChildren(errorBox(`${label} ${def.jobDefinitionCode}: ${error.message}`)); }
    }

    const rows = definitions.map((def) => {
      const code = def.jobDefinitionCode;
      const runs = el('a', { href: `/console/runs?definition=${encodeURIComponent(code)}` }, 'Runs');
      return [el('code', {}, code), def.name || '', def.jobType, el('span', { class: `state state-${def.state}` }, def.state),
        scheduleText(def.schedule), def.nextFireTime || '—',
        el('div', { class: 'actions' },
          def.state === 'STARTED' ? button('Stop', () => act(def, 'Stopped', 'POST', '/_stop'), { 'aria-label': `Stop ${code}` })
            : button('Start', () => act(def, 'Started', 'POST', '/_start'), { 'aria-label': `Start ${code}` }),
          button('Run now', () => act(def, 'Run now', 'POST', '/_execute'), { 'aria-label': `Run ${code} now` }),
          button('Edit', () => showForm(def), { 'aria-label': `Edit ${code}` }), runs,
          button('Delete', () => {
            if (window.confirm(`Delete the job definition ${code}?`)) act(def, 'Deleted', 'DELETE', '');
          }, { class: 'danger', 'aria-label': `Delete ${code}` }))];
    });
    listArea.replaceChildren(el('h2', { id: 'defs-h' }, 'Definitions'), out,
      rows.length ? table('Job definitions', ['Code', 'Name', 'Job type', 'State', 'Schedule', 'Next fire', 'Actions'], rows)
        : empty('No job definitions yet: create one with the form.'));
    showForm(null);
    content.replaceChildren(listArea, formArea);
  }

  // -- runs -------------------------------------------------------------------------------

  const RUNNING = new Set(['WAITING', 'STARTED']);
  let refreshTimer = null;

  function logsView(logs) {
    if (!logs || !logs.length) return empty('No log lines.');
    return el('pre', { class: 'logs' }, logs.map((l) =>
      `${typeof l.time === 'number' ? new Date(l.time * 1000).toISOString() : l.time} ${l.level} ${l.logger}: ${l.message}\n`).join(''));
  }

  function jobDetail(job) {
    const attempts = job.attempts || [];
    return el('section', { class: 'card detail', 'aria-labelledby': 'job-h' },
      el('h2', { id: 'job-h', tabindex: '-1' }, `Job ${job.jobId}`),
      el('dl', { class: 'facts' },
        ...[['Status', job.status], ['Definition', job.jobDefinitionCode || '— (ad hoc)'], ['Job type', job.jobType],
          ['Trigger', job.trigger], ['Attempt', `${job.attempt} of ${job.maxRetries + 1}`], ['Created', job.createdAt],
          ['Started', job.startedAt || '—'], ['Finished', job.finishedAt || '—']]
          .map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
      job.error ? errorBox(`Error: ${reasonText(job.error)}`) : null,
      el('h3', {}, 'Attempts'),
      attempts.length ? table('Attempts', ['#', 'Started', 'Finished', 'Outcome', 'Error'], attempts.map((a) =>
        [String(a.attempt), a.startedAt || '—', a.finishedAt || '—', a.outcome || '—', a.error ? reasonText(a.error) : '']))
        : empty('No attempt yet.'),
      el('h3', {}, 'Outputs'), job.outputs && Object.keys(job.outputs).length ? pre(job.outputs) : empty('None.'),
      el('h3', {}, 'Result'), job.result !== null && job.result !== undefined ? pre(job.result) : empty('None yet.'),
      el('h3', {}, 'Logs'), logsView(job.logs));
  }

  async function runsPage() {
    const params = new URLSearchParams(window.location.search);
    const definition = params.get('definition') || '';
    const status = params.get('status') || '';
    const definitions = await loadAll('/v1/job-definitions');
    const defSelect = select([['', 'All definitions'], ...definitions.map((d) => [d.jobDefinitionCode, d.jobDefinitionCode])],
      definition, { name: 'definition' });
    const statusSelect = select([['', 'Any status'], ...['WAITING', 'STARTED', 'COMPLETED', 'FAILED', 'CANCELLED', 'MISSED',
      'SKIPPED'].map((s) => [s, s])], status, { name: 'status' });
    const filter = el('form', { class: 'filters', method: 'get', action: '/console/runs' },
      field('Definition', defSelect), field('Status', statusSelect), el('button', { type: 'submit' }, 'Show'));
    const listArea = el('div');
    const detailArea = el('div');
    let selectedId = params.get('job');
    content.replaceChildren(filter, listArea, detailArea);

    async function showJob(jobId) {
      try {
        const { data } = await api('GET', `/v1/jobs/${encodeURIComponent(jobId)}`);
        detailArea.replaceChildren(jobDetail(data));
        return RUNNING.has(data.status);
      } catch (error) { detailArea.replaceChildren(errorBox(error.message)); return false; }
    }

    // The list and the chosen run again, every REFRESH_MS while one of them runs; the
    // filters stay as they are.
    async function refresh() {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (definition) query.set('jobDefinitionCode', definition);
      if (status) query.set('status', status);
      const jobs = (await api('GET', `/v1/jobs?${query}`)).data.data;
      const rows = jobs.map((job) => [el('code', {}, job.jobId), job.jobDefinitionCode || '— (ad hoc)', job.jobType,
        job.trigger, el('span', { class: `state state-${job.status}` }, job.status), String(job.attempt), job.createdAt,
        job.finishedAt || '—',
        button('Details', () => {
          selectedId = job.jobId;
          const url = new URL(window.location.href);
          url.searchParams.set('job', job.jobId);
          window.history.replaceState(null, '', url);
          showJob(job.jobId).then((running) => {
            detailArea.querySelector('h2').focus();
            if (running) schedule();
          });
        }, { 'aria-label': `Details of job ${job.jobId}` })]);
      listArea.replaceChildren(rows.length
        ? table('Runs', ['Job', 'Definition', 'Type', 'Trigger', 'Status', 'Attempt', 'Created', 'Finished', ''], rows)
        : empty(definition || status ? 'No runs match these filters.' : 'No runs yet: start a job definition or run one now.'));
      let running = jobs.some((j) => RUNNING.has(j.status));
      if (selectedId) running = (await showJob(selectedId)) || running;
      if (running) schedule();
    }

    function schedule() {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => refresh().catch(fail), REFRESH_MS);
    }

    await refresh();
  }

  // -- executions --------------------------------------------------------------------------

  function pick(obj, ...names) {
    for (const name of names) if (obj[name] !== undefined && obj[name] !== null) return obj[name];
    return '—';
  }

  function when(value) {
    return typeof value === 'number' ? new Date(value * 1000).toISOString() : value;
  }

  async function executionsPage() {
    let listing;
    try {
      listing = (await api('GET', `/v1/exec?limit=${PAGE_SIZE}`)).data;
    } catch (error) {
      if (!unavailable(error)) throw error;
      content.replaceChildren(notAvailable('Listing executions', 'GET /v1/exec'));
      return;
    }
    const items = listing.data || [];
    const detailArea = el('div');
    async function showExecution(id) {
      try {
        const { data } = await api('GET', `/v1/exec/${encodeURIComponent(id)}`);
        const facts = Object.entries(data).filter(([k]) => k !== 'logs');
        detailArea.replaceChildren(el('section', { class: 'card detail', 'aria-labelledby': 'exec-h' },
          el('h2', { id: 'exec-h', tabindex: '-1' }, `Execution ${id}`),
          el('dl', { class: 'facts' }, facts.map(([k, v]) => [el('dt', {}, k),
            el('dd', {}, typeof v === 'object' && v !== null ? pre(v) : String(when(v)))])),
          el('h3', {}, 'Logs'), logsView(data.logs)));
        detailArea.querySelector('h2').focus();
      } catch (error) {
        detailArea.replaceChildren(unavailable(error)
          ? notAvailable('Looking up an execution', 'GET /v1/exec/{id}') : errorBox(error.message));
      }
    }
    const rows = items.map((x) => {
      const id = pick(x, 'id', 'executionId');
      const outcome = pick(x, 'outcome', 'reason');
      return [el('code', {}, id), el('span', { class: `state state-${pick(x, 'status')}` }, pick(x, 'status')),
        pick(x, 'component'), pick(x, 'executionType', 'execution_type', 'kind'),
        typeof outcome === 'object' ? reasonText(outcome) : outcome,
        when(pick(x, 'createdAt', 'created_at', 'scheduledAt')),
        button('Details', () => showExecution(id), { 'aria-label': `Details of execution ${id}` })];
    });
    content.replaceChildren(rows.length
      ? table('Recent executions', ['Execution', 'Status', 'Connector', 'Kind', 'Outcome', 'Created', ''], rows)
      : empty('No executions yet: the playground and API clients schedule them.'), detailArea);
  }

  // -- start -------------------------------------------------------------------------------

  function fail(error) {
    content.replaceChildren(errorBox(`Could not load this page: ${error.message}`));
  }

  const PAGES = {
    connectors: connectorsPage,
    accounts: accountsPage,
    playground: playgroundPage,
    definitions: definitionsPage,
    runs: runsPage,
    executions: executionsPage,
  };
  const render = PAGES[main.dataset.page];
  if (render) render().catch(fail);
})();

// The console's Playground page; helpers come from core.js.
'use strict';

(function (c) {
  const {
    content, PAGE_SIZE, el, nextId, errorBox, empty, field, select, button, debounce, api, execute,
    reasonText, loadAll, schemaView, verifyStored,
  } = c;

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

  c.start(playgroundPage);
})(window.connectordConsole);

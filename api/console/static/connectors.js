// The console's Connectors page; helpers come from core.js.
'use strict';

(function (c) {
  const {
    content, el, nextId, empty, table, api, schemaView,
  } = c;

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

  c.start(connectorsPage);
})(window.connectordConsole);

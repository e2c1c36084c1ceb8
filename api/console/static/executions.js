// The console's Executions page; helpers come from core.js.
'use strict';

(function (c) {
  const {
    content, PAGE_SIZE, el, errorBox, empty, pre, table, button, api, unavailable, notAvailable,
    reasonText, logsView,
  } = c;

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

  c.start(executionsPage);
})(window.connectordConsole);

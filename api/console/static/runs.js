// The console's Runs page; helpers come from core.js.
'use strict';

(function (c) {
  const {
    content, REFRESH_MS, PAGE_SIZE, el, errorBox, empty, pre, table, field, select, button, api,
    reasonText, loadAll, logsView, fail,
  } = c;

  const RUNNING = new Set(['WAITING', 'STARTED']);
  let refreshTimer = null;

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

  c.start(runsPage);
})(window.connectordConsole);

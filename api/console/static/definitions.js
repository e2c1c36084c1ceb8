// The console's Job definitions page; helpers come from core.js.
'use strict';

(function (c) {
  const {
    content, el, say, errorBox, empty, table, field, select, button, debounce, api, loadAll,
    schemaView,
  } = c;

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

  c.start(definitionsPage);
})(window.connectordConsole);

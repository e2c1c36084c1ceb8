// The console's Accounts page; helpers come from core.js.
'use strict';

(function (c) {
  const {
    content, el, say, errorBox, empty, table, field, select, button, api, execute, loadAll,
    verifyResult, verifyStored,
  } = c;

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
        typeof account.updated_at === 'number' ? new Date(account.updated_at * 1000).toISOString() : account.updated_at,
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

  c.start(accountsPage);
})(window.connectordConsole);

// The editor's HTTP access panel: http.allow as rows of host, credential kind, name and
// secret. Secrets go with the run and nowhere else: never to storage, never to a fork.

const KINDS = {
  '': { label: 'No credential' },
  bearer: { label: 'Bearer token', secret: 'token' },
  basic: { label: 'Basic', name: 'user_id', secret: 'password', placeholder: 'user id' },
  header: { label: 'Header', name: 'name', secret: 'value', placeholder: 'header name' },
  query: { label: 'Query parameter', name: 'key', secret: 'value', placeholder: 'parameter' },
};

function input(label, placeholder, value = '', type = 'text') {
  const field = document.createElement('input');
  field.type = type;
  field.placeholder = placeholder;
  field.value = value;
  field.setAttribute('aria-label', label);
  return field;
}

export function setUpHttpAccess(container, onChange) {
  if (!container) return { rules: () => [], saved: () => [], restore: () => {} };

  function add({ host = '', kind = '', name = '' } = {}) {
    const row = document.createElement('div');
    row.className = 'row http';
    const hostField = input('Host', 'api.example.com', host);
    const kindField = document.createElement('select');
    kindField.setAttribute('aria-label', 'Credential');
    for (const [value, { label }] of Object.entries(KINDS)) kindField.add(new Option(label, value));
    kindField.value = kind;
    const nameField = input('Credential name', '', name);
    const secretField = input('Credential secret', 'secret', '', 'password');
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'button small';
    remove.textContent = 'Remove';
    const shape = () => {
      const spec = KINDS[kindField.value];
      nameField.hidden = !spec.name;
      nameField.placeholder = spec.placeholder || '';
      secretField.hidden = !spec.secret;
    };
    kindField.addEventListener('change', () => { shape(); onChange(); });
    remove.addEventListener('click', () => { row.remove(); onChange(); });
    for (const field of [hostField, nameField, secretField]) field.addEventListener('input', onChange);
    row.append(hostField, kindField, nameField, secretField, remove);
    container.append(row);
    shape();
  }

  function read() {
    return [...container.querySelectorAll('.row.http')].map((row) => {
      const [host, name, secret] = row.querySelectorAll('input');
      return { host: host.value.trim(), kind: row.querySelector('select').value, name: name.value, secret: secret.value };
    }).filter((r) => r.host);
  }

  return {
    add,
    // http.allow for the request, with the secrets.
    rules: () => read().map(({ host, kind, name, secret }) => {
      const spec = KINDS[kind];
      if (!kind) return { host };
      const auth = { [spec.secret]: secret };
      if (spec.name) auth[spec.name] = name;
      return { host, auth: { [kind]: auth } };
    }),
    // What may be kept in the browser: no secret.
    saved: () => read().map(({ host, kind, name }) => ({ host, kind, name })),
    restore: (rules) => { for (const rule of rules || []) add(rule); },
  };
}

// A stored request's http.allow (secrets masked) as rows to restore, without secrets.
export function fromRequest(allow) {
  return (allow || []).map((rule) => {
    const [kind = ''] = Object.keys(rule.auth || {});
    const spec = KINDS[kind] || KINDS[''];
    return { host: rule.host, kind, name: (spec.name && rule.auth[kind][spec.name]) || '' };
  });
}

// A JSON value as a tree of <details>, each level built when it is first opened, so a
// large value costs the page only what is looked at.

// Entries listed under one node, at most; the rest are counted.
const MAX_ENTRIES = 500;

function scalar(value) {
  const span = document.createElement('span');
  span.className = `json-${value === null ? 'null' : typeof value}`;
  span.textContent = JSON.stringify(value);
  return span;
}

function summaryText(label, value) {
  const size = Array.isArray(value) ? `[${value.length}]` : `{${Object.keys(value).length}}`;
  return label ? `${label} ${size}` : size;
}

function entry(key, value) {
  const item = document.createElement('li');
  if (value !== null && typeof value === 'object') {
    item.append(node(value, `${key}:`, false));
  } else {
    const name = document.createElement('span');
    name.className = 'json-key';
    name.textContent = `${key}: `;
    item.append(name, scalar(value));
  }
  return item;
}

function fill(details, value) {
  const list = document.createElement('ul');
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  for (const [key, child] of entries.slice(0, MAX_ENTRIES)) list.append(entry(key, child));
  if (entries.length > MAX_ENTRIES) {
    const more = document.createElement('li');
    more.className = 'muted';
    more.textContent = `… ${entries.length - MAX_ENTRIES} more`;
    list.append(more);
  }
  details.append(list);
}

function node(value, label, open) {
  const details = document.createElement('details');
  const summary = document.createElement('summary');
  summary.textContent = summaryText(label, value);
  details.append(summary);
  let filled = false;
  const fillOnce = () => {
    if (filled || !details.open) return;
    filled = true;
    fill(details, value);
  };
  details.addEventListener('toggle', fillOnce);
  details.open = open;
  fillOnce();
  return details;
}

// A tree for `value`; its first level open. `name` labels it for screen readers.
export function jsonTree(value, name) {
  const box = document.createElement('div');
  box.className = 'json-tree';
  box.setAttribute('role', 'group');
  box.setAttribute('aria-label', `${name}, JSON`);
  box.append(value !== null && typeof value === 'object' ? node(value, '', true) : scalar(value));
  return box;
}

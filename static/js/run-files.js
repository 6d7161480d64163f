// The files a run kept (output_files): each with its size and a download link, pictures
// with a preview, skipped ones with the reason. The server sends them as attachments
// with nosniff and a sandbox policy, so a link downloads and never opens a page here;
// a preview is an <img>, which runs no script (SVG included).

const PREVIEWED = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/svg+xml']);
const UNITS = ['KiB', 'MiB', 'GiB'];

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

function span(className, text) {
  const node = document.createElement('span');
  node.className = className;
  node.textContent = text;
  return node;
}

function keptFile(file) {
  const item = document.createElement('li');
  item.className = 'run-file';
  const link = document.createElement('a');
  link.href = file.url;
  link.download = file.path.split('/').pop();
  link.textContent = file.path;
  link.dataset.testid = 'file-link';
  item.append(link, ' ', span('muted', formatSize(file.size)));
  if (PREVIEWED.has(file.content_type)) {
    const preview = document.createElement('img');
    preview.className = 'file-preview';
    preview.loading = 'lazy';
    preview.alt = `Preview of ${file.path}`;
    preview.src = file.url;
    item.append(preview);
  }
  return item;
}

function skippedFile(file) {
  const item = document.createElement('li');
  item.className = 'run-file skipped';
  item.dataset.testid = 'file-skipped';
  item.append(span('file-path', file.path), ' ', span('muted', `skipped: ${file.skipped}`));
  return item;
}

// Show the files in `list` (a <ul>), replacing what it held.
export function renderFiles(list, files) {
  list.textContent = '';
  for (const file of files) list.append(file.skipped ? skippedFile(file) : keptFile(file));
}

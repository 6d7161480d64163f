// Files uploaded from the editor: read in the browser, listed with a remove button, and
// sent base64 with every run from this page until removed. They live in this page's
// memory only, never in localStorage: a reload forgets them.
import { formatSize } from './run-files.js';

function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    // A data: URL is the browser's own base64 of the bytes: its text after the comma.
    reader.addEventListener('load', () => resolve(String(reader.result).split(',', 2)[1] || ''));
    reader.addEventListener('error', () => reject(reader.error));
    reader.readAsDataURL(file);
  });
}

// `input` is the <input type="file">, `list` the <ul> that shows what was read;
// `changed` is called whenever the set changes, `failed(message)` when a file cannot be read.
export function setUpUploads(input, list, { changed, failed }) {
  const uploads = new Map(); // path -> { size, contents }

  function show() {
    list.textContent = '';
    for (const [path, { size }] of uploads) {
      const item = document.createElement('li');
      item.className = 'upload';
      item.dataset.testid = 'upload-item';
      const name = document.createElement('span');
      name.className = 'file-path';
      name.textContent = path;
      const sized = document.createElement('span');
      sized.className = 'muted';
      sized.textContent = formatSize(size);
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'button small';
      remove.textContent = 'Remove';
      remove.setAttribute('aria-label', `Remove ${path}`);
      remove.addEventListener('click', () => {
        uploads.delete(path);
        show();
        changed();
      });
      item.append(name, ' ', sized, ' ', remove);
      list.append(item);
    }
    list.hidden = uploads.size === 0;
  }

  input.addEventListener('change', async () => {
    const picked = [...input.files];
    input.value = ''; // the same file may be picked again after a change on disk
    for (const file of picked) {
      try {
        // One of the same name is replaced: the run's working directory has one.
        uploads.set(file.name, { size: file.size, contents: await base64Of(file) });
      } catch {
        failed(`${file.name} could not be read. Pick it again.`);
      }
    }
    show();
    changed();
  });
  show();

  return {
    count: () => uploads.size,
    // As the run request's files[].
    files: () => [...uploads].map(([path, { contents }]) => ({ path, contents, encoding: 'base64' })),
  };
}

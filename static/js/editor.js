// The editor page: CodeMirror, the run controls, and the live output.
import {
  basicSetup, EditorView, EditorState, Compartment, EditorSelection, keymap, indentWithTab,
  json,
} from '../vendor/codemirror.js';
import { highlightFor } from './highlight.js';
import { modeFor } from './modes.js';
import { setUpDialogs } from './dialogs.js';
import { fromRequest, setUpHttpAccess } from './http-access.js';
import { clear, elements, renderState, showNotice, showStatus, watch } from './run-view.js';
import { setUpUploads } from './uploads.js';
import { setUpLiveInput } from './live-input.js';
import { csrfToken } from './page-requests.js';

const STORAGE_KEY = 'sandpit.editor.v1';
// A playground run keeps every file it writes, within the server's caps.
const OUTPUT_FILES = ['**'];
const EXAMPLES = {
  'python/script': `import sys
import time

name = sys.argv[1] if len(sys.argv) > 1 else "world"
for i in range(3):
    print(f"Hello, {name}! ({i + 1}/3)", flush=True)
    time.sleep(0.5)
`,
  'python/function': `def execute(input):
    name = input.get("name", "world")
    return {"greeting": f"Hello, {name}!", "letters": len(name)}
`,
  'javascript/script': `const name = process.argv[2] ?? "world";
for (let i = 1; i <= 3; i++) {
  console.log(\`Hello, \${name}! (\${i}/3)\`);
  await new Promise((resolve) => setTimeout(resolve, 500));
}
`,
  'javascript/function': `async function execute(input) {
  const name = input?.name ?? "world";
  return { greeting: \`Hello, \${name}!\`, letters: name.length };
}
`,
  'typescript/script': `interface Greeting { name: string; times: number }

const greeting: Greeting = { name: process.argv[2] ?? "world", times: 3 };
for (let i = 1; i <= greeting.times; i++) {
  console.log(\`Hello, \${greeting.name}! (\${i}/\${greeting.times})\`);
  await new Promise((resolve) => setTimeout(resolve, 500));
}
`,
  'typescript/function': `interface Input { name?: string }

export function execute(input: Input): { greeting: string; letters: number } {
  const name = input?.name ?? "world";
  return { greeting: \`Hello, \${name}!\`, letters: name.length };
}
`,
};
const DEFAULT_INPUT = '{\n  "name": "Ada"\n}\n';

const $ = (id) => document.getElementById(id);
const els = elements();
const dark = window.matchMedia('(prefers-color-scheme: dark)');
const languageMode = new Compartment();
const theme = new Compartment();
const themeFor = () => highlightFor(dark.matches);
// Each language's option names its editor mode (sandbox/languages.py).
const modeOf = (language) =>
  modeFor(document.querySelector(`#language option[value="${language}"]`)?.dataset.mode);

let running = null; // { id, socket }

function currentMode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function makeEditor(parent, doc, extensions) {
  return new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        basicSetup,
        keymap.of([{ key: 'Mod-Enter', run: () => { run(); return true; } }, indentWithTab]),
        theme.of(themeFor()),
        EditorView.updateListener.of((update) => { if (update.docChanged) changed(); }),
        // Long lines wrap: no sideways scrolling on a phone, and the scroller always has
        // focusable content, so keyboards can scroll it (axe: scrollable-region-focusable).
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ tabindex: '0' }),
        ...extensions,
      ],
    }),
  });
}

const saved = loadSaved();
const code = makeEditor($('editor'), saved.code ?? EXAMPLES['python/script'], [
  languageMode.of(modeOf(saved.language || 'python')),
  EditorView.contentAttributes.of({ 'aria-label': 'Code' }),
]);
const input = makeEditor($('input'), saved.input ?? DEFAULT_INPUT, [
  json(),
  EditorView.contentAttributes.of({ 'aria-label': 'Input JSON' }),
]);
dark.addEventListener('change', () => {
  for (const view of [code, input]) view.dispatch({ effects: theme.reconfigure(themeFor()) });
});

function loadSaved() {
  const fork = JSON.parse($('fork-data').textContent);
  if (fork) {
    return {
      language: fork.language, mode: fork.mode, code: fork.code, input: fork.input || DEFAULT_INPUT,
      stdin: fork.stdin, args: (fork.args || []).join('\n'),
      env: Object.keys(fork.env || {}).map((name) => [name, '']),
      http: fromRequest(fork.http?.allow),
      files: (fork.files || []).map((f) => [f.path, f.contents]),
      timeout: fork.limits?.execution_timeout ?? '', memory: fork.limits?.memory_size ?? '',
      runtime: fork.runtime_revision_id || '',
    };
  }
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY)) || {};
  } catch {
    return {};
  }
}

// --- the small panels: env and files as rows of inputs -------------------------------
function addRow(container, kind, first = '', second = '') {
  const row = document.createElement('div');
  row.className = 'row';
  const a = document.createElement('input');
  a.placeholder = kind === 'env' ? 'NAME' : 'path/in/workdir.txt';
  a.value = first;
  a.setAttribute('aria-label', kind === 'env' ? 'Variable name' : 'File path');
  const b = document.createElement(kind === 'env' ? 'input' : 'textarea');
  b.placeholder = kind === 'env' ? 'value' : 'contents';
  b.value = second;
  b.setAttribute('aria-label', kind === 'env' ? 'Variable value' : 'File contents');
  if (kind === 'env') b.type = 'password';
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'button small';
  remove.textContent = 'Remove';
  remove.addEventListener('click', () => { row.remove(); changed(); });
  row.append(a, b, remove);
  for (const field of [a, b]) field.addEventListener('input', changed);
  container.append(row);
}

function rows(container) {
  return [...container.querySelectorAll('.row')].map((row) => {
    const [a, b] = row.querySelectorAll('input, textarea');
    return [a.value, b.value];
  });
}

$('add-env').addEventListener('click', () => { addRow($('env'), 'env'); changed(); });
$('add-file').addEventListener('click', () => { addRow($('files'), 'file'); changed(); });
const uploads = setUpUploads($('upload'), $('uploads'), {
  changed: () => changed(),
  failed: (message) => showNotice(els, message),
});
const httpAccess = setUpHttpAccess($('http'), () => changed());
$('add-host')?.addEventListener('click', () => { httpAccess.add(); changed(); });

// --- state: restore, persist, keep the example when untouched ------------------------
$('language').value = saved.language || 'python';
document.querySelector(`input[name="mode"][value="${saved.mode || 'script'}"]`).checked = true;
$('stdin').value = saved.stdin || '';
$('args').value = saved.args || '';
$('timeout').value = saved.timeout || '';
$('memory').value = saved.memory || '';
if ($('runtime')) $('runtime').value = saved.runtime || '';
for (const [name] of saved.env || []) addRow($('env'), 'env', name, ''); // values never persist
for (const [path, contents] of saved.files || []) addRow($('files'), 'file', path, contents);
httpAccess.restore(saved.http); // hosts and credential names; secrets never persist

let saveTimer = null;
function changed() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(persist, 300);
  checkInput();
  $('env-count').textContent = rows($('env')).length ? `(${rows($('env')).length})` : '';
  const fileCount = rows($('files')).length + uploads.count();
  $('file-count').textContent = fileCount ? `(${fileCount})` : '';
  if ($('http-count')) $('http-count').textContent = httpAccess.saved().length ? `(${httpAccess.saved().length})` : '';
}

function persist() {
  const state = {
    language: $('language').value,
    mode: currentMode(),
    code: code.state.doc.toString(),
    input: input.state.doc.toString(),
    stdin: $('stdin').value,
    args: $('args').value,
    env: rows($('env')).map(([name]) => [name, '']),
    http: httpAccess.saved(),
    files: rows($('files')),
    timeout: $('timeout').value,
    memory: $('memory').value,
    runtime: $('runtime')?.value || '',
  };
  localStorage.setItem(STORAGE_KEY, JSON.stringify(state));
}

function isUntouched() {
  const text = code.state.doc.toString();
  return text.trim() === '' || Object.values(EXAMPLES).includes(text);
}

function showPanelsForMode() {
  const fn = currentMode() === 'function';
  $('input-panel').hidden = !fn;
  $('stdin-panel').hidden = fn;
}

function switched() {
  const language = $('language').value;
  code.dispatch({ effects: languageMode.reconfigure(modeOf(language)) });
  if (isUntouched()) {
    const example = EXAMPLES[`${language}/${currentMode()}`];
    code.dispatch({ changes: { from: 0, to: code.state.doc.length, insert: example } });
  }
  showPanelsForMode();
  changed();
}

$('language').addEventListener('change', switched);
for (const radio of document.querySelectorAll('input[name="mode"]')) radio.addEventListener('change', switched);
for (const id of ['stdin', 'args', 'timeout', 'memory']) $(id).addEventListener('input', changed);
$('runtime')?.addEventListener('change', changed);
showPanelsForMode();

function checkInput() {
  if (currentMode() !== 'function') {
    $('input-error').hidden = true;
    return true;
  }
  const text = input.state.doc.toString().trim();
  try {
    if (text) JSON.parse(text);
    $('input-error').hidden = true;
    return true;
  } catch (error) {
    $('input-error').textContent = `The input is not valid JSON: ${error.message}`;
    $('input-error').hidden = false;
    return false;
  }
}

// --- running -----------------------------------------------------------------------
function moveTo(line) {
  const target = code.state.doc.line(Math.min(Math.max(line, 1), code.state.doc.lines));
  code.dispatch({ selection: EditorSelection.cursor(target.from), scrollIntoView: true });
  code.focus();
}

function requestBody() {
  const mode = currentMode();
  const body = { mode, language: $('language').value, code: code.state.doc.toString() };
  if ($('runtime')?.value) body.runtime_revision_id = $('runtime').value;
  const env = Object.fromEntries(rows($('env')).filter(([name]) => name));
  if (Object.keys(env).length) body.env = env;
  const allow = httpAccess.rules();
  if (allow.length) body.http = { allow };
  const files = rows($('files')).filter(([path]) => path).map(([path, contents]) => ({ path, contents }));
  if (files.length) body.files = files;
  const limits = {};
  if ($('timeout').value) limits.execution_timeout = Number($('timeout').value);
  if ($('memory').value) limits.memory_size = Number($('memory').value);
  if (Object.keys(limits).length) body.limits = limits;
  if (mode === 'function') {
    const text = input.state.doc.toString().trim();
    if (text) body.input = JSON.parse(text);
  } else {
    if ($('stdin').value) body.stdin = $('stdin').value;
    const args = $('args').value.split('\n').filter((line) => line !== '');
    if (args.length) body.args = args;
  }
  return body;
}

// What the page sends: the request the API call dialog shows, with the uploads (base64,
// too long to show) and every file the run writes asked back.
function runBody() {
  const body = requestBody();
  const files = [...(body.files || []), ...uploads.files()];
  if (files.length) body.files = files;
  if (liveInput.wanted()) body.live_stdin = true;
  return { ...body, output_files: OUTPUT_FILES };
}

async function run() {
  if (running || $('run').disabled) return;
  if (!checkInput()) {
    $('input-panel').open = true;
    return;
  }
  persist();
  clear(els);
  showStatus(els, 'submitting');
  els.permalink.hidden = true;
  dialogs.hideShare();
  $('run').disabled = true;
  let response;
  const live = liveInput.wanted();
  try {
    response = await fetch('/runs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken() },
      body: JSON.stringify(runBody()),
    });
  } catch {
    showStatus(els, 'error');
    showNotice(els, 'Sandpit could not be reached. Check your connection and try again.');
    $('run').disabled = false;
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    showStatus(els, 'error');
    const error = body.error || {};
    showNotice(els, error.field ? `${error.message}` : error.message || `The run was refused (${response.status}).`);
    $('run').disabled = false;
    return;
  }
  running = { id: body.id, socket: null };
  els.permalink.href = body.permalink;
  els.permalink.hidden = false;
  dialogs.offerShare(body.id);
  showStatus(els, 'queued');
  $('stop').disabled = false;
  await watch(body.id, els, {
    onLine: moveTo,
    onSocket: (socket) => {
      running.socket = socket;
      if (live) liveInput.start(socket);
    },
  });
  liveInput.stop();
  running = null;
  $('stop').disabled = true;
  $('run').disabled = false;
}

function stop() {
  if (running?.socket?.readyState === WebSocket.OPEN) {
    running.socket.send(JSON.stringify({ type: 'stop' }));
  }
}

// --- share, the API call and the shortcuts (static/js/dialogs.js) --------------------
const liveInput = setUpLiveInput();
const dialogs = setUpDialogs({ els, requestBody, checkInput, csrfToken });

$('run').addEventListener('click', run);
$('stop').addEventListener('click', stop);
document.addEventListener('keydown', (event) => {
  if (dialogs.open()) return; // a dialog has the keyboard
  if ((event.ctrlKey || event.metaKey) && event.key === 'Enter') {
    event.preventDefault();
    run();
  } else if (event.key === 'Escape' && running) {
    stop();
  } else if (event.key === '?' && !dialogs.typing(event.target)) {
    event.preventDefault();
    dialogs.showShortcuts();
  }
});
if (navigator.platform.startsWith('Mac')) document.querySelector('#run .hint').textContent = '⌘ ⏎';
window.sandpit = { code, input, renderState: (state) => renderState(els, state, moveTo) };

// Showing one run: its status, stdout, stderr, output, results and files, live over its
// WebSocket. Shared by the editor page and the permalink page.
import { renderFiles } from './run-files.js';
import { renderResults } from './results.js';

const FINISHED = new Set(['succeeded', 'failed', 'timed_out', 'out_of_memory', 'stopped', 'error']);
const STATUS_TEXT = {
  idle: 'Ready',
  submitting: 'Submitting…',
  queued: 'Queued',
  starting: 'Starting…',
  running: 'Running…',
  succeeded: 'Succeeded',
  timed_out: 'Timed out',
  out_of_memory: 'Out of memory',
  stopped: 'Stopped',
  error: 'Error',
};
// Where a traceback names a line of the user's code: Python's `File "main.py", line 3`,
// Node's `main.js:3:7` or `/work/main.ts:3`.
const LINE_REFERENCE = /(File "main\.py", line (\d+))|((?:\/work\/)?main\.(?:js|ts):(\d+)(?::\d+)?)/g;

export function elements(root = document) {
  const get = (id) => root.getElementById(id);
  return {
    status: get('status'),
    meta: get('meta'),
    notice: get('notice'),
    stdout: get('stdout'),
    stderr: get('stderr'),
    output: get('output'),
    outputSection: get('output-section'),
    outputStatus: get('output-status'),
    permalink: get('permalink'),
    egressSection: get('egress-section'),
    egress: root.querySelector('#egress-section tbody'),
    resultsSection: get('results-section'),
    results: get('results'),
    filesSection: get('run-files-section'),
    files: get('run-files'),
  };
}

export function isFinished(status) {
  return FINISHED.has(status);
}

export function showStatus(els, status, exitCode) {
  let text = STATUS_TEXT[status] || status;
  if (status === 'failed') text = exitCode === null || exitCode === undefined ? 'Failed' : `Failed · exit ${exitCode}`;
  els.status.textContent = text;
  els.status.className = `status ${status}`;
}

export function showNotice(els, message) {
  els.notice.textContent = message || '';
  els.notice.hidden = !message;
}

export function clear(els) {
  els.stdout.textContent = '';
  els.stderr.textContent = '';
  els.output.textContent = '';
  els.outputSection.hidden = true;
  els.egressSection.hidden = true;
  els.egress.textContent = '';
  els.resultsSection.hidden = true;
  els.results.textContent = '';
  els.filesSection.hidden = true;
  els.files.textContent = '';
  els.meta.textContent = '';
  showNotice(els, '');
}

// stderr with every reference to a line of the code made a link that moves the cursor.
export function renderStderr(els, text, onLine) {
  els.stderr.textContent = '';
  if (!onLine) {
    els.stderr.textContent = text;
    return;
  }
  let last = 0;
  for (const match of text.matchAll(LINE_REFERENCE)) {
    els.stderr.append(text.slice(last, match.index));
    const link = document.createElement('a');
    link.href = '#';
    link.className = 'line-link';
    link.textContent = match[0];
    const line = Number(match[2] || match[4]);
    link.dataset.line = String(line);
    link.addEventListener('click', (event) => {
      event.preventDefault();
      onLine(line);
    });
    els.stderr.append(link);
    last = match.index + match[0].length;
  }
  els.stderr.append(text.slice(last));
}

export function renderState(els, state, onLine) {
  showStatus(els, state.status, state.exit_code);
  els.stdout.textContent = state.stdout || '';
  renderStderr(els, state.stderr || '', isFinished(state.status) ? onLine : null);
  const parts = [];
  if (state.exit_code !== null && state.exit_code !== undefined) parts.push(`exit ${state.exit_code}`);
  if (state.duration !== null && state.duration !== undefined) parts.push(`${state.duration} ms`);
  els.meta.textContent = parts.join(' · ');
  if ((state.kind === 'function' || state.kind === 'tool') && isFinished(state.status)) {
    els.outputSection.hidden = false;
    els.outputStatus.textContent = state.output_status || '';
    els.output.textContent =
      state.output_status === 'valid' ? JSON.stringify(state.output, null, 2) : '—';
  }
  if (state.error_reason && state.status === 'error') showNotice(els, state.error_reason);
  renderEgress(els, state.egress || []);
  showResults(els, state.results || []);
  showFiles(els, state.files || []);
}

// Only the run's owner may turn an HTML result's scripts on (run_output.html says who).
function showResults(els, results) {
  els.resultsSection.hidden = results.length === 0;
  renderResults(els.results, results, { owner: 'owner' in els.results.dataset });
}

function showFiles(els, files) {
  els.filesSection.hidden = files.length === 0;
  renderFiles(els.files, files);
}

const cell = (text, className) => {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
};

// The run's requests through its egress proxy: what went out, and what was refused why.
export function renderEgress(els, entries) {
  els.egress.textContent = '';
  els.egressSection.hidden = entries.length === 0;
  for (const e of entries) {
    const row = document.createElement('tr');
    const port = [80, 443].includes(e.port) ? '' : `:${e.port}`;
    row.append(
      cell(`${e.method} ${e.host}${port}${e.path}`, 'wrap'),
      cell(e.refused ? `refused: ${e.refused}` : String(e.status ?? '—'), e.refused ? 'refused' : ''),
      cell(`${e.bytes_sent} B`),
      cell(`${e.bytes_received} B`),
      cell(`${e.duration_ms} ms`),
      cell(e.credential_added ? 'added' : '—'),
    );
    els.egress.append(row);
  }
}

// Watch a run. Resolves with the final state when the run is over or the socket closes.
export function watch(executionId, els, { onLine, onSocket } = {}) {
  return new Promise((resolve) => {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/ws/executions/${executionId}`);
    let state = null;
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        resolve(state);
      }
    };
    if (onSocket) onSocket(socket);
    socket.addEventListener('message', (message) => {
      const event = JSON.parse(message.data);
      if (event.type === 'snapshot' || event.type === 'finished') {
        state = event.execution;
        renderState(els, state, onLine);
        if (isFinished(state.status)) {
          socket.close();
          finish();
        }
      } else if (event.type === 'status') {
        if (state) state.status = event.status;
        showStatus(els, event.status);
      } else if (event.type === 'stdout') {
        els.stdout.append(event.text);
        if (state) state.stdout += event.text;
      } else if (event.type === 'stderr') {
        els.stderr.append(event.text);
        if (state) state.stderr += event.text;
      } else if (event.type === 'error') {
        showNotice(els, event.message);
      }
    });
    socket.addEventListener('close', (event) => {
      if (!done && event.code >= 4000) showNotice(els, event.reason || 'The server closed the stream.');
      finish();
    });
  });
}

// The notebook page: cells run in turn in one session (Shift-Enter runs one and moves
// on), each streaming its output live beneath it; cells added and deleted; the session
// interrupted, restarted or ended. Its requests are the page's own (page-requests.js).
import { Cell, followIfGoing } from './notebook-cells.js';
import { sendJson, errorMessage } from './page-requests.js';
import { setUpSession } from './notebook-session.js';

const $ = (id) => document.getElementById(id);
// The cells' order and code are saved this long after the last change.
const SAVE_AFTER_MS = 800;
const data = JSON.parse($('notebook-data').textContent);
const list = $('cells');
const cells = [];
const queue = []; // cells waiting for the one running
let notebookId = data?.id ?? null;
let current = null; // {cell}: the cell running now
let saveTimer = null;
let saving = null; // the save on its way
let unsaved = false; // changed while it was

const languageSelect = $('language');
const language = () => data?.language ?? languageSelect.value;
function editorMode() {
  const option = languageSelect?.selectedOptions[0];
  return option ? option.dataset.mode : list.dataset.mode;
}

const session = setUpSession({ notebookId: () => notebookId, running: () => current !== null });

function notice(message) {
  $('notebook-notice').textContent = message || '';
  $('notebook-notice').hidden = !message;
}

// Ids of the page's own making: letters and digits (the server checks), random enough
// that two cells never share one.
function newCellId() {
  return [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// --- cells ---------------------------------------------------------------------------
function addCell({ id = newCellId(), code = '', execution = null, after = null, focus = false } = {}) {
  const cell = new Cell({
    id,
    code,
    editorMode: editorMode(),
    owner: true,
    keys: { run, runAndNext },
    onChange: () => changed(),
  });
  cell.part('run').addEventListener('click', () => run(cell));
  cell.part('delete').addEventListener('click', () => remove(cell));
  const index = after ? cells.indexOf(after) + 1 : cells.length;
  cells.splice(index, 0, cell);
  list.insertBefore(cell.root, cells[index + 1]?.root ?? null);
  renumber();
  if (execution) cell.show(execution);
  if (focus) cell.view.focus();
  return cell;
}

function renumber() {
  cells.forEach((cell, index) => cell.number(index + 1));
}

function remove(cell) {
  if (current?.cell === cell) return;
  dequeue(cell);
  const index = cells.indexOf(cell);
  cells.splice(index, 1);
  cell.destroy();
  renumber();
  const next = cells[index] ?? cells[index - 1];
  if (next) next.view.focus();
  else $('add-cell').focus();
  changed({ now: true });
}

// A change of code is saved once typing pauses; one of order (a cell added or deleted)
// at once. One save at a time: a change meanwhile is saved after it.
function changed({ now = false } = {}) {
  clearTimeout(saveTimer);
  saveTimer = now ? null : setTimeout(save, SAVE_AFTER_MS);
  if (now) save();
}

function cellsBody() {
  return { cells: cells.map((cell) => ({ id: cell.id, code: cell.code })) };
}

async function save({ keepalive = false } = {}) {
  clearTimeout(saveTimer);
  saveTimer = null;
  if (!notebookId) return;
  if (saving) {
    unsaved = true;
    return;
  }
  saving = sendJson(`/notebook/${notebookId}/cells`, { body: cellsBody(), keepalive });
  const answer = await saving;
  saving = null;
  if (!answer.ok) notice(`The cells could not be saved: ${errorMessage(answer, 'refused')}`);
  if (unsaved) {
    unsaved = false;
    await save();
  }
}

// --- running -------------------------------------------------------------------------
function run(cell) {
  if (current?.cell === cell || queue.includes(cell)) return;
  if (list.dataset.canRun !== 'true') {
    notice('Sign in to run code.');
    return;
  }
  queue.push(cell);
  cell.queue();
  pump();
}

function runAndNext(cell) {
  run(cell);
  let next = cells[cells.indexOf(cell) + 1];
  if (!next) {
    next = addCell({ after: cell });
    changed({ now: true });
  }
  next.view.focus();
}

function dequeue(cell) {
  const index = queue.indexOf(cell);
  if (index >= 0) queue.splice(index, 1);
}

function cancelQueue() {
  for (const cell of queue.splice(0)) cell.unqueue();
}

async function pump() {
  if (current || queue.length === 0) return;
  const cell = queue.shift();
  current = { cell };
  cell.setRunning(true);
  try {
    await runNow(cell);
  } finally {
    cell.setRunning(false);
    current = null;
    await session.refresh();
    pump();
  }
}

async function runNow(cell) {
  cell.starting();
  session.busy();
  const refusal = await ensureNotebook();
  if (refusal) {
    cell.refused(refusal);
    cancelQueue();
    return;
  }
  const answer = await sendJson(`/notebook/${notebookId}/run`, { body: { cell: cell.id, code: cell.code } });
  if (!answer.ok) {
    const code = answer.body?.error?.code;
    cell.refused(errorMessage(answer, 'The cell was refused'));
    if (code === 'session_ended') notice('The session has ended: Restart opens a new one, and your cells stay.');
    cancelQueue();
    return;
  }
  notice('');
  await cell.follow(answer.body.id);
}

// A new notebook is made, with its session, when its first cell runs; why not, if not.
async function ensureNotebook() {
  if (notebookId) return null;
  const answer = await sendJson('/notebooks', { body: { language: language(), ...cellsBody() } });
  if (!answer.ok) {
    const refusal = errorMessage(answer, 'The notebook could not be made');
    notice(refusal);
    session.show(null, { busy: false });
    return refusal;
  }
  notebookId = answer.body.id;
  history.replaceState(null, '', `/notebook/${notebookId}`);
  save(); // cells added while it was being made
  const link = $('notebook-permalink');
  link.href = answer.body.permalink;
  link.hidden = false;
  if (languageSelect) languageSelect.disabled = true; // the session's language, from now on
  session.show(answer.body.session, { busy: true });
  return null;
}

// --- the session's controls ----------------------------------------------------------
async function interrupt() {
  cancelQueue();
  if (!notebookId) return;
  const answer = await sendJson(`/notebook/${notebookId}/interrupt`);
  if (!answer.ok) notice(errorMessage(answer, 'The cell could not be interrupted'));
}

async function restart() {
  if (!notebookId) return;
  cancelQueue();
  await save();
  $('restart').disabled = true;
  const answer = await sendJson(`/notebook/${notebookId}/restart`);
  if (!answer.ok) {
    notice(errorMessage(answer, 'The session could not be restarted'));
    await session.refresh();
    return;
  }
  notice('');
  for (const cell of cells) if (current?.cell !== cell) cell.reset();
  session.show(answer.body.session);
  cells[0]?.view.focus();
}

async function endSession() {
  if (!notebookId) return;
  cancelQueue();
  const answer = await sendJson(`/notebook/${notebookId}/end`);
  if (!answer.ok) notice(errorMessage(answer, 'The session could not be ended'));
  else session.show(answer.body.session, { busy: false });
}

$('add-cell').addEventListener('click', () => {
  addCell({ focus: true });
  changed({ now: true });
});
$('interrupt').addEventListener('click', interrupt);
$('restart').addEventListener('click', restart);
$('end-session').addEventListener('click', endSession);
languageSelect?.addEventListener('change', () => {
  for (const cell of cells) cell.setEditorMode(editorMode());
});
// What the page has not saved yet goes as it closes.
window.addEventListener('pagehide', () => { if (saveTimer) save({ keepalive: true }); });

// --- the notebook as it was kept -----------------------------------------------------
if (data) {
  for (const kept of data.cells) addCell({ id: kept.id, code: kept.code, execution: kept.execution });
  session.show(data.session);
  // A cell still running (the page was reloaded): follow it to its end.
  for (const cell of cells) {
    const going = followIfGoing(cell);
    if (going) going.then(() => session.refresh());
  }
} else {
  session.show(null);
}
if (cells.length === 0) addCell();

// For the tests, as the editor page's window.sandpit.
window.sandpitNotebook = {
  count: () => cells.length,
  codes: () => cells.map((cell) => cell.code),
  saved: () => saveTimer === null && saving === null,
  setCode: (index, text) => cells[index].setCode(text),
  focus: (index) => cells[index].view.focus(),
};

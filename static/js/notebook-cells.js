// A notebook's cells, shared by its page and its read-only permalink: each is cloned
// from the page's #cell-template, holds its code in a CodeMirror editor, and shows the
// call that last ran it beneath, as a run shows (run-view.js: its status, stdout,
// display() results through results.js, and stderr), live over the call's WebSocket.
import {
  basicSetup, Compartment, EditorState, EditorView, keymap, indentWithTab,
} from '../vendor/codemirror.js';
import { highlightFor } from './highlight.js';
import { modeFor } from './modes.js';
import { clear, isFinished, renderState, showNotice, showStatus, watch } from './run-view.js';

const dark = window.matchMedia('(prefers-color-scheme: dark)');
const themeFor = () => highlightFor(dark.matches);
const views = new Set();
dark.addEventListener('change', () => {
  for (const cell of views) cell.view.dispatch({ effects: cell.theme.reconfigure(themeFor()) });
});

// What renderState writes that a cell never shows: a function's output, a run's HTTP
// requests (a notebook's session has no http.allow) and kept files (cells keep none).
const spare = (tag = 'div') => document.createElement(tag);

function cellElements(part, owner) {
  const results = part('results');
  // Only the owner may turn an HTML result's scripts on (results.js reads this).
  if (owner) results.dataset.owner = '';
  return {
    status: part('status'),
    meta: part('meta'),
    notice: part('notice'),
    stdout: part('stdout'),
    stderr: part('stderr'),
    permalink: part('permalink'),
    resultsSection: results,
    results,
    output: spare('pre'),
    outputSection: spare(),
    outputStatus: spare('span'),
    egressSection: spare(),
    egress: spare('tbody'),
    filesSection: spare(),
    files: spare('ul'),
  };
}

export class Cell {
  // keys: {run(cell), runAndNext(cell)} for an editable cell; none for a read-only one.
  constructor({ id, code, editorMode, owner, keys = null, onChange = null }) {
    this.id = id;
    this.owner = owner;
    this.state = null; // the state of the call it shows
    this.root = document.getElementById('cell-template').content.firstElementChild.cloneNode(true);
    this.els = cellElements((name) => this.part(name), owner);
    this.mode = new Compartment();
    this.theme = new Compartment();
    this.label = new Compartment();
    const extensions = [
      // Before basicSetup: its keymap binds Mod-Enter, and the earlier binding wins.
      keys ? keymap.of([
        { key: 'Shift-Enter', run: () => { keys.runAndNext(this); return true; } },
        { key: 'Mod-Enter', run: () => { keys.run(this); return true; } },
        indentWithTab,
      ]) : [],
      basicSetup,
      this.mode.of(modeFor(editorMode)),
      this.theme.of(themeFor()),
      this.label.of([]),
      // Long lines wrap (no sideways scrolling on a phone), and the content is focusable
      // though read-only, so keyboards reach and scroll it.
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ tabindex: '0' }),
      keys ? [] : [EditorState.readOnly.of(true), EditorView.editable.of(false)],
      onChange ? EditorView.updateListener.of((update) => { if (update.docChanged) onChange(this); }) : [],
    ];
    this.view = new EditorView({
      parent: this.part('editor'),
      state: EditorState.create({ doc: code, extensions }),
    });
    views.add(this);
    if (!keys) {
      this.part('run').remove();
      this.part('delete').remove();
    }
  }

  part(name) {
    return this.root.querySelector(`[data-part="${name}"]`);
  }

  get code() {
    return this.view.state.doc.toString();
  }

  setCode(text) {
    this.view.dispatch({ changes: { from: 0, to: this.view.state.doc.length, insert: text } });
  }

  setEditorMode(editorMode) {
    this.view.dispatch({ effects: this.mode.reconfigure(modeFor(editorMode)) });
  }

  // Its place in the notebook, in its heading and in its controls' names.
  number(n) {
    this.part('title').textContent = `Cell ${n}`;
    for (const name of ['run-name', 'delete-name']) {
      const hidden = this.part(name);
      if (hidden) hidden.textContent = ` cell ${n}`;
    }
    this.els.stdout.setAttribute('aria-label', `Output of cell ${n}`);
    this.els.stderr.setAttribute('aria-label', `Errors of cell ${n}`);
    this.els.results.setAttribute('aria-label', `Results of cell ${n}`);
    const label = EditorView.contentAttributes.of({ 'aria-label': `Code of cell ${n}` });
    this.view.dispatch({ effects: this.label.reconfigure(label) });
  }

  // The call's state, as a run's, with what a session call adds: what it raised.
  show(state) {
    this.state = state;
    renderState(this.els, state, null);
    this.els.permalink.hidden = !(this.owner && state.id);
    if (state.id) this.els.permalink.href = `/e/${state.id}`;
    if (!isFinished(state.status)) return;
    // The exit code is in the meta beside it: the chip names what the code raised.
    const text = { failed: 'Failed', stopped: 'Interrupted' }[state.status];
    if (text) this.els.status.textContent = text;
    if (state.error?.name) this.els.status.textContent += ` · ${state.error.name}`;
  }

  // Never run, or its output gone with its session (a restart).
  reset() {
    this.state = null;
    clear(this.els);
    this.els.permalink.hidden = true;
    showStatus(this.els, 'idle');
    this.els.status.textContent = 'Not run';
  }

  // Waiting for the cells before it; back as it was if it never runs.
  queue() {
    showStatus(this.els, 'queued');
  }

  unqueue() {
    if (this.state) this.show(this.state);
    else this.reset();
  }

  starting() {
    clear(this.els);
    this.els.permalink.hidden = true;
    showStatus(this.els, 'submitting');
  }

  refused(message) {
    showStatus(this.els, 'error');
    this.els.status.textContent = 'Not run';
    showNotice(this.els, message);
  }

  // Watch its call until it ends (or the socket closes); the final state.
  async follow(executionId) {
    const state = await watch(executionId, this.els);
    if (state) this.show(state);
    return state;
  }

  setRunning(running) {
    this.root.classList.toggle('running', running);
    const button = this.part('delete');
    if (button) button.disabled = running;
  }

  destroy() {
    views.delete(this);
    this.view.destroy();
    this.root.remove();
  }
}

export function followIfGoing(cell) {
  if (cell.state && !isFinished(cell.state.status)) return cell.follow(cell.state.id);
  return null;
}

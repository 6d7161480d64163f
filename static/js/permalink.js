// A run's permalink: the code, read-only and highlighted, and its output, live if it is
// still going.
import { basicSetup, EditorView, EditorState, EditorSelection } from '../vendor/codemirror.js';
import { highlightFor } from './highlight.js';
import { modeFor } from './modes.js';
import { elements, isFinished, renderState, watch } from './run-view.js';

const els = elements();
const state = JSON.parse(document.getElementById('run-state').textContent);
const holder = document.getElementById('code');
const source = holder.textContent;
holder.textContent = '';
const view = new EditorView({
  parent: holder,
  state: EditorState.create({
    doc: source,
    extensions: [
      basicSetup,
      EditorState.readOnly.of(true),
      EditorView.editable.of(false),
      modeFor(holder.dataset.mode),
      highlightFor(window.matchMedia('(prefers-color-scheme: dark)').matches),
      // Focusable though read-only, so keyboards can reach and scroll the code.
      EditorView.contentAttributes.of({ 'aria-label': 'Code', tabindex: '0' }),
      EditorView.lineWrapping,
    ],
  }),
});

function moveTo(line) {
  const target = view.state.doc.line(Math.min(Math.max(line, 1), view.state.doc.lines));
  view.dispatch({ selection: EditorSelection.cursor(target.from), scrollIntoView: true });
  view.focus();
}

renderState(els, state, moveTo);
if (!isFinished(state.status)) {
  const stop = document.getElementById('stop');
  watch(state.id, els, {
    onLine: moveTo,
    onSocket: (socket) => {
      if (!stop) return;
      stop.hidden = false;
      stop.addEventListener('click', () => socket.send(JSON.stringify({ type: 'stop' })));
      socket.addEventListener('close', () => { stop.hidden = true; });
    },
  });
}

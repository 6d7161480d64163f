// A notebook's permalink: its cells in order, read-only, each with the output of the
// call that last ran it; to its owner, a cell still running is followed to its end.
import { Cell, followIfGoing } from './notebook-cells.js';

const state = JSON.parse(document.getElementById('notebook-data').textContent);
const list = document.getElementById('cells');
const owner = 'owner' in list.dataset;

// An empty cell that never ran (the one Shift-Enter leaves at the end) shows nothing.
const shown = state.cells.filter((kept) => kept.code.trim() || kept.execution);
shown.forEach((kept, index) => {
  const cell = new Cell({ id: kept.id, code: kept.code, editorMode: list.dataset.mode, owner });
  list.append(cell.root);
  cell.number(index + 1);
  if (kept.execution) cell.show(kept.execution);
  // Its call's socket is its owner's (a shared notebook does not share its runs).
  if (owner) followIfGoing(cell);
});

// The notebook's session as its page shows it: ready, busy, paused or ended (the API's
// Session, playground/sessions/serializers.py), with what that means for the next cell,
// read again after each cell and now and then while the page is visible (a session
// idle past its idle_timeout pauses by itself).
import { sendJson } from './page-requests.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 15_000;
const TEXT = {
  none: 'No session yet',
  ready: 'Session ready',
  busy: 'Session busy',
  paused: 'Session paused',
  ended: 'Session ended',
};

function noteFor(session) {
  if (!session) return 'The first cell you run opens a session: each cell then runs in it, with the variables, imports and files of the cells before.';
  switch (session.status) {
    case 'busy':
      return 'A cell is running. Interrupt stops it and keeps the variables of the cells before.';
    case 'paused':
      return `Paused (${session.paused_reason || 'idle'}): its files are saved, and the next cell you run wakes it.`;
    case 'ended':
      return `Ended (${session.ended_reason || 'no reason given'}). Restart opens a new session; your cells stay.`;
    default:
      if (session.calls && session.state_kept === 'files') {
        return 'Woke from a pause with its files only: variables and imports are gone. Run the cells they came from again.';
      }
      return 'Each cell runs in this session, with the variables, imports and files of the cells before.';
  }
}

export function setUpSession({ notebookId, running }) {
  const chip = $('session-state');
  const note = $('session-note');
  let session = null;

  function show(next, { busy = running() } = {}) {
    session = next;
    const status = !session ? 'none' : busy && session.status !== 'ended' ? 'busy' : session.status;
    chip.textContent = TEXT[status] || status;
    chip.className = `status session-${status}`;
    if (session?.status === 'ended' && session.ended_reason) chip.title = session.ended_reason;
    else chip.removeAttribute('title');
    note.textContent = noteFor(session && { ...session, status });
    $('interrupt').disabled = status !== 'busy';
    $('restart').disabled = !notebookId();
    $('end-session').disabled = !session || status === 'ended';
  }

  async function refresh() {
    if (!notebookId()) return;
    const answer = await sendJson(`/notebook/${notebookId()}/session`, { method: 'GET' });
    if (answer.ok) show(answer.body.session);
  }

  setInterval(() => {
    if (document.visibilityState === 'visible' && !running()) refresh();
  }, POLL_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && !running()) refresh();
  });

  return {
    show,
    refresh,
    // The page's cell started: busy at once, before the server is asked.
    busy: () => show(session ? { ...session, status: 'ready' } : session, { busy: true }),
    current: () => session,
  };
}

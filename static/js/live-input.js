// Live input: while a run started with "Type into the run" goes, a line typed here
// reaches its stdin over the run's WebSocket, and End input closes it
// (playground/runs/messages.py: {"type": "stdin", "text"} and {"type": "stdin_end"}).
// The server takes it from the run's owner only; the editor is the owner's page.

const $ = (id) => document.getElementById(id);

export function setUpLiveInput() {
  const row = $('live-input');
  const line = $('live-line');
  let socket = null;

  const send = (message) => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  };
  const sendLine = () => {
    send({ type: 'stdin', text: `${line.value}\n` });
    line.value = '';
    line.focus();
  };
  const end = () => {
    send({ type: 'stdin_end' });
    stop();
  };
  const stop = () => {
    socket = null;
    row.hidden = true;
  };

  $('live-send').addEventListener('click', sendLine);
  $('live-end').addEventListener('click', end);
  line.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      sendLine();
    } else if (event.key === 'd' && event.ctrlKey) {
      event.preventDefault();
      end();
    }
  });

  return {
    // Whether the next run keeps its stdin open for typing.
    wanted: () => $('live-stdin').checked && !$('stdin-panel').hidden,
    start(runSocket) {
      socket = runSocket;
      row.hidden = false;
      line.focus();
    },
    stop,
  };
}

// The API keys page: copy a new key (a script file, not an inline handler: the pages'
// Content-Security-Policy runs no inline script).
import { copy } from './clipboard.js';

const button = document.getElementById('copy-key');
button?.addEventListener('click', async () => {
  const copied = await copy(document.getElementById('new-key').value);
  button.textContent = copied ? 'Copied' : 'Select and copy it';
});

// The editor page's ways out: Share beside a result, the API call dialog, and the
// keyboard shortcuts dialog.
import { apiCalls } from './api-call.js';
import { copy } from './clipboard.js';
import { showNotice } from './run-view.js';

const $ = (id) => document.getElementById(id);

export function setUpDialogs({ els, requestBody, checkInput, csrfToken }) {
  const share = $('share-run');
  const tabs = [...document.querySelectorAll('#api-dialog [role="tab"]')];
  let client = 'curl';

  // One click: the run becomes shared and its link goes to the clipboard.
  async function shareRun() {
    const response = await fetch(`/e/${share.dataset.id}/share`, {
      method: 'POST',
      headers: {
        Accept: 'application/json',
        'Content-Type': 'application/x-www-form-urlencoded',
        'X-CSRFToken': csrfToken(),
      },
      body: 'shared=1',
    }).catch(() => null);
    const body = await response?.json().catch(() => ({}));
    if (!response?.ok) {
      showNotice(els, body?.error?.message || 'The run could not be shared.');
      return;
    }
    const copied = await copy(body.permalink);
    share.textContent = copied ? 'Link copied' : 'Shared';
    if (!copied) showNotice(els, `Shared: ${body.permalink}`);
  }

  function showSnippet() {
    $('snippet').textContent = apiCalls(requestBody(), location.origin)[client];
    for (const tab of tabs) {
      const selected = tab.dataset.client === client;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
    }
    $('copy-state').textContent = '';
  }

  function openApiCall() {
    if (!checkInput()) {
      $('input-panel').open = true;
      return;
    }
    showSnippet();
    $('api-dialog').showModal();
  }

  for (const tab of tabs) {
    tab.addEventListener('click', () => { client = tab.dataset.client; showSnippet(); });
    tab.addEventListener('keydown', (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
      client = next.dataset.client;
      showSnippet();
      next.focus();
    });
  }
  $('copy-snippet').addEventListener('click', async () => {
    const copied = await copy($('snippet').textContent);
    $('copy-state').textContent = copied ? 'Copied.' : 'Select the text and copy it.';
  });
  for (const dialog of document.querySelectorAll('dialog')) {
    dialog.querySelector('[data-close]').addEventListener('click', () => dialog.close());
  }
  share.addEventListener('click', shareRun);
  $('api-call').addEventListener('click', openApiCall);
  $('shortcuts').addEventListener('click', () => $('shortcuts-dialog').showModal());

  return {
    offerShare(id) {
      share.dataset.id = id;
      share.textContent = 'Share';
      share.hidden = false;
    },
    hideShare() { share.hidden = true; },
    showShortcuts() { $('shortcuts-dialog').showModal(); },
    open: () => document.querySelector('dialog[open]') !== null,
    typing: (target) => target.closest('input, textarea, select, [contenteditable="true"]') !== null,
  };
}

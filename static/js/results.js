// A run's display() results: Jupyter display_data bundles, each shown by its richest
// type, in order. Shared by the editor, the permalink and the tool pages.
//
// No tenant content ever runs in Sandpit's origin: pictures (SVG too) are <img> elements
// from data: URLs, which run no script; HTML goes into an iframe sandboxed with no
// same-origin and no scripts, and, when the run's owner turns a result's scripts on,
// into static/result-frame.html sandboxed with allow-scripts only (an opaque origin);
// Markdown is sanitised by DOMPurify before it becomes markup here.
import { Marked, DOMPurify } from '../vendor/markdown.js';
import { jsonTree } from './json-tree.js';

// Richest first. Pictures come before HTML: an object that offers both (a chart) shows
// completely as a picture, while its HTML may want the scripts that are off by default.
const PREFERENCE = [
  'image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/svg+xml',
  'text/html', 'text/markdown', 'application/json', 'application/pdf', 'text/latex', 'text/plain',
];
const PICTURES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
// An image's alt text is the bundle's text/plain, cut to this.
const ALT_MAX_CHARS = 200;
const FRAME_HOST = new URL('../result-frame.html', import.meta.url).href;

const markdown = new Marked({ gfm: true, async: false });
// Markup that Markdown never needs and that could dress up as Sandpit's own page.
const SANITISE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'option', 'iframe'],
  FORBID_ATTR: ['style'],
  SANITIZE_NAMED_PROPS: true,
  RETURN_DOM_FRAGMENT: true,
};
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.hasAttribute('href')) node.setAttribute('rel', 'noopener noreferrer nofollow');
});

export function richestType(data) {
  const found = PREFERENCE.find((mime) => mime in data);
  if (found) return found;
  return Object.keys(data).find((mime) => mime.endsWith('+json')) || Object.keys(data)[0];
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function altText(data, index, mime) {
  const plain = typeof data['text/plain'] === 'string' ? data['text/plain'].trim() : '';
  if (!plain) return `Result ${index + 1} (${mime})`;
  return plain.length > ALT_MAX_CHARS ? `${plain.slice(0, ALT_MAX_CHARS)}…` : plain;
}

// metadata: {mime: {width, height}}, as IPython's Image(width=...) gives.
function picture(src, alt, size) {
  const img = element('img', 'result-image');
  img.alt = alt;
  for (const side of ['width', 'height']) {
    if (Number.isInteger(size?.[side]) && size[side] > 0) img[side] = size[side];
  }
  img.src = src;
  return img;
}

function base64Bytes(value) {
  const binary = atob(value);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// An HTML result in a sandboxed iframe: no scripts, or (its owner's choice) scripts in
// an opaque origin. Never allow-same-origin, which would let it reach this page.
function htmlFrame(html, scripts) {
  const frame = element('iframe', 'result-frame');
  frame.title = scripts ? 'HTML result, scripts on' : 'HTML result';
  frame.dataset.testid = 'result-frame';
  if (scripts) {
    frame.setAttribute('sandbox', 'allow-scripts');
    // An srcdoc frame would inherit this page's policy, which runs no inline script; the
    // frame host has its own, and writes the HTML it is sent into itself.
    frame.addEventListener('load', () => frame.contentWindow.postMessage({ html }, '*'), { once: true });
    frame.src = FRAME_HOST;
  } else {
    frame.setAttribute('sandbox', '');
    frame.srcdoc = html;
  }
  return frame;
}

function htmlResult(html, owner) {
  const wrap = element('div', 'result-html');
  let frame = htmlFrame(html, false);
  if (owner) {
    const head = element('div', 'result-head');
    const toggle = element('button', 'button small', 'Run its scripts');
    toggle.type = 'button';
    toggle.dataset.testid = 'result-scripts';
    toggle.setAttribute('aria-pressed', 'false');
    toggle.title = 'Scripts run in a sandbox apart from Sandpit: they cannot reach this page, your account or its cookies';
    toggle.addEventListener('click', () => {
      const on = toggle.getAttribute('aria-pressed') !== 'true';
      const next = htmlFrame(html, on);
      frame.replaceWith(next);
      frame = next;
      toggle.setAttribute('aria-pressed', String(on));
      toggle.textContent = on ? 'Stop its scripts' : 'Run its scripts';
    });
    head.append(element('span', 'muted small-print', 'HTML, scripts off unless you run them'), toggle);
    wrap.append(head);
  }
  wrap.append(frame);
  return wrap;
}

function markdownResult(text, index) {
  let html;
  try {
    html = markdown.parse(text);
  } catch {
    return preformatted(text, `Result ${index + 1}`);
  }
  const box = element('div', 'result-markdown');
  box.append(DOMPurify.sanitize(html, SANITISE));
  return box;
}

function pdfResult(value, index) {
  const button = element('button', 'button small', `Download PDF (result ${index + 1})`);
  button.type = 'button';
  button.addEventListener('click', () => {
    // A download, never a page: the browser's PDF viewer would open it in this origin.
    const url = URL.createObjectURL(new Blob([base64Bytes(value)], { type: 'application/octet-stream' }));
    const link = element('a');
    link.href = url;
    link.download = `result-${index + 1}.pdf`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  });
  return button;
}

function preformatted(text, label) {
  const pre = element('pre', 'result-text', text);
  pre.tabIndex = 0;
  pre.setAttribute('aria-label', label);
  return pre;
}

function shown({ data, metadata }, mime, index, owner) {
  const value = data[mime];
  const alt = altText(data, index, mime);
  if (PICTURES.has(mime)) return picture(`data:${mime};base64,${value}`, alt, metadata?.[mime]);
  if (mime === 'image/svg+xml') {
    return picture(`data:image/svg+xml;charset=utf-8,${encodeURIComponent(value)}`, alt, metadata?.[mime]);
  }
  if (mime === 'text/html') return htmlResult(value, owner);
  if (mime === 'text/markdown') return markdownResult(value, index);
  if (mime === 'application/json' || mime.endsWith('+json')) return jsonTree(value, `Result ${index + 1}`);
  if (mime === 'application/pdf') return pdfResult(value, index);
  if (typeof value === 'string') return preformatted(value, `Result ${index + 1}`);
  return element('p', 'muted', `A result of type ${mime}, which this page does not show.`);
}

// Show the results in `list` (an <ol>), replacing what it held.
export function renderResults(list, results, { owner = false } = {}) {
  list.textContent = '';
  results.forEach((bundle, index) => {
    const data = bundle?.data || {};
    const mime = richestType(data);
    if (!mime) return;
    const item = element('li', 'result');
    item.dataset.testid = 'result';
    item.dataset.mime = mime;
    item.append(shown({ data, metadata: bundle.metadata }, mime, index, owner));
    list.append(item);
  });
}

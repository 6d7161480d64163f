// A tool's page: its code and input schema in CodeMirror (the schema checked as you
// type), and "Try it": a form made from the schema that runs the tool and shows the run.
import { basicSetup, Compartment, EditorView, EditorState, json } from '../vendor/codemirror.js';
import { modeFor } from './modes.js';
import { highlightFor } from './highlight.js';
import { clear, elements, showNotice, showStatus, watch } from './run-view.js';
import { csrfToken } from './page-requests.js';

const $ = (id) => document.getElementById(id);
const tool = JSON.parse($('tool-data').textContent);
const dark = window.matchMedia('(prefers-color-scheme: dark)').matches;
const SCHEMA_TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean', 'null']);
const EXAMPLE = 'def execute(input):\n    return {"hello": input.get("name", "world")}\n';

function editor(parent, doc, mode, label, onChange) {
  return new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        basicSetup, mode, highlightFor(dark), EditorView.lineWrapping,
        EditorView.contentAttributes.of({ 'aria-label': label, tabindex: '0' }),
        EditorView.updateListener.of((u) => { if (u.docChanged) onChange?.(); }),
      ],
    }),
  });
}

const modeOf = () => modeFor($('tool-language').selectedOptions[0]?.dataset.mode);
const codeMode = new Compartment();
const code = editor($('code-editor'), $('tool-code').value || tool?.code || EXAMPLE, codeMode.of(modeOf()), 'Code');
const schemaText = $('tool-schema').value
  || (tool && Object.keys(tool.input_schema || {}).length ? JSON.stringify(tool.input_schema, null, 2) : '');
const schema = editor($('schema-editor'), schemaText, json(), 'Input schema', checkSchema);
$('tool-language').addEventListener('change', () => {
  code.dispatch({ effects: codeMode.reconfigure(modeOf()) });
});

// What can be told without the server: JSON, an object, known types. The server checks
// the schema against its metaschema on save.
function schemaProblem(text) {
  if (!text.trim()) return '';
  let value;
  try { value = JSON.parse(text); } catch (error) { return `The schema is not JSON: ${error.message}`; }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'A schema is a JSON object.';
  const types = [].concat(value.type ?? []);
  const unknown = types.find((t) => !SCHEMA_TYPES.has(t));
  return unknown ? `"${unknown}" is not a JSON Schema type.` : '';
}

function checkSchema() {
  const problem = schemaProblem(schema.state.doc.toString());
  $('schema-error').textContent = problem;
  $('schema-error').hidden = !problem;
  return !problem;
}

$('tool-form').addEventListener('submit', (event) => {
  if (!checkSchema()) { event.preventDefault(); return; }
  $('tool-code').value = code.state.doc.toString();
  $('tool-schema').value = schema.state.doc.toString();
});
checkSchema();

// --- try it -------------------------------------------------------------------------
function field(name, spec, required) {
  const label = document.createElement('label');
  label.className = 'field';
  label.textContent = `${name}${required ? ' *' : ''} `;
  const kind = spec.type;
  let input;
  if (kind === 'boolean') {
    input = document.createElement('input');
    input.type = 'checkbox';
  } else if (Array.isArray(spec.enum)) {
    input = document.createElement('select');
    for (const value of spec.enum) input.add(new Option(String(value), JSON.stringify(value)));
  } else if (kind === 'string' || kind === 'number' || kind === 'integer') {
    input = document.createElement('input');
    input.type = kind === 'string' ? 'text' : 'number';
  } else {
    input = document.createElement('textarea');
    input.rows = 2;
    input.placeholder = 'JSON';
  }
  input.dataset.name = name;
  input.dataset.kind = Array.isArray(spec.enum) ? 'enum' : kind || 'json';
  if (spec.description) input.title = spec.description;
  input.addEventListener('input', () => { $('try-input').value = JSON.stringify(formInput(), null, 2); });
  input.addEventListener('change', () => { $('try-input').value = JSON.stringify(formInput(), null, 2); });
  label.append(input);
  return label;
}

function formInput() {
  const value = {};
  for (const input of $('try-fields').querySelectorAll('[data-name]')) {
    const { name, kind } = input.dataset;
    if (kind === 'boolean') value[name] = input.checked;
    else if (input.value === '') continue;
    else if (kind === 'number' || kind === 'integer') value[name] = Number(input.value);
    else if (kind === 'enum') value[name] = JSON.parse(input.value);
    else if (kind === 'string') value[name] = input.value;
    else { try { value[name] = JSON.parse(input.value); } catch { value[name] = input.value; } }
  }
  return value;
}

if (tool) {
  const properties = tool.input_schema?.properties || {};
  const required = new Set(tool.input_schema?.required || []);
  for (const [name, spec] of Object.entries(properties)) $('try-fields').append(field(name, spec, required.has(name)));
  $('try-input').value = JSON.stringify(formInput(), null, 2);
  const els = elements();
  $('try-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    let input;
    try {
      const text = $('try-input').value.trim();
      input = text ? JSON.parse(text) : null;
      $('try-error').hidden = true;
    } catch (error) {
      $('try-error').textContent = `The input is not JSON: ${error.message}`;
      $('try-error').hidden = false;
      return;
    }
    clear(els);
    showStatus(els, 'submitting');
    $('run').disabled = true;
    const response = await fetch(`/tools/${tool.id}/run`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken() },
      // Every file the tool's run writes comes back, as from the editor's runs.
      body: JSON.stringify({ input, revision_id: $('try-revision').value, output_files: ['**'] }),
    }).catch(() => null);
    const body = await response?.json().catch(() => ({}));
    if (!response?.ok) {
      showStatus(els, 'error');
      showNotice(els, body?.error?.message || 'The run was refused.');
      $('run').disabled = false;
      return;
    }
    els.permalink.href = body.permalink;
    els.permalink.hidden = false;
    await watch(body.id, els);
    $('run').disabled = false;
  });
}

// For the tests, as the editor page does.
window.sandpit = { code, schema };

// "Copy as API call": the editor's run as a curl command, a Python rizaio snippet and a
// JavaScript fetch snippet that make the same run against this server's /v1 API.
// The API key and env values come from the environment of whoever runs the snippet;
// the values typed in the editor never appear in it.

const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// A value from the environment, written the way each language reads one.
class FromEnv {
  constructor(name) { this.name = name; }
}

// The secret part of each http.allow credential kind.
const SECRETS = { bearer: 'token', basic: 'password', header: 'value', query: 'value' };

function request(body) {
  const { mode, ...fields } = body;
  if (fields.env) {
    fields.env = Object.fromEntries(Object.keys(fields.env).map((name) => [name, new FromEnv(name)]));
  }
  if (fields.http?.allow) {
    // Credentials too come from the environment: HTTP_AUTH_1 for the first rule, and so on.
    const allow = fields.http.allow.map((rule, i) => {
      const [kind] = Object.keys(rule.auth || {});
      if (!kind) return rule;
      const auth = { ...rule.auth[kind], [SECRETS[kind]]: new FromEnv(`HTTP_AUTH_${i + 1}`) };
      return { ...rule, auth: { [kind]: auth } };
    });
    fields.http = { allow };
  }
  return { path: mode === 'function' ? '/v1/execute-function' : '/v1/execute', mode, fields };
}

// JSON, with each env value written by `write(name)`.
function jsonWith(value, write, indent = '') {
  const inner = `${indent}  `;
  if (value instanceof FromEnv) return write(value.name);
  if (Array.isArray(value)) {
    if (!value.length) return '[]';
    return `[\n${value.map((v) => inner + jsonWith(v, write, inner)).join(',\n')}\n${indent}]`;
  }
  if (value && typeof value === 'object') {
    const entries = Object.entries(value);
    if (!entries.length) return '{}';
    const lines = entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${jsonWith(v, write, inner)}`);
    return `{\n${lines.join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}

// A Python literal: JSON's strings are Python's; true, false and null are not.
function python(value, indent = '') {
  const inner = `${indent}    `;
  if (value instanceof FromEnv) return `os.environ[${JSON.stringify(value.name)}]`;
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (Array.isArray(value)) {
    if (!value.length) return '[]';
    return `[\n${value.map((v) => `${inner}${python(v, inner)},`).join('\n')}\n${indent}]`;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value);
    if (!entries.length) return '{}';
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${python(v, inner)},`).join('\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}

function curl({ path, fields }, origin) {
  const names = [];
  // Each env value is a marker no JSON text can hold (a raw NUL: JSON escapes it) until
  // the rest is escaped for an unquoted heredoc, which then expands the ${NAME} it becomes.
  const body = jsonWith(fields, (name) => {
    names.push(name);
    return SHELL_NAME.test(name) ? `"\0${name}\0"` : `"<${name}>"`;
  });
  const escaped = body
    .replace(/\\/g, '\\\\')
    .replace(/`/g, '\\`')
    .replace(/\$/g, '\\$')
    .replace(/\0(\w+)\0/g, (_, name) => `\${${name}}`);
  const note = names.length ? `# env values come from your shell: ${names.join(', ')}\n` : '';
  return `${note}curl -sS ${origin}${path} \\
  -H "Authorization: Bearer $SANDPIT_API_KEY" \\
  -H "Content-Type: application/json" \\
  --data-binary @- <<EOF
${escaped}
EOF
`;
}

function rizaio({ mode, fields }, origin) {
  const args = Object.entries(fields)
    .map(([key, value]) => `    ${key}=${python(value, '    ')},`)
    .join('\n');
  const call = mode === 'function' ? 'exec_func' : 'exec';
  const show = mode === 'function'
    ? 'print(response.output_status, response.output)\nprint(response.execution.stdout, end="")'
    : 'print(response.stdout, end="")';
  return `import os

import rizaio  # pip install rizaio

client = rizaio.Riza(api_key=os.environ["SANDPIT_API_KEY"], base_url=${JSON.stringify(origin)})
response = client.command.${call}(
${args}
)
${show}
`;
}

function fetchSnippet({ path, fields }, origin) {
  const body = jsonWith(fields, (name) => `process.env[${JSON.stringify(name)}]`, '  ');
  return `// Node 18 or later, as an ES module (node run.mjs)
const response = await fetch(${JSON.stringify(origin + path)}, {
  method: 'POST',
  headers: {
    Authorization: \`Bearer \${process.env.SANDPIT_API_KEY}\`,
    'Content-Type': 'application/json',
  },
  body: JSON.stringify(${body}),
});
console.log(JSON.stringify(await response.json(), null, 2));
`;
}

export function apiCalls(body, origin) {
  const call = request(body);
  return { curl: curl(call, origin), python: rizaio(call, origin), javascript: fetchSnippet(call, origin) };
}

'use strict';
// Sandpit's Node worker for JavaScript and TypeScript: loaded before any job exists,
// then runs exactly one, or a session's cells one after another (repl.js). The job arrives on the descriptor named by argv[2] (a 4-byte
// length, then JSON); a function's result leaves on argv[3], which console.log never
// reaches; display() results leave on argv[4] (a 4-byte length, then JSON each), a
// channel of their own that the supervisor checks. The code runs in this very process,
// so a run costs no Node start-up.
//
// Both languages go through Sucrase: TypeScript loses its types, and ES module syntax
// (import / export) becomes CommonJS, so `require` and `import` both work. The code is
// the body of an async function, so top-level `await` works too. Line numbers are kept.
//
// The base image runs it from a V8 startup snapshot (`--build-snapshot`, see the
// Dockerfile): Node starts with Sucrase already loaded and warmed, which halves the CPU a
// JavaScript container costs before its run. Without a snapshot it loads them itself.

const fs = require('fs');
const path = require('path');
const v8 = require('v8');

const SUCRASE = path.join(__dirname, 'vendor', 'sucrase.js');
// Set by main(): the job's, the result's and display's descriptors are the last three
// arguments, with or without a script among them; the work folder is where the run starts.
let jobFd;
let resultFd;
let displayFd;
let WORK_DIR;
let vm;
let Module;
let transform;

// A snapshot's builder may require Node's own modules only, so the bundle is evaluated
// as CommonJS by hand; it requires nothing itself.
function loadSucrase() {
  const source = fs.readFileSync(SUCRASE, 'utf8');
  const module = { exports: {} };
  new Function('exports', 'require', 'module', source)(module.exports, require, module);
  transform = module.exports.transform;
}

function writeAll(fd, text) {
  const data = typeof text === 'string' ? Buffer.from(text) : text;
  let offset = 0;
  while (offset < data.length) offset += fs.writeSync(fd, data, offset);
}

function readExactly(fd, size) {
  const data = Buffer.alloc(size);
  let offset = 0;
  while (offset < size) {
    let n;
    try {
      n = fs.readSync(fd, data, offset, size - offset, null);
    } catch (err) {
      if (err.code === 'EAGAIN') continue;
      throw err;
    }
    if (n === 0) throw new Error('the job pipe closed early');
    offset += n;
  }
  return data;
}

// The job: a 4-byte length, then JSON. A session's cells follow it on the same pipe.
function readJob() {
  const length = readExactly(jobFd, 4).readUInt32BE(0);
  return JSON.parse(readExactly(jobFd, length).toString('utf8'));
}

function prepare(job) {
  for (const file of job.files || []) {
    const target = path.join(WORK_DIR, file.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    // base64 for binary files (checked by the engine), UTF-8 text otherwise.
    fs.writeFileSync(target, file.encoding === 'base64' ? Buffer.from(file.contents, 'base64') : file.contents);
  }
  Object.assign(process.env, job.env || {});
  // A run with http.allow may reach the network through its egress proxy, and only so.
  // From a snapshot, `require` knows Node's own modules only: load ours by path.
  if (job.egress) Module.createRequire(__filename)('./egress.js').openEgress();
}

// Sucrase's parse errors carry its own stack; say instead where the code is wrong, as
// Node does for its own syntax errors: the file and line, the line, a caret.
function transformOrExplain(code, transforms, filename, options = {}) {
  try {
    return transform(code, { transforms, filePath: filename, ...options }).code;
  } catch (err) {
    const where = /\((\d+):(\d+)\)\s*$/.exec(String(err.message));
    const message = String(err.message).replace(/^Error transforming [^:]*: /, '');
    const error = new SyntaxError(message);
    if (where) {
      const line = Number(where[1]);
      const column = Number(where[2]);
      const text = code.split('\n')[line - 1] || '';
      error.stack = `${filename}:${line}\n${text}\n${' '.repeat(column)}^\n\nSyntaxError: ${message}`;
    } else {
      error.stack = `SyntaxError: ${message}`;
    }
    throw error;
  }
}

function compile(job) {
  const typescript = job.language === 'typescript';
  const filename = path.join(WORK_DIR, typescript ? 'main.ts' : 'main.js');
  const transforms = typescript ? ['typescript', 'imports'] : ['imports'];
  const source = transformOrExplain(job.code, transforms, filename);
  // The wrapper opens on the code's first line and closes after its last, so the
  // code's line numbers are the file's. The last line hands `execute` out, whether it
  // was declared, assigned or exported.
  const wrapped =
    '(async function (exports, require, module, __filename, __dirname) {' +
    source +
    '\n;return typeof execute === "function" ? execute : module.exports.execute;\n})';
  const fn = vm.runInThisContext(wrapped, { filename });
  const userModule = new Module(filename, null);
  userModule.filename = filename;
  userModule.paths = Module._nodeModulePaths(WORK_DIR);
  const userRequire = Module.createRequire(filename);
  return () => fn.call(userModule.exports, userModule.exports, userRequire, userModule, filename, WORK_DIR);
}

function userStack(err) {
  if (!(err instanceof Error) || typeof err.stack !== 'string') {
    return 'Uncaught ' + String(err);
  }
  return err.stack
    .split('\n')
    .filter((line) => !line.includes(__filename) && !line.includes('node:vm'))
    .join('\n');
}

function oneLine(err) {
  if (err instanceof Error) return `${err.name}: ${err.message}`.split('\n')[0];
  return `Uncaught ${String(err)}`.split('\n')[0];
}

function serialise(value) {
  if (value === undefined) return { status: 'valid', output: 'null' };
  try {
    const output = JSON.stringify(value);
    if (output === undefined) {
      return { status: 'json_serialization_error', error: `a ${typeof value} is not JSON` };
    }
    return { status: 'valid', output };
  } catch (err) {
    return { status: 'json_serialization_error', error: oneLine(err) };
  }
}

// display(value): a Jupyter display_data bundle, as Deno makes one. A value with a
// [Symbol.for('Jupyter.display')]() method gives its bundle; a plain object whose keys
// are all mime types is one; anything else is text/plain (and application/json when
// it serialises). Sent on the display descriptor; the supervisor checks every bundle.
const JUPYTER_DISPLAY = Symbol.for('Jupyter.display');

function isMimeBundle(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((key) => /^[a-z]+\/[^\s/]+$/.test(key));
}

function bundleOf(value) {
  if (value !== null && value !== undefined && typeof value[JUPYTER_DISPLAY] === 'function') {
    return value[JUPYTER_DISPLAY]();
  }
  if (isMimeBundle(value)) return value;
  const data = { 'text/plain': require('util').inspect(value) };
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) data['application/json'] = JSON.parse(json);
  } catch {}
  return data;
}

function sendBundle(data) {
  if (!isMimeBundle(data)) {
    process.stderr.write('display: a Jupyter.display method must return a mime bundle\n');
    return;
  }
  const body = Buffer.from(JSON.stringify({ data, metadata: {} }));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length, 0);
  writeAll(displayFd, Buffer.concat([length, body]));
}

function display(...values) {
  const pending = [];
  for (const value of values) {
    const data = bundleOf(value);
    if (data && typeof data.then === 'function') pending.push(data.then(sendBundle));
    else sendBundle(data);
  }
  return pending.length ? Promise.all(pending).then(() => undefined) : undefined;
}

// The result, with the exit status the run ends with: a 4-byte length, then JSON.
function sendResult(result, exitCode) {
  const body = Buffer.from(JSON.stringify({ ...result, exit_code: exitCode }));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length, 0);
  writeAll(resultFd, Buffer.concat([length, body]));
}

async function runFunction(job) {
  let result;
  try {
    const execute = await compile(job)();
    if (typeof execute !== 'function') {
      throw new ReferenceError("the code defines no function named 'execute'; define execute(input)");
    }
    result = serialise(await execute(job.input === undefined ? null : job.input));
  } catch (err) {
    process.stderr.write(userStack(err) + '\n');
    sendResult({ status: 'error', error: oneLine(err) }, 1);
    process.exit(1);
  }
  sendResult(result, 0);
  process.exit(0);
}

async function runScript(job) {
  // A script's exit status is the process's own, as the supervisor sees it: the result
  // channel closes before the code runs, so the code cannot forge one.
  fs.closeSync(resultFd);
  process.argv = [process.argv[0], job.language === 'typescript' ? 'main.ts' : 'main.js', ...(job.args || [])];
  try {
    await compile(job)();
  } catch (err) {
    process.stderr.write(userStack(err) + '\n');
    process.exitCode = 1;
  }
}

// Take the first-use costs now, before any job: Sucrase's parser is far slower on its
// first calls than once warm. Part of the snapshot when there is one.
function warmSucrase() {
  const sample =
    'import fs from "fs";\nenum E { A, B }\ninterface I { x: number }\n' +
    'export async function execute<T>(input: I): Promise<number> { const y: T | null = null; return input.x + E.B; }\n';
  for (let i = 0; i < 5; i++) {
    transform(sample, { transforms: ['typescript', 'imports'], filePath: 'warm.ts' });
    transform('const a = [1, 2].map((x) => x * 2); export default a;\n', { transforms: ['imports'], filePath: 'warm.js' });
  }
}

// What cannot be in a snapshot (streams on this process's descriptors) or is not yet
// verified there (vm): warmed in the process that runs the job.
function warmProcess() {
  // console.log builds its streams and its formatter on first use: build them now.
  void process.stdout;
  void process.stderr;
  require('util').format('%s %d %o', 'a', 1, { a: [1, 'b'] });
  vm.runInThisContext('(async function () { return JSON.stringify({ a: [1, 1.5, null] }); })', { filename: 'warm.js' });
}

function main() {
  // The supervisor passes three descriptors after the worker's own arguments.
  [jobFd, resultFd, displayFd] = process.argv.slice(-3).map(Number);
  WORK_DIR = process.cwd();
  vm = require('vm');
  Module = require('module');
  warmProcess();
  try {
    fs.writeFileSync('/proc/self/oom_score_adj', '1000');
  } catch {}
  writeAll(resultFd, 'R');
  const job = readJob();
  globalThis.display = display;
  if (job.kind === 'session') {
    // Cells, one after another, until the session ends: repl.js, loaded by path.
    const repl = Module.createRequire(__filename)('./repl.js');
    repl.serve(job, { jobFd, resultFd, workDir: WORK_DIR, prepare, transformOrExplain, display, userStack });
    return;
  }
  fs.closeSync(jobFd);
  prepare(job);
  process.on('unhandledRejection', (err) => {
    process.stderr.write(userStack(err) + '\n');
    process.exit(1);
  });
  if (job.kind === 'function') runFunction(job);
  else runScript(job);
}

loadSucrase();
warmSucrase();
if (v8.startupSnapshot.isBuildingSnapshot()) {
  v8.startupSnapshot.setDeserializeMainFunction(main);
} else {
  main();
}

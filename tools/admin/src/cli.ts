import { ConfigError, ProjectionRegistration } from '@im/service-kit';
import { parseArgs } from 'node:util';
import { resetCheckpoints } from './checkpoints';
import { AdminContext } from './context';
import { deadLetters, replayDeadLetters, showDeadLetter } from './dlq';
import { consumerLag } from './lag';
import { AdminError, planRebuild, rebuild, watchRebuild } from './rebuild';
import { formatTable } from './table';

const USAGE = `Usage: npm run admin -- <command> [options]

  lag [--group G] [--all] [--json]
      Consumer lag per group/topic/partition: partition end, offset committed on Kafka, offset
      applied per the checkpoints table, and what remains to apply. --all adds every consumer group.

  dead-letters list <topic> [--limit N] [--code CODE] [--key KEY] [--json]
      The latest N (default 50) dead letters of <topic> (or <topic>.dlq): key, error code, reason,
      source partition and offset, and whether the value was truncated to fit the DLQ topic.

  dead-letters show <topic> <partition>:<offset> [--json]
      One dead letter in full (its partition and offset in <topic>.dlq, as listed): every header,
      and the value as text; a truncated one with its original size and sha-256.

  dead-letters replay <topic> [--code CODE] [--key KEY] [--dry-run] [--json]
      Re-produces the dead letters of <topic> (all, or those with CODE / KEY) to their source topic with
      their original key, value and headers, minus the x-dlq-* headers. Truncated dead letters are
      not the original record and are never replayed (they are counted as skipped).

  dlq is short for dead-letters.

  rebuild <service> <group> [--tables t1,t2|none] [--no-wait] [--json]
      Stop-the-world rebuild of one projection from offset 0. Stop every instance of <service>
      first. Truncates the projection's registered tables, resets its position columns, deletes
      the group's checkpoints and resets its Kafka offsets to the earliest; then waits, with a
      progress bar, while the restarted service catches up (--no-wait to return at once).

  checkpoints reset <service> <group> [--json]
      Forgets the stored positions of a command consumer group (e.g. after the service was pointed
      at another Kafka cluster and halted with "checkpoint ... does not belong to this Kafka
      cluster"). The group then reads its topic from the start; commands applied before are
      recognised by id. Projections are reset with rebuild instead.

Connection settings come from the same variables as the services: DATABASE_URL, KAFKA_BROKERS,
KAFKA_SSL, KAFKA_SSL_CA_FILE, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD.
`;

export interface AdminRegistry {
  /** Database schema of every service (where its consumer_checkpoints table lives). */
  schemas: readonly string[];
  projections: readonly ProjectionRegistration[];
}

async function run(argv: string[], registry: AdminRegistry): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      group: { type: 'string' },
      all: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      limit: { type: 'string', default: '50' },
      code: { type: 'string' },
      key: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      tables: { type: 'string' },
      topics: { type: 'string' },
      'no-wait': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, sub, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const print = (rows: Record<string, unknown>[], columns: string[]) =>
    process.stdout.write(`${values.json ? JSON.stringify(rows, null, 2) : formatTable(rows, columns)}\n`);
  const interactive = Boolean(process.stderr.isTTY) || !values.json;

  const ctx = new AdminContext();
  try {
    if (command === 'lag') {
      const rows = await consumerLag(ctx, { schemas: registry.schemas, group: values.group, all: values.all });
      print(rows as unknown as Record<string, unknown>[], ['group', 'topic', 'partition', 'end', 'committed', 'checkpoint', 'lag']);
      return 0;
    }
    const deadLetterCommand = command === 'dlq' || command === 'dead-letters';
    if (deadLetterCommand && sub === 'show' && rest.length === 2) {
      const letter = await showDeadLetter(ctx, rest[0], rest[1]);
      if (values.json) process.stdout.write(`${JSON.stringify(letter, null, 2)}\n`);
      else {
        const { headers, value, ...fields } = letter;
        for (const [name, v] of Object.entries(fields)) if (v !== undefined) process.stdout.write(`${name}: ${v}\n`);
        for (const [name, v] of Object.entries(headers)) process.stdout.write(`header ${name}: ${v}\n`);
        process.stdout.write(`value:\n${value ?? '(none)'}\n`);
      }
      return 0;
    }
    if (deadLetterCommand && (sub === 'list' || sub === 'replay') && rest.length === 1) {
      const letters = await deadLetters(ctx, rest[0], { code: values.code, key: values.key, progress: interactive });
      if (sub === 'list') {
        const limit = Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new AdminError('--limit must be a positive integer');
        const latest = [...letters].sort((a, b) => Number(a.timestamp < b.timestamp) - Number(a.timestamp > b.timestamp)).slice(0, limit);
        print(
          latest.map(({ record: _record, ...d }) => d),
          ['partition', 'offset', 'timestamp', 'key', 'code', 'reason', 'sourceTopic', 'sourcePartition', 'sourceOffset', 'truncated'],
        );
        return 0;
      }
      // A truncated dead letter is not the record that was refused: replaying it would inject a different one.
      const replayable = letters.filter((d) => !d.truncated);
      const skipped = letters.length - replayable.length;
      if (skipped > 0) process.stderr.write(`skipping ${skipped} truncated dead letter(s): their value is not the original (see \`dead-letters show\`)\n`);
      if (values['dry-run']) {
        print(
          replayable.map(({ record: _record, ...d }) => ({ ...d, wouldReplayTo: d.sourceTopic })),
          ['partition', 'offset', 'key', 'code', 'wouldReplayTo'],
        );
        process.stderr.write(`dry run: ${replayable.length} record(s) would be replayed; nothing was produced\n`);
        return 0;
      }
      const replayed = await replayDeadLetters(ctx, replayable, { progress: interactive });
      if (values.json) process.stdout.write(`${JSON.stringify(skipped > 0 ? { replayed, skipped } : { replayed })}\n`);
      else process.stdout.write(`replayed ${replayed} record(s)${skipped > 0 ? `, skipped ${skipped} truncated` : ''}\n`);
      return 0;
    }
    if (command === 'checkpoints' && sub === 'reset' && rest.length === 2) {
      const deleted = await resetCheckpoints(ctx, registry.projections, rest[0], rest[1]);
      if (values.json) process.stdout.write(`${JSON.stringify({ deleted })}\n`);
      else process.stdout.write(`${rest[0]}/${rest[1]}: forgot ${deleted} checkpoint(s); the group reads its topics from the start\n`);
      return 0;
    }
    if (command === 'rebuild' && sub && rest.length === 1) {
      const list = (v?: string) =>
        v === undefined
          ? undefined
          : v === 'none'
            ? []
            : v
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean);
      const plan = planRebuild(registry.projections, sub, rest[0], list(values.tables), list(values.topics));
      const result = await rebuild(ctx, plan);
      const reset = result.reset.length ? `, reset ${result.reset.join(', ')}` : '';
      const summary = `${plan.service}/${plan.groupId}: truncated ${result.truncated.length ? result.truncated.join(', ') : 'no tables'}${reset}, deleted ${result.checkpointsDeleted} checkpoint(s), reset offsets of ${result.topics.join(', ') || 'no topics'} to the earliest`;
      if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else process.stdout.write(`${summary}\n`);
      if (!values['no-wait']) {
        process.stderr.write(`start ${plan.service} again; watching the rebuild (Ctrl-C stops watching, not the rebuild)\n`);
        await watchRebuild(ctx, plan, result.topics);
        process.stderr.write('rebuild caught up\n');
      }
      return 0;
    }
    process.stderr.write(USAGE);
    return 2;
  } finally {
    await ctx.close();
  }
}

/** Runs one command and exits with its status: 0 done, 1 failed (message on stderr), 2 usage. */
export function runAdmin(argv: string[], registry: AdminRegistry): void {
  run(argv, registry)
    .then((code) => process.exit(code))
    .catch((error) => {
      const known = error instanceof AdminError || error instanceof ConfigError || String((error as { code?: string }).code).startsWith('ERR_PARSE_ARGS');
      process.stderr.write(`admin: ${known ? (error as Error).message : ((error as Error).stack ?? error)}\n`);
      process.exit(1);
    });
}

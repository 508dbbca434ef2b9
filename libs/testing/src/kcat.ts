import { execFileSync } from 'node:child_process';
import { testEnv } from './env';

/**
 * Produces records with kcat, a Kafka client independent of this code base, so tests prove the
 * wire format rather than our own client talking to itself. Each record is `key<TAB>value`.
 */
export function kcatProduce(
  topic: string,
  records: { key: string; value: string }[],
  opts: { compression?: 'gzip' | 'snappy' | 'lz4' | 'zstd'; partition?: number; maxMessageBytes?: number } = {},
): void {
  const input = records.map((r) => `${r.key}\t${r.value}`).join('\n') + '\n';
  const args = ['-b', testEnv().kafkaBrokers, '-P', '-t', topic, '-K', '\t', '-X', 'enable.idempotence=true'];
  if (opts.compression) args.push('-z', opts.compression);
  if (opts.partition !== undefined) args.push('-p', String(opts.partition));
  // librdkafka refuses records above 1,000,000 bytes by default, below what a topic accepts.
  if (opts.maxMessageBytes !== undefined) args.push('-X', `message.max.bytes=${opts.maxMessageBytes}`);
  execFileSync('kcat', args, { input, timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
}

/** Reads `count` records from the start of `topic` with kcat (one partition's order), each `key<TAB>value`. */
export function kcatConsume(topic: string, count: number): { key: string; value: string }[] {
  const args = ['-b', testEnv().kafkaBrokers, '-C', '-t', topic, '-o', 'beginning', '-c', String(count), '-e', '-q', '-f', '%k\t%s\n'];
  return execFileSync('kcat', args, { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 })
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const tab = line.indexOf('\t');
      return { key: line.slice(0, tab), value: line.slice(tab + 1) };
    });
}

export function hasKcat(): boolean {
  try {
    execFileSync('kcat', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

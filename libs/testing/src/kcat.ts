import { execFileSync } from 'node:child_process';
import { testEnv } from './env';

/**
 * Produces records with kcat, a Kafka client independent of this code base, so tests prove the
 * wire format rather than our own client talking to itself. Each record is `key<TAB>value`.
 */
export function kcatProduce(topic: string, records: { key: string; value: string }[]): void {
  const input = records.map((r) => `${r.key}\t${r.value}`).join('\n') + '\n';
  execFileSync('kcat', ['-b', testEnv().kafkaBrokers, '-P', '-t', topic, '-K', '\t', '-X', 'enable.idempotence=true'], { input, timeout: 30_000 });
}

export function hasKcat(): boolean {
  try {
    execFileSync('kcat', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

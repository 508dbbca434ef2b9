import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

/**
 * The proto sources are the contract: they must pass `buf lint`, and the TypeScript committed under
 * src/generated must be exactly what `buf generate` makes of them today.
 */
const REPO_ROOT = resolve(__dirname, '..', '..', '..');
const BUF = join(REPO_ROOT, 'node_modules', '.bin', process.platform === 'win32' ? 'buf.cmd' : 'buf');
const GENERATED = join(REPO_ROOT, 'libs', 'contracts', 'src', 'generated');

jest.setTimeout(120_000);

function buf(args: string[]) {
  const run = spawnSync(BUF, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 110_000 });
  if (run.error) throw run.error;
  return { status: run.status, output: `${run.stdout ?? ''}${run.stderr ?? ''}`.trim() };
}

function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(root, path).split('\\').join('/'));
    }
  };
  walk(root);
  return out.sort();
}

describe('proto contract', () => {
  it('passes buf lint (STANDARD rules, with the exceptions documented in buf.yaml)', () => {
    const { status, output } = buf(['lint']);
    if (status !== 0) throw new Error(`buf lint exited with ${status}:\n${output}`);
    expect(status).toBe(0);
  });

  it('has committed generated TypeScript that matches `buf generate` (run `npm run proto:generate` if not)', () => {
    const out = mkdtempSync(join(tmpdir(), 'im-contracts-gen-'));
    try {
      const { status, output } = buf(['generate', '-o', out]);
      if (status !== 0) throw new Error(`buf generate exited with ${status}:\n${output}`);
      const fresh = join(out, 'libs', 'contracts', 'src', 'generated');
      const expected = filesUnder(fresh);
      const committed = filesUnder(GENERATED);
      expect(committed).toEqual(expected);
      const stale = expected.filter((f) => readFileSync(join(fresh, f), 'utf8') !== readFileSync(join(GENERATED, f), 'utf8'));
      expect(stale).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

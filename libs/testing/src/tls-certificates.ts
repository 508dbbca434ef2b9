import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export interface CertificateAuthority extends IssuedCertificate {
  /** A certificate for `name` signed by this CA; `san` defaults to `DNS:<name>` (give `IP:127.0.0.1` for an address). */
  issue(name: string, usage: 'server' | 'client', san?: string): IssuedCertificate;
}

/** A new P-256 key, unencrypted. */
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });

const issued = (dir: string, base: string): IssuedCertificate => {
  const certFile = join(dir, `${base}.crt`);
  const keyFile = join(dir, `${base}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
};

/** A throwaway certificate authority in a temporary directory, made with the openssl CLI (P-256 keys, valid one day). */
export function certificateAuthority(name: string): CertificateAuthority {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  openssl(['req', '-x509', ...NEW_KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', `/CN=${name}`, '-days', '1'], dir);
  return {
    ...issued(dir, 'ca'),
    issue(subject, usage, san = `DNS:${subject}`) {
      const base = `${usage}-${subject.replace(/[^A-Za-z0-9]/g, '_')}`;
      openssl(['req', ...NEW_KEY, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${subject}`], dir);
      writeFileSync(join(dir, `${base}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage === 'server' ? 'serverAuth' : 'clientAuth'}\n`);
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${base}.csr`,
          '-CA',
          'ca.crt',
          '-CAkey',
          'ca.key',
          '-CAcreateserial',
          '-out',
          `${base}.crt`,
          '-days',
          '1',
          '-extfile',
          `${base}.ext`,
        ],
        dir,
      );
      return issued(dir, base);
    },
  };
}

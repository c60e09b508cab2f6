import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A certificate and its private key, in PEM. */
export interface CertificatePair {
  readonly certificatePem: string;
  readonly keyPem: string;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

function inTempDir<T>(work: (dir: string) => T): T {
  const dir = mkdtempSync(path.join(tmpdir(), 'esync-cert-'));
  try {
    return work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A self-signed CA (P-256, valid one day), made by the system's `openssl`. */
export function createAuthority(commonName: string): CertificatePair {
  return inTempDir((dir) => {
    openssl(
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
        ...['-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', `/CN=${commonName}`],
        ...['-addext', 'basicConstraints=critical,CA:TRUE'],
        ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
      ],
      dir,
    );
    return {
      certificatePem: readFileSync(path.join(dir, 'ca.crt'), 'utf8'),
      keyPem: readFileSync(path.join(dir, 'ca.key'), 'utf8'),
    };
  });
}

/** A server certificate signed by `authority` for the given names (`IP:127.0.0.1`, `DNS:db.internal`). */
export function issueServerCertificate(
  authority: CertificatePair,
  altNames: readonly string[],
): CertificatePair {
  return inTempDir((dir) => {
    writeFileSync(path.join(dir, 'ca.crt'), authority.certificatePem);
    writeFileSync(path.join(dir, 'ca.key'), authority.keyPem);
    writeFileSync(
      path.join(dir, 'ext.cnf'),
      `subjectAltName=${altNames.join(',')}\nextendedKeyUsage=serverAuth\n`,
    );
    openssl(
      [
        ...['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
        ...['-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=esync-test-server'],
      ],
      dir,
    );
    openssl(
      [
        ...['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'],
        ...['-out', 'server.crt', '-days', '1', '-extfile', 'ext.cnf'],
      ],
      dir,
    );
    return {
      certificatePem: readFileSync(path.join(dir, 'server.crt'), 'utf8'),
      keyPem: readFileSync(path.join(dir, 'server.key'), 'utf8'),
    };
  });
}

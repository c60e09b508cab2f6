import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { certificateRefusal, tlsOptions } from '../../../shared/connectors/sql/connection.ts';

const PRIVATE_CA = '-----BEGIN CERTIFICATE-----\nprivate\n-----END CERTIFICATE-----\n';

describe('database TLS settings', () => {
  it('verify-full checks the chain and trusts the public roots plus every Amazon RDS CA', async () => {
    const options = await tlsOptions('verify-full', { ca: undefined });

    expect(options).toMatchObject({ rejectUnauthorized: true });
    const authorities = (options as { ca: string[] }).ca;
    expect(authorities).toEqual(expect.arrayContaining([...rootCertificates]));
    const rds = authorities
      .filter((pem) => !rootCertificates.includes(pem))
      .map((pem) => new X509Certificate(pem).subject);
    // The RDS CAs of every region, and the Amazon and Starfield roots that sign RDS Proxy's certificates.
    expect(rds.filter((subject) => /Amazon RDS/.test(subject)).length).toBeGreaterThan(100);
    expect(rds.filter((subject) => !/Amazon RDS|O=Amazon|Starfield Services Root/.test(subject))).toEqual([]);
    expect(rds.some((subject) => /Amazon RDS us-east-1 Root CA RSA2048 G1/.test(subject))).toBe(true);
  });

  it('verify-full adds the private CA the secret names', async () => {
    const options = (await tlsOptions('verify-full', { ca: PRIVATE_CA })) as { ca: string[] };

    expect(options.ca.at(-1)).toBe(PRIVATE_CA);
  });

  it('require encrypts without verifying, and disable turns TLS off', async () => {
    expect(await tlsOptions('require', { ca: PRIVATE_CA })).toEqual({ rejectUnauthorized: false });
    expect(await tlsOptions('disable', { ca: undefined })).toBe(false);
  });

  it('names a refused certificate, and leaves other errors to the connector', () => {
    expect(certificateRefusal({ code: 'SELF_SIGNED_CERT_IN_CHAIN' })).toMatch(
      /^the server's certificate is not trusted \(SELF_SIGNED_CERT_IN_CHAIN\)/,
    );
    expect(certificateRefusal({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' })).toMatch(/does not name the host/);
    expect(certificateRefusal({ code: 'ECONNRESET' })).toBeUndefined();
    expect(
      certificateRefusal({
        code: 'HANDSHAKE_SSL_ERROR',
        message: 'unable to verify the first certificate; try',
      }),
    ).toMatch(/is not trusted \(unable to verify the first certificate\);/);
    expect(
      certificateRefusal({ code: 'HANDSHAKE_SSL_ERROR', message: 'wrong version number' }),
    ).toBeUndefined();
  });
});

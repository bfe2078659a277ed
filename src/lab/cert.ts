/**
 * One self-signed certificate for lab emulators, generated once per process and shared (RSA key generation takes
 * tens to hundreds of milliseconds; a farm of 2,000 servers must not pay it 2,000 times).
 */
import selfsigned from 'selfsigned';

export interface LabTls {
  key: string;
  cert: string;
}

let cached: Promise<LabTls> | undefined;

/** The process-wide lab certificate (CN `exchange.lab.invalid`, SAN localhost, 127.0.0.1 and ::1). */
export function labCertificate(): Promise<LabTls> {
  cached ??= generateLabCertificate().catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

export async function generateLabCertificate(): Promise<LabTls> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'exchange.lab.invalid' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'exchange.lab.invalid' },
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

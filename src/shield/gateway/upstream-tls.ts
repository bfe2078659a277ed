/**
 * Checking an upstream's TLS certificate after the handshake, so that a refusal can say what is wrong in words and
 * print the certificate's pin (the usual first meeting: an Exchange server with its self-signed certificate). The
 * pool connects with `rejectUnauthorized: false` and nothing is written to the socket before this check passes, so
 * it is exactly as strict as Node's own verification (which fills `authorized`/`authorizationError` including the
 * host-name check), plus the pin.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { PeerCertificate, TLSSocket } from 'node:tls';

/** What the pool needs to know about the upstream's trust settings (a subset of CompiledUpstream). */
export interface UpstreamTrust {
  ca: string | undefined;
  pin: { kind: 'cert' | 'spki'; value: Buffer } | undefined;
  /** Accept any certificate (nothing verified). */
  insecure: boolean;
  host: string;
  servername: string | undefined;
}

export interface CertificateProblem {
  /** One phrase, e.g. "certificate is self-signed (CN=EXCH01)". */
  problem: string;
  /** The leaf's public-key pin in the form `pin_sha256`/`--upstream-pin` accepts: `sha256//<base64>`. */
  pin: string;
}

/**
 * The SubjectPublicKeyInfo DER. Not `cert.pubkey`: for EC keys Node gives the bare curve point there (65 bytes for
 * P-256), so a curl-style pin of an EC certificate would never match.
 */
function spkiDer(cert: PeerCertificate): Buffer {
  return new X509Certificate(cert.raw).publicKey.export({ type: 'spki', format: 'der' });
}

/** curl's --pinnedpubkey form: SHA-256 of the SubjectPublicKeyInfo DER, base64. */
export function spkiPin(cert: PeerCertificate): string {
  return `sha256//${createHash('sha256').update(spkiDer(cert)).digest('base64')}`;
}

function certHexPin(cert: PeerCertificate): string {
  return createHash('sha256')
    .update(cert.raw)
    .digest('hex')
    .replace(/(..)(?!$)/g, '$1:')
    .toUpperCase();
}

function subjectOf(cert: PeerCertificate): string {
  const cn = cert.subject?.CN;
  return cn ? `CN=${Array.isArray(cn) ? cn.join(',') : cn}` : 'no subject CN';
}

/** Words for Node's verification codes (OpenSSL X509_V_ERR_* names and Node's host-name check). */
function describe(code: string, cert: PeerCertificate, host: string): string {
  const who = subjectOf(cert);
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return `certificate is self-signed (${who})`;
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return `certificate chain ends in a self-signed root that is not trusted (${who})`;
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `certificate is issued by a CA that is not trusted (${who}, issuer ${cert.issuer?.CN ?? '?'})`;
    case 'CERT_HAS_EXPIRED':
      return `certificate expired on ${cert.valid_to} (${who})`;
    case 'CERT_NOT_YET_VALID':
      return `certificate is not valid before ${cert.valid_from} (${who})`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `certificate does not name ${host} (${who}${cert.subjectaltname ? `, ${cert.subjectaltname}` : ''})`;
    default:
      return `certificate refused: ${code} (${who})`;
  }
}

/** Undefined when the connection may be used; else what is wrong, with the pin to trust it by. */
export function upstreamCertificateProblem(t: TLSSocket, u: UpstreamTrust): CertificateProblem | undefined {
  if (u.insecure) return undefined;
  const cert = t.getPeerCertificate(false);
  if (!cert?.raw) return { problem: 'upstream sent no certificate', pin: '' };
  const pin = spkiPin(cert);
  if (u.pin) {
    const der = u.pin.kind === 'cert' ? cert.raw : spkiDer(cert);
    if (!createHash('sha256').update(der).digest().equals(u.pin.value)) {
      // The configured pin was a certificate fingerprint: show that form too (the public-key pin follows).
      const shown = u.pin.kind === 'cert' ? `, certificate sha256 ${certHexPin(cert)}` : '';
      return { problem: `certificate pin mismatch (${subjectOf(cert)}${shown})`, pin };
    }
    // A pin alone names the certificate: its chain is not checked. With a CA too, the chain must verify.
    if (!u.ca) return undefined;
  }
  if (t.authorized) return undefined;
  const code = String(t.authorizationError ?? 'unknown verification error');
  return { problem: describe(code, cert, u.servername ?? u.host), pin };
}

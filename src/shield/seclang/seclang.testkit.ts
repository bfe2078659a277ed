import type { ShieldRequest } from '../types.js';

export function req(p: Partial<ShieldRequest> & { headers?: ShieldRequest['headers'] } = {}): ShieldRequest {
  return {
    method: 'GET',
    uri: '/',
    httpVersion: '1.1',
    headers: [['Host', 'mail.example.com']],
    remoteAddr: '192.0.2.7',
    ...p,
  };
}

import { describe, expect, it } from 'vitest';
import { countRequests, parseResponses } from './http1.js';

describe('http1 framing', () => {
  it('counts pipelined requests with bodies', () => {
    const raw = Buffer.from(
      'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nGET /GET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.0\r\n\r\n',
    );
    expect(countRequests(raw)).toBe(3);
    expect(countRequests(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n'))).toBe(1);
  });
  it('splits responses and reports complete ones', () => {
    const two = Buffer.from(
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno',
    );
    expect(parseResponses(two)).toEqual({ statuses: [200, 403], complete: 1 });
    const chunked = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    expect(parseResponses(chunked)).toEqual({ statuses: [200], complete: 1 });
  });
});

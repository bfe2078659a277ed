/** Minimal HTTP/1.x framing for the oracle: count requests in raw bytes, split raw response bytes. */

function headerEnd(buf: Buffer, from: number): { end: number; sep: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n', from);
  const lf = buf.indexOf('\n\n', from);
  if (crlf === -1 && lf === -1) return undefined;
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return { end: crlf, sep: 4 };
  return { end: lf, sep: 2 };
}

function headers(head: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of head.split(/\r?\n/).slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const list = map.get(name) ?? [];
    list.push(line.slice(i + 1).trim());
    map.set(name, list);
  }
  return map;
}

/** Length of a chunked body starting at `from`, or undefined if incomplete. */
function chunkedLength(buf: Buffer, from: number): number | undefined {
  let pos = from;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol === -1) return undefined;
    const size = Number.parseInt(buf.subarray(pos, eol).toString('latin1').split(';')[0] ?? '', 16);
    if (Number.isNaN(size)) return undefined;
    pos = eol + 2;
    if (size === 0) {
      const end = buf.indexOf('\r\n\r\n', pos - 2);
      return end === -1 ? undefined : end + 4 - from;
    }
    pos += size + 2;
    if (pos > buf.length) return undefined;
  }
}

/** How many HTTP/1.x requests the bytes hold (pipelining); trailing partial data counts as one. */
export function countRequests(raw: Buffer): number {
  let pos = 0;
  let n = 0;
  while (pos < raw.length) {
    while (pos < raw.length && (raw[pos] === 0x0d || raw[pos] === 0x0a)) pos++;
    if (pos >= raw.length) break;
    const he = headerEnd(raw, pos);
    n++;
    if (!he) break;
    const h = headers(raw.subarray(pos, he.end).toString('latin1'));
    let body = 0;
    if ((h.get('transfer-encoding') ?? []).some((v) => /chunked/i.test(v))) {
      body = chunkedLength(raw, he.end + he.sep) ?? raw.length;
    } else {
      body = Number(h.get('content-length')?.[0] ?? 0) || 0;
    }
    pos = he.end + he.sep + body;
  }
  return n;
}

/** Status codes of the responses whose header arrived, and how many responses are complete. */
export function parseResponses(buf: Buffer): { statuses: number[]; complete: number } {
  const statuses: number[] = [];
  let complete = 0;
  let pos = 0;
  while (pos < buf.length) {
    const he = headerEnd(buf, pos);
    if (!he) break;
    const head = buf.subarray(pos, he.end).toString('latin1');
    const m = /^HTTP\/\d\.\d (\d{3})/.exec(head);
    if (!m) break;
    const status = Number(m[1]);
    statuses.push(status);
    const h = headers(head);
    const start = he.end + he.sep;
    let len: number | undefined;
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) len = 0;
    else if ((h.get('transfer-encoding') ?? []).some((v) => /chunked/i.test(v)))
      len = chunkedLength(buf, start);
    else if (h.has('content-length')) len = Number(h.get('content-length')?.[0]);
    if (len === undefined || start + len > buf.length) break;
    complete++;
    pos = start + len;
  }
  return { statuses, complete };
}

/**
 * What hostile-text tests check output against: the characters no report may print raw, the colour codes the
 * tool itself adds, and an independent strict CSV reader. Shared by the hunt, scan and advisory output tests.
 */

/** Any C0 control but LF, DEL, any C1 control, line/paragraph separators, bidi overrides and isolates. */
export const FORBIDDEN =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
/** The colour sequences renderText's paint adds (node:util styleText: SGR only). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the SGR sequence starts with ESC
export const SGR = /\x1b\[\d+(?:;\d+)*m/g;

/**
 * A strict RFC 4180 reader: CRLF records, every cell either quoted (with "" for a quote) or plain without quotes,
 * CR or LF; anything else throws. Independent of the writer under test.
 */
export function parseCsvStrict(text: string): string[][] {
  const rows: string[][] = [];
  let i = 0;
  while (i < text.length) {
    const row: string[] = [];
    for (;;) {
      let cell = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= text.length) throw new Error('unterminated quoted cell');
          if (text[i] === '"') {
            if (text[i + 1] === '"') {
              cell += '"';
              i += 2;
            } else {
              i++;
              break;
            }
          } else cell += text[i++];
        }
      } else {
        while (i < text.length && text[i] !== ',' && text[i] !== '\r') {
          if (text[i] === '"' || text[i] === '\n') throw new Error(`bare ${JSON.stringify(text[i])} at ${i}`);
          cell += text[i++];
        }
      }
      row.push(cell);
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text.startsWith('\r\n', i)) {
        i += 2;
        break;
      }
      throw new Error(`expected , or CRLF at ${i}`);
    }
    rows.push(row);
  }
  return rows;
}

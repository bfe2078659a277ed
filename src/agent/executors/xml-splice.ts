/**
 * Locating elements in an XML file's text without rewriting it: a small scanner that gives each element's span
 * (comments, CDATA, processing instructions and quoted attribute values skipped), so an edit is one splice and
 * everything else in the file stays byte for byte. Text is handled as latin1 (one character per byte).
 */

export interface XmlElement {
  name: string;
  /** Index of `<`. */
  start: number;
  /** Index just after the start tag's `>`. */
  openEnd: number;
  /** Index of the closing tag's `<` (equals openEnd's tag end for a self-closing element). */
  closeStart: number;
  /** Index just after the element. */
  end: number;
  selfClosing: boolean;
  attrs: Record<string, string>;
  children: XmlElement[];
}

const NAME = /^[A-Za-z_:][\w.:-]*/;

function decodeEntities(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'amp') return '&';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    return String.fromCodePoint(
      e[1] === 'x' ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10),
    );
  });
}

export function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The element tree of `text` (a root pseudo-element holds the top-level elements); throws on malformed XML. */
export function parseSpans(text: string): XmlElement {
  const root: XmlElement = {
    name: '#document',
    start: 0,
    openEnd: 0,
    closeStart: text.length,
    end: text.length,
    selfClosing: false,
    attrs: {},
    children: [],
  };
  const stack: XmlElement[] = [root];
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    if (lt === -1) break;
    if (text.startsWith('<!--', lt)) {
      const e = text.indexOf('-->', lt + 4);
      if (e === -1) throw new Error(`unterminated comment at byte ${lt}`);
      i = e + 3;
      continue;
    }
    if (text.startsWith('<![CDATA[', lt)) {
      const e = text.indexOf(']]>', lt + 9);
      if (e === -1) throw new Error(`unterminated CDATA at byte ${lt}`);
      i = e + 3;
      continue;
    }
    if (text.startsWith('<?', lt)) {
      const e = text.indexOf('?>', lt + 2);
      if (e === -1) throw new Error(`unterminated processing instruction at byte ${lt}`);
      i = e + 2;
      continue;
    }
    if (text.startsWith('<!', lt)) {
      const e = text.indexOf('>', lt + 2);
      if (e === -1) throw new Error(`unterminated declaration at byte ${lt}`);
      i = e + 1;
      continue;
    }
    if (text[lt + 1] === '/') {
      const e = text.indexOf('>', lt + 2);
      if (e === -1) throw new Error(`unterminated end tag at byte ${lt}`);
      const name = text.slice(lt + 2, e).trim();
      const open = stack.pop();
      if (!open || open === root || open.name !== name)
        throw new Error(`unexpected </${name}> at byte ${lt}`);
      open.closeStart = lt;
      open.end = e + 1;
      i = e + 1;
      continue;
    }
    const m = NAME.exec(text.slice(lt + 1, lt + 200));
    if (!m) throw new Error(`malformed tag at byte ${lt}`);
    const name = m[0];
    // Scan to the tag's end, skipping quoted attribute values.
    let j = lt + 1 + name.length;
    const attrs: Record<string, string> = {};
    let selfClosing = false;
    for (;;) {
      while (j < text.length && /\s/.test(text[j]!)) j++;
      if (j >= text.length) throw new Error(`unterminated tag <${name} at byte ${lt}`);
      if (text[j] === '>') {
        j++;
        break;
      }
      if (text.startsWith('/>', j)) {
        selfClosing = true;
        j += 2;
        break;
      }
      const an = NAME.exec(text.slice(j, j + 200));
      if (!an) throw new Error(`malformed attribute in <${name} at byte ${j}`);
      j += an[0].length;
      while (/\s/.test(text[j] ?? '')) j++;
      if (text[j] !== '=') throw new Error(`attribute ${an[0]} without a value at byte ${j}`);
      j++;
      while (/\s/.test(text[j] ?? '')) j++;
      const q = text[j];
      if (q !== '"' && q !== "'") throw new Error(`unquoted attribute ${an[0]} at byte ${j}`);
      const close = text.indexOf(q, j + 1);
      if (close === -1) throw new Error(`unterminated attribute ${an[0]} at byte ${j}`);
      attrs[an[0]] = decodeEntities(text.slice(j + 1, close));
      j = close + 1;
    }
    const el: XmlElement = {
      name,
      start: lt,
      openEnd: j,
      closeStart: j,
      end: j,
      selfClosing,
      attrs,
      children: [],
    };
    stack[stack.length - 1]!.children.push(el);
    if (!selfClosing) stack.push(el);
    i = j;
  }
  if (stack.length > 1) throw new Error(`<${stack[stack.length - 1]!.name}> is never closed`);
  return root;
}

export function child(el: XmlElement, name: string, attr?: [string, string]): XmlElement | undefined {
  return el.children.find((c) => c.name === name && (!attr || c.attrs[attr[0]] === attr[1]));
}

/** Leading whitespace of the line `index` is on, when only whitespace precedes it there; else ''. */
export function indentAt(text: string, index: number): string {
  const lineStart = text.lastIndexOf('\n', index - 1) + 1;
  const before = text.slice(lineStart, index);
  return /^[ \t]*$/.test(before) ? before : '';
}

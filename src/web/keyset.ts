/**
 * Keyset paging in the console. The URL holds the page's `cursor` (the API's next_cursor or prev_cursor) and
 * `from`, the position of its first row, which only the range text uses: the API pages by key, not by count.
 */

export interface KeysetPosition {
  cursor?: string;
  /** 1-based position of the page's first row, when known. */
  from?: number;
}

export function keysetParams(query: URLSearchParams): KeysetPosition {
  const cursor = query.get('cursor') || undefined;
  const from = Math.floor(Number(query.get('from')));
  return { cursor, from: cursor && from >= 1 ? from : cursor ? undefined : 1 };
}

/**
 * The previous and next links of a page and its range text ("51–100 of 120"; "50 of 120" when the position is
 * not known). `href` builds a URL from a cursor and a position.
 */
export function keysetLinks(
  page: { items: unknown[]; total: number; next_cursor: string | null; prev_cursor: string | null },
  position: KeysetPosition,
  pageSize: number,
  href: (p: { cursor: string; from?: number }) => string,
): { previous?: string; next?: string; range: string } {
  const n = page.items.length;
  // The API answers the first page (no prev_cursor) whenever nothing lies before it.
  const start = page.prev_cursor === null ? 1 : position.from;
  return {
    previous: page.prev_cursor
      ? href({ cursor: page.prev_cursor, from: start ? Math.max(1, start - pageSize) : undefined })
      : undefined,
    next: page.next_cursor
      ? href({ cursor: page.next_cursor, from: start ? start + n : undefined })
      : undefined,
    range: start ? `${start}–${start + n - 1} of ${page.total}` : `${n} of ${page.total}`,
  };
}

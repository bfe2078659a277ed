import { describe, expect, it } from 'vitest';
import {
  boardPageRequest,
  boardTenantPageRequests,
  CONSOLE_ASSET_STATES,
  CONSOLE_BOARD_SORTS,
  firstRequests,
  ME_URL,
} from './console-requests.js';
import { ASSET_STATE_FILTERS, BOARD_SORTS } from './response.js';

describe('console first requests', () => {
  it('knows the API’s board orders and state filters', () => {
    expect(CONSOLE_BOARD_SORTS).toEqual(BOARD_SORTS);
    expect(CONSOLE_ASSET_STATES).toEqual(ASSET_STATE_FILTERS);
  });

  it('builds the board pages’ requests from their URLs, unknown values read as defaults', () => {
    expect(boardPageRequest('a b', new URLSearchParams('sort=bogus&q=%20x%20&cursor=c1'))).toBe(
      '/api/v1/advisories/a%20b/board?q=x&sort=worst&limit=50&cursor=c1',
    );
    expect(boardTenantPageRequests('adv', 't/1', new URLSearchParams('state=nope&q=mail'))).toEqual({
      tenant: '/api/v1/tenants/t%2F1',
      assets: '/api/v1/advisories/adv/board/tenants/t%2F1/assets?q=mail&limit=50',
      row: '/api/v1/advisories/adv/board?q=t%2F1&limit=100',
    });
  });

  it('names /me for pages behind sign-in, the data for the board pages, nothing for public pages', () => {
    const none = new URLSearchParams();
    expect(firstRequests('/sign-in', none)).toEqual([]);
    expect(firstRequests('/setup', none)).toEqual([]);
    expect(firstRequests('/tenants/acme', none)).toEqual([ME_URL]);
    expect(firstRequests('/advisories/adv/board', none)).toEqual([
      ME_URL,
      '/api/v1/advisories/adv/board?sort=worst&limit=50',
    ]);
    expect(firstRequests('/advisories/adv/board/acme', none)).toHaveLength(4);
    // A segment that does not decode is no page's parameter.
    expect(firstRequests('/advisories/%E0%A4%A/board', none)).toEqual([ME_URL]);
  });
});

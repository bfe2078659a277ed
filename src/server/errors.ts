/** Errors a route turns into a JSON response: status, a stable code, and one sentence saying what to do. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (what: string) =>
  new ApiError(404, 'not_found', `${what} does not exist or is not yours to see`);
export const forbidden = (why: string) => new ApiError(403, 'forbidden', why);
export const badRequest = (why: string, details?: unknown) => new ApiError(400, 'bad_request', why, details);
export const conflict = (why: string) => new ApiError(409, 'conflict', why);
export const unauthorized = (why = 'sign in or send an API token (Authorization: Bearer bwk_…)') =>
  new ApiError(401, 'unauthorized', why);

/** The stable code of an error status that no route chose itself (framework errors: 404, 413, 415, 429 …). */
export function codeForStatus(status: number): string {
  return STATUS_CODES[status] ?? (status >= 500 ? 'internal' : 'bad_request');
}

const STATUS_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  411: 'length_required',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  431: 'headers_too_large',
};

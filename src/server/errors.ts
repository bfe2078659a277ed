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

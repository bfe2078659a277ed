/** Users (administrators only) and API tokens (each principal manages its own). */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  ErrorBody,
  PageParams,
  pageOf,
  TokenCreate,
  TokenCreated,
  TokenInfo,
  TokenParams,
  User,
  UserCreate,
  UserParams,
  UserUpdate,
} from '../../api/index.js';
import { type AppContext, principalOf, typed } from '../context.js';
import { unauthorized } from '../errors.js';

export async function userRoutes(fastify: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = typed(fastify);
  const { accounts } = ctx;

  app.get(
    '/api/v1/users',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'List users',
        querystring: Type.Object(PageParams),
        response: { 200: pageOf(User) },
      },
    },
    async (request) => accounts.listUsers(request.query),
  );

  app.post(
    '/api/v1/users',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Create a user: an operator (admin, technician, read_only) or a customer user of one tenant',
        body: UserCreate,
        response: { 201: User, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const user = await accounts.createUser(request.body, `user:${principalOf(request).email}`);
      return reply.status(201).send(user);
    },
  );

  app.get(
    '/api/v1/users/:id',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'One user',
        params: UserParams,
        response: { 200: User, 404: ErrorBody },
      },
    },
    async (request) => accounts.getUser(request.params.id),
  );

  app.patch(
    '/api/v1/users/:id',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Rename, change role, or disable a user (a changed role or disabling ends their sessions)',
        params: UserParams,
        body: UserUpdate,
        response: { 200: User, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => accounts.updateUser(request.params.id, request.body, principalOf(request)),
  );

  app.get(
    '/api/v1/tokens',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['tokens'],
        summary: 'Your API tokens (never the secrets)',
        response: { 200: Type.Array(TokenInfo) },
      },
    },
    async (request) => accounts.listTokens(principalOf(request)),
  );

  app.post(
    '/api/v1/tokens',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['tokens'],
        summary: 'Create an API token scoped to a role (at most yours) and optionally one tenant; shown once',
        body: TokenCreate,
        response: { 201: TokenCreated },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      if (p.kind !== 'session')
        throw unauthorized('create API tokens from a signed-in session, not with a token');
      return reply.status(201).send(await accounts.createToken(p, request.body));
    },
  );

  app.delete(
    '/api/v1/tokens/:id',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token (yours; administrators may revoke any)',
        params: TokenParams,
        response: { 204: Type.Null(), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await accounts.revokeToken(principalOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );
}

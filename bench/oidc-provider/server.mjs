// The oidc-provider server that benches/oidc.rs measures propusk against, configured
// like propusk: ID tokens signed with ID_TOKEN_ALG (ES256 by default, or RS256; an RSA
// 2048 and an EC P-256 key are both published),
// opaque access tokens, refresh tokens rotated on every use, PKCE with S256 required,
// the same lifetimes (code 60 s, access and ID token 600 s, refresh token 30 days) and
// the same endpoint paths. See README.md.
//
// Environment: CLIENT_SECRET (required), ID_TOKEN_ALG (ES256 or RS256, default ES256),
// HOST (default 127.0.0.1), PORT (default 0, any free port). Prints `oidc-provider: listening on http://HOST:PORT` once ready.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 0);
const CLIENT_SECRET = process.env.CLIENT_SECRET;
const ID_TOKEN_ALG = process.env.ID_TOKEN_ALG === 'RS256' ? 'RS256' : 'ES256';
if (!CLIENT_SECRET) {
  console.error('oidc-provider: CLIENT_SECRET is required');
  process.exit(2);
}

// The one person of the benchmark, with the claims propusk returns for the same scopes.
const ACCOUNT = {
  sub: '0192f0c4-7d1e-7a3b-9c2d-5e6f7a8b9c0d',
  name: 'Студент Нагрузочный',
  preferred_username: 'bench.user',
  roles: ['student'],
  groups: ['ИС-21'],
};

// State lives in memory: a Map per process with expiry and the grant index the adapter
// interface asks for. (The bundled MemoryAdapter is an LRU capped at 1000 entries,
// which would evict codes and tokens under load.)
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);
const entries = new Map(); // `${model}:${id}` -> { payload, expiresAt }
const byGrant = new Map(); // grantId -> Set of keys
const byUid = new Map(); // session uid -> session id
const byUserCode = new Map(); // user code -> device code id

class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    entries.set(key, { payload, expiresAt });
    if (this.model === 'Session') byUid.set(payload.uid, id);
    if (payload.userCode) byUserCode.set(payload.userCode, id);
    if (payload.grantId && GRANTABLE.has(this.model)) {
      let keys = byGrant.get(payload.grantId);
      if (!keys) byGrant.set(payload.grantId, (keys = new Set()));
      keys.add(key);
    }
  }

  async find(id) {
    const key = this.key(id);
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    const id = byUid.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = byUserCode.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const entry = entries.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const key = this.key(id);
    const entry = entries.get(key);
    entries.delete(key);
    if (entry?.payload.grantId) byGrant.get(entry.payload.grantId)?.delete(key);
  }

  async revokeByGrantId(grantId) {
    const keys = byGrant.get(grantId);
    if (!keys) return;
    for (const key of keys) entries.delete(key);
    byGrant.delete(grantId);
  }
}

// Expired entries are dropped every 10 s so that memory stays bounded.
setInterval(() => {
  const now = Date.now();
  for (const [key, { payload, expiresAt }] of entries) {
    if (expiresAt > now) continue;
    entries.delete(key);
    if (payload.grantId) byGrant.get(payload.grantId)?.delete(key);
  }
}, 10_000).unref();

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });

const server = createServer();
// Keep-alive connections stay open between the benchmark's phases.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const issuer = `http://${HOST}:${port}`;
  const provider = new Provider(issuer, {
    adapter: MapAdapter,
    clients: [
      {
        client_id: 'bench',
        client_secret: CLIENT_SECRET,
        client_name: 'Bench',
        redirect_uris: ['http://127.0.0.1:9/cb'],
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
        scope: 'openid profile email roles groups offline_access',
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: ID_TOKEN_ALG,
      },
    ],
    jwks: {
      keys: [
        { ...rsa, kid: 'rs256-bench', use: 'sig', alg: 'RS256' },
        { ...ec, kid: 'es256-bench', use: 'sig', alg: 'ES256' },
      ],
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'roles', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      roles: ['roles'],
      groups: ['groups'],
    },
    // Like propusk, the ID token carries the claims of the granted scopes.
    conformIdTokenClaims: false,
    async findAccount(ctx, sub) {
      if (sub !== ACCOUNT.sub) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { ...ACCOUNT };
        },
      };
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true },
      // propusk has no resource indicators; without them every access token is opaque.
      resourceIndicators: { enabled: false },
    },
    pkce: { required: () => true, methods: ['S256'] },
    // propusk issues a refresh token with every code exchange and rotates it on each use.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    ttl: {
      AuthorizationCode: 60,
      AccessToken: 600,
      IdToken: 600,
      ClientCredentials: 600,
      RefreshToken: 30 * 86_400,
      Grant: 30 * 86_400,
      Session: 12 * 3600,
      Interaction: 3600,
    },
    routes: {
      authorization: '/authorize',
      userinfo: '/userinfo',
      introspection: '/introspect',
      revocation: '/revoke',
      end_session: '/logout',
    },
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });

  // The interaction: signs the fixed account in and grants every scope the client may
  // ask for, so that later authorization requests of the same session get a code at once.
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'GET' || !ctx.path.startsWith('/interaction/')) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    let result;
    if (details.prompt.name === 'login') {
      result = { login: { accountId: ACCOUNT.sub } };
    } else {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      grant.addOIDCScope('openid profile email roles groups offline_access');
      result = { consent: { grantId: await grant.save() } };
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(to);
  });

  server.on('request', provider.callback());
  console.log(`oidc-provider: listening on ${issuer}`);
});

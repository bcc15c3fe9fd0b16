// An independent relying party: openid-client (OpenID Certified) completes the whole
// code flow against propusk: discovery, PKCE, the person signing in through the HTML
// form, code exchange with ID token validation against the JWKS, UserInfo, refresh,
// revocation and RP-initiated logout. Prints one JSON line with what it saw.
//
// Environment: ISSUER, CLIENT_ID, CLIENT_SECRET, LOGIN, PASSWORD, REDIRECT_URI,
// LOGOUT_URI; NODE_EXTRA_CA_CERTS trusts the server's development CA.
import * as oidc from 'openid-client';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is required`);
  return v;
};
const issuer = new URL(env('ISSUER'));
const redirectUri = env('REDIRECT_URI');

// A tiny browser: one cookie jar, manual redirects.
const jar = new Map();
async function browse(url, init = {}) {
  const headers = new Headers(init.headers || {});
  if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return res;
}
const field = (html, name) => {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  return m ? m[1].replaceAll('&amp;', '&') : undefined;
};

async function signInAndGetCallback(authUrl) {
  let url = authUrl.href;
  for (let step = 0; step < 10; step++) {
    const res = await browse(url);
    if (res.status === 200) {
      const html = await res.text();
      const body = new URLSearchParams({
        csrf: field(html, 'csrf'),
        next: field(html, 'next'),
        login: env('LOGIN'),
        password: env('PASSWORD'),
      });
      const post = await browse(new URL('/sign-in', issuer), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      if (post.status !== 303) throw new Error(`sign-in answered ${post.status}`);
      url = new URL(post.headers.get('location'), issuer).href;
      continue;
    }
    if (res.status !== 303) throw new Error(`${url} answered ${res.status}`);
    const next = new URL(res.headers.get('location'), issuer);
    if (next.href.startsWith(redirectUri)) return next;
    url = next.href;
  }
  throw new Error('no callback after 10 steps');
}

const config = await oidc.discovery(issuer, env('CLIENT_ID'), env('CLIENT_SECRET'));
const verifier = oidc.randomPKCECodeVerifier();
const state = oidc.randomState();
const nonce = oidc.randomNonce();
const authUrl = oidc.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: 'openid profile email roles',
  code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});
const callback = await signInAndGetCallback(authUrl);
const tokens = await oidc.authorizationCodeGrant(config, callback, {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
await oidc.tokenRevocation(config, refreshed.access_token);
let revokedRefused = false;
try {
  await oidc.fetchUserInfo(config, refreshed.access_token, claims.sub);
} catch (e) {
  revokedRefused = true;
}
// The first refresh token was rotated: presenting it again is refused.
let reuseRefused = false;
try {
  await oidc.refreshTokenGrant(config, tokens.refresh_token);
} catch (e) {
  reuseRefused = e.error === 'invalid_grant';
}
const endUrl = oidc.buildEndSessionUrl(config, {
  id_token_hint: tokens.id_token,
  post_logout_redirect_uri: env('LOGOUT_URI'),
  state: 'bye',
});
const logout = await browse(endUrl);
console.log(JSON.stringify({
  sub: claims.sub,
  username: userinfo.preferred_username,
  email: userinfo.email ?? null,
  roles: userinfo.roles,
  refreshed: Boolean(refreshed.access_token),
  reuseRefused,
  revokedRefused,
  logoutStatus: logout.status,
  logoutLocation: logout.headers.get('location'),
}));

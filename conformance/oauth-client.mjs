// The TypeScript SDK client's own OAuth flow (`authProvider`) against the article app's
// authorization server, which protects `/mcp/slack` and sends users to log in at an upstream
// provider (oauth2-mock-server): the client registers, goes through the consent page and the
// upstream login and back, gets a token and calls a tool as the upstream user. Then what the
// server must refuse, each with the raw requests a client would send.
// With a second instance (same PUBLIC_URL, same Redis), one flow goes through both.
// Usage: node oauth-client.mjs <base url of the app> <upstream issuer> [<second instance's URL>]
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';
import crypto from 'node:crypto';
import { check } from './check.mjs';

const [base, upstream, second] = process.argv.slice(2);
const MCP = new URL('/mcp/slack', base);
// Nothing listens here: the flow ends at the redirect that points at it.
const REDIRECT = 'http://127.0.0.1:9/callback';

/** Follows a browser's way through `start`: redirects, cookies, the consent page's form.
 * `route` may send a request of the app to another instance. */
const pages = [];
async function browse(start, { decision = 'approve', stopAt = REDIRECT, route = (u) => u } = {}) {
  const jar = new Map();
  let url = String(start), method = 'GET', body;
  const seen = [];
  for (let hop = 0; hop < 20; hop++) {
    if (url.startsWith(stopAt)) return { url: new URL(url), seen };
    url = route(url, hop);
    const headers = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const r = await fetch(url, { method, body, headers, redirect: 'manual' });
    seen.push(`${method} ${new URL(url).pathname} ${r.status}`);
    for (const c of r.headers.getSetCookie()) {
      const kv = c.split(';')[0], i = kv.indexOf('=');
      jar.set(kv.slice(0, i).trim(), kv.slice(i + 1));
    }
    if (r.status >= 300 && r.status < 400) {
      url = new URL(r.headers.get('location'), url).href;
      method = 'GET';
      body = undefined;
      continue;
    }
    const html = await r.text();
    pages.push(html);
    const form = html.match(/<form\b[^>]*>([\s\S]*?)<\/form>/i);
    if (r.status !== 200 || !form) return { status: r.status, html, seen, headers: r.headers };
    const attr = (t, n) => t.match(new RegExp(`\\b${n}\\s*=\\s*"([^"]*)"`, 'i'))?.[1];
    const f = new URLSearchParams();
    for (const [t] of form[1].matchAll(/<input\b[^>]*>/gi)) if (attr(t, 'name')) f.append(attr(t, 'name'), attr(t, 'value') ?? '');
    f.append('decision', decision);
    url = new URL(attr(form[0], 'action'), url).href;
    method = 'POST';
    body = f.toString();
  }
  throw new Error('too many redirects');
}

class Provider {
  get redirectUrl() { return REDIRECT; }
  get clientMetadata() {
    return { client_name: 'SDK OAuth check', redirect_uris: [REDIRECT], response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none' };
  }
  state() { return (this._state = crypto.randomBytes(16).toString('base64url')); }
  clientInformation() { return this._client; }
  saveClientInformation(c) { this._client = c; }
  tokens() { return this._tokens; }
  saveTokens(t) { this._tokens = t; }
  codeVerifier() { return this._verifier; }
  saveCodeVerifier(v) { this._verifier = v; }
  discoveryState() { return this._discovery; }
  saveDiscoveryState(s) { this._discovery = s; }
  invalidateCredentials(what) {
    if (what === 'all' || what === 'client') this._client = undefined;
    if (what === 'all' || what === 'tokens') this._tokens = undefined;
  }
  async redirectToAuthorization(url) {
    const end = await browse(url);
    if (!end.url) throw new Error(`the flow stopped at ${end.status}: ${end.html?.slice(0, 300)}`);
    this.seen = end.seen;
    this.callback = end.url.searchParams;
  }
}

// 1. The SDK's own flow.
const provider = new Provider();
let client = new Client({ name: 'oauth-check', version: '1.0.0' });
let transport = new StreamableHTTPClientTransport(MCP, { authProvider: provider });
let refused;
try {
  await client.connect(transport);
} catch (e) {
  refused = e;
}
check(refused instanceof UnauthorizedError && provider.callback, `without a token the client is sent to authorize (${refused})`);
check(provider.callback.get('state') === provider._state, 'the state comes back');
check(provider.callback.get('iss') === base.replace(/\/$/, ''), 'the issuer is named in the answer (RFC 9207)');
check(provider.seen.some((s) => s.startsWith('POST /oauth/consent 303')), `the user went through the consent page (${provider.seen.join(', ')})`);
check(provider.seen.some((s) => s.startsWith('GET /authorize 302')), 'and through the upstream login');
await transport.finishAuth(provider.callback);
client = new Client({ name: 'oauth-check', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(MCP, { authProvider: provider }));
const posted = await client.callTool({ name: 'post_message', arguments: { channel: 'general', text: 'hello from OAuth' } });
check(!posted.isError && JSON.stringify(posted.structuredContent).includes('alice'), `a tool runs as the upstream user (${JSON.stringify(posted.structuredContent)})`);
await client.close();

// The raw protocol, for what must be refused.
const form = (o) => new URLSearchParams(o).toString();
const post = (path, fields) => fetch(new URL(path, base), {
  method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(fields),
});
// A stateless (2026-07-28) request: 200 with a token the mount accepts, 401 without.
const mcpStatus = async (token) => (await fetch(MCP, {
  method: 'POST',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json',
    accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28',
    'mcp-method': 'server/discover' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } }),
})).status;

const registered = await (await fetch(new URL('/oauth/register', base), {
  method: 'POST', headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ client_name: 'raw', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' }),
})).json();
const clientId = registered.client_id;
const verifier = crypto.randomBytes(32).toString('base64url');
const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
const authorizeUrl = (extra = {}) => {
  const u = new URL('/oauth/authorize', base);
  for (const [k, v] of Object.entries({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT,
    code_challenge: challenge, code_challenge_method: 'S256', state: 's1', resource: MCP.href, ...extra })) u.searchParams.set(k, v);
  return u;
};
const code = async () => (await browse(authorizeUrl())).url.searchParams.get('code');
const exchange = (c, v = verifier) => post('/oauth/token', { grant_type: 'authorization_code', code: c, code_verifier: v,
  redirect_uri: REDIRECT, client_id: clientId, resource: MCP.href });

// An unknown redirect URI: an error page, never a redirect.
const unknown = await fetch(authorizeUrl({ redirect_uri: 'https://attacker.example/cb' }), { redirect: 'manual' });
check(unknown.status === 400 && !unknown.headers.get('location'), 'an unknown redirect URI gets an error page, not a redirect');
// The user declines.
const declined = await browse(authorizeUrl(), { decision: 'deny' });
check(declined.url?.searchParams.get('error') === 'access_denied', 'a declined consent goes back as access_denied');
// A wrong verifier.
const wrong = await exchange(await code(), crypto.randomBytes(32).toString('base64url'));
check(wrong.status === 400 && (await wrong.json()).error === 'invalid_grant', 'a wrong PKCE verifier is refused');
// A code used twice: refused, and the tokens of its first use are revoked.
const c1 = await code();
const first = await (await exchange(c1)).json();
check(first.access_token && await mcpStatus(first.access_token) === 200, 'a code becomes a token the mount accepts');
const again = await exchange(c1);
check(again.status === 400 && (await again.json()).error === 'invalid_grant', 'a code used twice is refused');
check(await mcpStatus(first.access_token) === 401, 'and the token issued for it is revoked');
// A refresh token used twice: refused, and its whole family after.
const fresh = await (await exchange(await code())).json();
const rotated = await (await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: fresh.refresh_token, client_id: clientId })).json();
check(rotated.refresh_token && rotated.refresh_token !== fresh.refresh_token, 'a refresh rotates the refresh token');
const reused = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: fresh.refresh_token, client_id: clientId });
check(reused.status === 400 && (await reused.json()).error === 'invalid_grant', 'a refresh token used twice is refused');
const family = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: rotated.refresh_token, client_id: clientId });
check(family.status === 400, 'and its family after');
check(await mcpStatus(rotated.access_token) === 401, "and the family's access token");
// Revocation.
const kept = await (await exchange(await code())).json();
check(await mcpStatus(kept.access_token) === 200, 'a new grant works');
const revoked = await post('/oauth/revoke', { token: kept.refresh_token, client_id: clientId });
check(revoked.status === 200, 'revocation answers 200');
check(await mcpStatus(kept.access_token) === 401, "a revoked grant's access token is refused");
// Expired (the app runs with OAUTH_ACCESS_TOKEN_SECONDS=2).
const brief = await (await exchange(await code())).json();
check(await mcpStatus(brief.access_token) === 200, 'a short-lived token works at first');
await new Promise((r) => setTimeout(r, 8_000));
check(await mcpStatus(brief.access_token) === 401, 'and is refused once expired');
// The upstream's own token.
const theirs = await (await fetch(`${upstream}/token`, {
  method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: form({ grant_type: 'client_credentials', scope: 'chat:write' }),
})).json();
check(theirs.access_token && await mcpStatus(theirs.access_token) === 401, "the upstream provider's own token is refused");

// A client ID metadata document (the client_id an https URL) instead of registration, served by
// this script (CIMD_CERT_DIR: a certificate for 127.0.0.1 the app trusts).
if (process.env.CIMD_CERT_DIR) {
  const https = await import('node:https');
  const fs = await import('node:fs');
  const dir = process.env.CIMD_CERT_DIR;
  const fetched = [];
  const documents = new Map();
  const docServer = https.createServer(
    { key: fs.readFileSync(`${dir}/key.pem`), cert: fs.readFileSync(`${dir}/server.pem`) },
    (req, res) => {
      fetched.push(req.url);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      res.end(JSON.stringify(documents.get(req.url) ?? {}));
    },
  );
  await new Promise((r) => docServer.listen(0, '127.0.0.1', r));
  const at = (path) => `https://127.0.0.1:${docServer.address().port}${path}`;
  const docUrl = at('/clients/sdk-check.json');
  documents.set('/clients/sdk-check.json', { client_id: docUrl, client_name: 'SDK check by document',
    redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    token_endpoint_auth_method: 'none' });
  documents.set('/clients/liar.json', { client_id: at('/clients/other.json'), redirect_uris: [REDIRECT] });
  class DocumentProvider extends Provider {
    get clientMetadataUrl() { return docUrl; }
  }
  const byDocument = new DocumentProvider();
  const requested = [];
  const logged = (url, init) => { requested.push(String(url)); return fetch(url, init); };
  let docClient = new Client({ name: 'oauth-check', version: '1.0.0' });
  const docTransport = new StreamableHTTPClientTransport(MCP, { authProvider: byDocument, fetch: logged });
  try { await docClient.connect(docTransport); } catch (e) { if (!(e instanceof UnauthorizedError)) throw e; }
  check(byDocument.callback?.get('code'), 'a client named by its metadata document is sent through the flow');
  check(!requested.some((u) => u.endsWith('/oauth/register')), 'without registering');
  check(pages.some((p) => p.includes('SDK check by document')), "the consent page names the document's client");
  await docTransport.finishAuth(byDocument.callback);
  docClient = new Client({ name: 'oauth-check', version: '1.0.0' });
  await docClient.connect(new StreamableHTTPClientTransport(MCP, { authProvider: byDocument }));
  const listed = await docClient.listTools();
  check(listed.tools.some((t) => t.name === 'post_message'), 'and its token works');
  await docClient.close();
  check(fetched.filter((u) => u === '/clients/sdk-check.json').length === 1, `the document was fetched once, then kept (${fetched.join(', ')})`);
  const liar = new URL('/oauth/authorize', base);
  for (const [k, v] of Object.entries({ response_type: 'code', client_id: at('/clients/liar.json'), redirect_uri: REDIRECT,
    code_challenge: challenge, code_challenge_method: 'S256', resource: MCP.href })) liar.searchParams.set(k, v);
  const refusedDoc = await fetch(liar, { redirect: 'manual' });
  check(refusedDoc.status === 400 && /another client_id/.test(await refusedDoc.text()), 'a document naming another client_id is refused');
  docServer.close();
}

// Two instances on one Redis: each step of one flow on the other instance.
if (second) {
  const origin = new URL(base).origin;
  const other = new URL(second).origin;
  let n = 0;
  const alternate = (u) => (u.startsWith(origin) && n++ % 2 === 1 ? other + u.slice(origin.length) : u);
  const end = await browse(authorizeUrl(), { route: alternate });
  check(end.url?.searchParams.get('code'), `a flow crosses the instances (${end.seen.join(', ')})`);
  const onOther = await (await fetch(new URL('/oauth/token', second), {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ grant_type: 'authorization_code', code: end.url.searchParams.get('code'), code_verifier: verifier,
      redirect_uri: REDIRECT, client_id: clientId }),
  })).json();
  check(onOther.access_token, 'the code is exchanged on the other instance');
  const status = async (at) => (await fetch(new URL('/mcp/slack', at), {
    method: 'POST',
    headers: { authorization: `Bearer ${onOther.access_token}`, 'content-type': 'application/json',
      accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } }),
  })).status;
  check(await status(base) === 200 && await status(second) === 200, 'both instances accept its token');
  await post('/oauth/revoke', { token: onOther.refresh_token, client_id: clientId });
  check(await status(second) === 401, 'revoked on one, refused on the other');
}
console.log('ok: oauth checks done');

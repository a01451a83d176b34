// The upstream identity provider of the OAuth tests: oauth2-mock-server from npm, which logs
// every user in at once (its /authorize redirects straight back with a code). The user is
// `alice`; it checks the PKCE verifier when one is sent. Prints `listening on <issuer>`.
// Usage: node oauth-upstream.mjs
import { OAuth2Server, Events } from 'oauth2-mock-server';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
server.service.on(Events.BeforeTokenSigning, (token) => {
  // For the access token and the ID token alike.
  token.payload.sub = 'alice';
  token.payload.email = 'alice@example.com';
});
await server.start(0, '127.0.0.1');
const { port } = server.address();
// Its own name for itself would be http://localhost:<port>; the app is told this one.
server.issuer.url = `http://127.0.0.1:${port}`;
console.log(`listening on ${server.issuer.url}`);

// Drives one full FAPI 2.0 flow against Portcullis with oauth4webapi (an OpenID-certified FAPI
// 2.0 client library): discovery, PAR with private_key_jwt, the sign-in and consent pages (by
// form posts, as a browser would), callback validation, code exchange with PKCE, ID token
// validation, userinfo, refresh. VARIANT=dpop binds tokens with DPoP; VARIANT=mtls uses the mTLS
// endpoint aliases and certificate-bound tokens. Prints one JSON line; exits non-zero on failure.
import * as oauth from 'oauth4webapi'
import { Agent, fetch } from 'undici'
import { readFileSync } from 'node:fs'
import { lookup } from 'node:dns'

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}

const variant = env('VARIANT')
const issuer = new URL(env('ISSUER'))
const connect = {
  ca: readFileSync(env('CA_FILE')),
  lookup: (host, options, callback) => lookup(host, { ...options, family: 4 }, callback),
}
if (variant === 'mtls') {
  connect.cert = readFileSync(env('CLIENT_CERT'))
  connect.key = readFileSync(env('CLIENT_KEY'))
}
const dispatcher = new Agent({ connect })
const http = (url, init = {}) => fetch(url, { ...init, dispatcher })
const options = { [oauth.customFetch]: http }

const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...options, algorithm: 'oidc' }))
const client = { client_id: env('CLIENT_ID'), use_mtls_endpoint_aliases: variant === 'mtls' }
const jwk = JSON.parse(env('CLIENT_JWK'))
const key = await crypto.subtle.importKey('jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
const clientAuth = oauth.PrivateKeyJwt({ key, kid: jwk.kid })
const DPoP = variant === 'dpop' ? oauth.DPoP(client, await oauth.generateKeyPair('ES256')) : undefined

const redirectUri = env('REDIRECT_URI')
const codeVerifier = oauth.generateRandomCodeVerifier()
const nonce = oauth.generateRandomNonce()
const state = oauth.generateRandomState()
const parameters = {
  redirect_uri: redirectUri,
  scope: 'openid profile',
  code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
  code_challenge_method: 'S256',
  response_type: 'code',
  nonce,
  state,
}

// Retries once after a use_dpop_nonce challenge, as RFC 9449 §8 clients do.
async function withNonceRetry(request, process) {
  try {
    return await process(await request())
  } catch (err) {
    if (DPoP && oauth.isDPoPNonceError(err)) return process(await request())
    throw err
  }
}

const pushed = await withNonceRetry(
  () => oauth.pushedAuthorizationRequest(as, client, clientAuth, parameters, { ...options, DPoP }),
  (response) => oauth.processPushedAuthorizationResponse(as, client, response),
)

// The user's side: the pages, with a cookie jar and no automatic redirects.
const cookies = new Map()
async function page(url, form) {
  const headers = { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') }
  const init = { headers, redirect: 'manual' }
  if (form) {
    init.method = 'POST'
    init.body = new URLSearchParams(form).toString()
    headers['content-type'] = 'application/x-www-form-urlencoded'
  }
  const response = await http(url, init)
  for (const cookie of response.headers.getSetCookie()) {
    const [pair] = cookie.split(';')
    const [name, value] = pair.split('=')
    cookies.set(name, value)
  }
  return { status: response.status, location: response.headers.get('location'), body: await response.text() }
}
const field = (html, name) => {
  const match = html.match(new RegExp(`name="${name}" value="([^"]*)"`))
  if (!match) throw new Error(`no ${name} field`)
  return match[1].replace(/&#x2f;/gi, '/').replace(/&#x3a;/gi, ':').replace(/&amp;/g, '&').replace(/&#x3d;/gi, '=')
}
const authorize = new URL(as.authorization_endpoint)
authorize.searchParams.set('client_id', client.client_id)
authorize.searchParams.set('request_uri', pushed.request_uri)
let step = await page(authorize.href)
const hidden = (html) => ({ csrf_token: field(html, 'csrf_token'), client_id: field(html, 'client_id'), request_uri: field(html, 'request_uri') })
step = await page(new URL('/login', issuer).href, { ...hidden(step.body), username: env('USERNAME'), password: env('PASSWORD') })
if (step.status === 200) step = await page(new URL('/consent', issuer).href, { ...hidden(step.body), decision: 'approve' })
if (step.status !== 303 || !step.location) throw new Error(`no redirect to the client: ${step.status}`)

const callback = oauth.validateAuthResponse(as, client, new URL(step.location), state)
const tokens = await withNonceRetry(
  () => oauth.authorizationCodeGrantRequest(as, client, clientAuth, callback, redirectUri, codeVerifier, { ...options, DPoP }),
  (response) => oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: true }),
)
const claims = oauth.getValidatedIdTokenClaims(tokens)
const userinfo = await withNonceRetry(
  () => oauth.userInfoRequest(as, client, tokens.access_token, { ...options, DPoP }),
  (response) => oauth.processUserInfoResponse(as, client, claims.sub, response),
)
const refreshed = await withNonceRetry(
  () => oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, { ...options, DPoP }),
  (response) => oauth.processRefreshTokenResponse(as, client, response),
)
console.log(JSON.stringify({
  ok: true,
  variant,
  token_type: tokens.token_type,
  refreshed_token_type: refreshed.token_type,
  sub: claims.sub,
  userinfo_sub: userinfo.sub,
  preferred_username: userinfo.preferred_username,
}))

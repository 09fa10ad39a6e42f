// The public GraphQL API: requests, the signed-in session (with refresh), subscriptions over
// graphql-transport-ws, and which optional parts of the schema this server has.

/** An error answered by the API (`code` is its `extensions.code`). */
export class ApiError extends Error {
  constructor(code, message, extensions = {}) {
    super(message);
    this.code = code;
    this.extensions = extensions;
  }
}

let sessionKey = 'zouqin.session';
const listeners = new Set();

/** The session store of one page (`residents`, `door`, `staff` keep separate sign-ins). */
export function useSessionKey(name) {
  sessionKey = `zouqin.session.${name}`;
}

/** The signed-in session, or null: `{accessToken, refreshToken, expiresAt, account}`. */
export function session() {
  try {
    return JSON.parse(localStorage.getItem(sessionKey));
  } catch {
    return null;
  }
}

function setSession(value) {
  if (value) localStorage.setItem(sessionKey, JSON.stringify(value));
  else localStorage.removeItem(sessionKey);
  listeners.forEach((f) => f(value));
  restartSocket();
}

/** Calls `f(session)` whenever the session changes. */
export function onSession(f) {
  listeners.add(f);
}

async function post(query, variables, token) {
  // Plain JSON: GraphQL errors (a refused token too) come back as 200 with `errors`, so a
  // refresh the page handles itself is no failed request in the console.
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  } catch {
    throw new ApiError('NETWORK', 'network');
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(response.status === 503 ? 'UNAVAILABLE' : 'INTERNAL', `HTTP ${response.status}`);
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const ext = first.extensions || {};
    throw new ApiError(ext.code || 'INTERNAL', first.message, ext);
  }
  return body.data;
}

const AUTH_FIELDS = 'accessToken refreshToken expiresAt account { id email displayName role center { id name code } homeCenter { id name code } }';

let refreshing = null;
async function refresh() {
  const current = session();
  if (!current) return null;
  if (!refreshing) {
    refreshing = post(`mutation($t: String!) { refreshToken(refreshToken: $t) { ${AUTH_FIELDS} } }`, { t: current.refreshToken })
      .then((d) => {
        setSession(d.refreshToken);
        return d.refreshToken;
      })
      .catch((e) => {
        if (e.code === 'UNAUTHENTICATED') setSession(null);
        throw e;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** A fresh access token (refreshing a session about to expire), or null. */
async function accessToken() {
  let current = session();
  if (current && Date.parse(current.expiresAt) - Date.now() < 60_000) {
    try {
      current = await refresh();
    } catch {
      current = session();
    }
  }
  return current ? current.accessToken : null;
}

/** Runs a query or mutation, signed in when there is a session; retries once after a refresh. */
export async function gql(query, variables = {}) {
  const token = await accessToken();
  try {
    return await post(query, variables, token);
  } catch (e) {
    if (e.code === 'UNAUTHENTICATED' && token) {
      const renewed = await refresh().catch(() => null);
      if (renewed) return post(query, variables, renewed.accessToken);
    }
    throw e;
  }
}

/** Signs in with email and password. */
export async function login(email, password) {
  const d = await post(`mutation($e: String!, $p: String!) { login(email: $e, password: $p) { ${AUTH_FIELDS} } }`, { e: email, p: password });
  setSession(d.login);
  return d.login;
}

/** Registers a resident and signs it in. */
export async function register(input) {
  const d = await post(`mutation($i: RegisterResidentInput!) { registerResident(input: $i) { ${AUTH_FIELDS} } }`, { i: input });
  setSession(d.registerResident);
  return d.registerResident;
}

/** Ends the session on the server and here. */
export async function logout() {
  const current = session();
  setSession(null);
  if (current) await post('mutation($t: String!) { logout(refreshToken: $t) }', { t: current.refreshToken }).catch(() => {});
}

/**
 * The optional fields the pages use, each with a probe document for servers that answer no
 * introspection (`ZOUQIN_INTROSPECTION=false`): the field is skipped (`@skip(if: true)`), so
 * nothing runs, but validation still says whether it exists.
 */
const OPTIONAL = {
  Performance: { seatsAvailableToViewer: '', waitlistLength: '', sharesReleaseAt: '', production: '{ id }', seatShares: '{ seats }', viewerWaitlistEntry: '{ id }' },
  Query: { myWaitlist: '(first: 0) { totalCount }', myNotifications: '(first: 0) { totalCount }', exchangeReport: '(year: 2000) { attendances }' },
  Mutation: { joinWaitlist: '(input: { performanceId: "0", quantity: 1 }) { id }', followProduction: '(id: "0") { id }', markNotificationsRead: '' },
  Subscription: { notificationAdded: '{ id }' },
};

function probe(type, name, rest) {
  const field = `${name}${rest.startsWith('(') ? rest.replace(/\)/, ') @skip(if: true)') : ` @skip(if: true) ${rest}`}`;
  if (type === 'Performance') return `query { performances(first: 0) { nodes { ${field} } } }`;
  return `${type === 'Query' ? 'query' : type.toLowerCase()} { ${field} }`;
}

/** Which optional fields the schema has: `has('Performance', 'seatShares')`. */
export async function features() {
  const types = Object.keys(OPTIONAL);
  const query = `{ ${types.map((t) => `${t}: __type(name: "${t}") { fields { name } }`).join(' ')} }`;
  const known = {};
  let introspected = false;
  try {
    const d = await post(query, {});
    introspected = Boolean(d.Query);
    for (const t of types) known[t] = new Set(((d[t] && d[t].fields) || []).map((f) => f.name));
  } catch {
    introspected = false;
  }
  if (!introspected) {
    const checks = types.flatMap((t) => Object.entries(OPTIONAL[t]).map(([name, rest]) => [t, name, rest]));
    const answers = await Promise.all(checks.map(([t, name, rest]) => post(probe(t, name, rest), {})
      .then(() => true)
      .catch((e) => e.code !== 'GRAPHQL_VALIDATION_FAILED' && e.code !== 'GRAPHQL_PARSE_FAILED' && e.code !== 'NETWORK')));
    for (const t of types) known[t] = new Set();
    checks.forEach(([t, name], i) => { if (answers[i]) known[t].add(name); });
  }
  return { has: (type, name) => Boolean(known[type] && known[type].has(name)) };
}

/** Fetches a file with the session's bearer token (the CSV report) as a Blob. */
export async function download(path) {
  const token = await accessToken();
  let response;
  try {
    response = await fetch(path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch {
    throw new ApiError('NETWORK', 'network');
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const ext = (body.errors && body.errors[0] && body.errors[0].extensions) || {};
    throw new ApiError(ext.code || 'INTERNAL', `HTTP ${response.status}`, ext);
  }
  return response.blob();
}

// --- subscriptions (graphql-transport-ws) ------------------------------------------------

const subscriptions = new Map();
let socket = null;
let socketReady = false;
let nextId = 1;
let retry = 0;
let reconnectTimer = null;
const reconnectListeners = new Set();

function send(message) {
  if (socket && socketReady) socket.send(JSON.stringify(message));
}

function startSubscription(id, sub) {
  send({ id, type: 'subscribe', payload: { query: sub.query, variables: sub.variables } });
}

async function openSocket() {
  if (socket || subscriptions.size === 0) return;
  const token = await accessToken();
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;
  const ws = new WebSocket(url, 'graphql-transport-ws');
  socket = ws;
  socketReady = false;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: token ? { Authorization: `Bearer ${token}` } : {} }));
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === 'connection_ack') {
      socketReady = true;
      const wasRetry = retry > 0;
      retry = 0;
      for (const [id, sub] of subscriptions) startSubscription(id, sub);
      if (wasRetry) reconnectListeners.forEach((f) => f());
    } else if (msg.type === 'ping') {
      ws.send(JSON.stringify({ type: 'pong' }));
    } else if (msg.type === 'next' && subscriptions.has(msg.id)) {
      const payload = msg.payload || {};
      if (payload.data) subscriptions.get(msg.id).onData(payload.data);
    }
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    socketReady = false;
    if (subscriptions.size === 0) return;
    retry += 1;
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(openSocket, Math.min(30_000, 500 * 2 ** retry));
  };
}

function restartSocket() {
  if (!socket) return;
  const old = socket;
  socket = null;
  socketReady = false;
  old.close();
  openSocket();
}

/** Subscribes; returns a function that stops it. `onData` gets each event's `data`. */
export function subscribe(query, variables, onData) {
  const id = String(nextId++);
  const sub = { query, variables, onData };
  subscriptions.set(id, sub);
  if (socket && socketReady) startSubscription(id, sub);
  else openSocket();
  return () => {
    subscriptions.delete(id);
    send({ id, type: 'complete' });
  };
}

/** Calls `f` after the socket came back from a drop (so a page can catch up on what it missed). */
export function onReconnect(f) {
  reconnectListeners.add(f);
  return () => reconnectListeners.delete(f);
}

#!/usr/bin/env node
// A local stand-in for Pinata (https://docs.pinata.cloud), for the local network and tests.
//
//   node scripts/pinata-standin.mjs --port P --ipfs-api http://127.0.0.1:Q --jwt-file FILE
//       [--state FILE] [--max-body-bytes N]
//
// It serves the part of Pinata's API a backup client uses, with Pinata's request and answer
// shapes, and keeps the content on a real IPFS node (its RPC API, as Kubo and js-ipfs serve it),
// so CIDs are real IPFS CIDs (CIDv0, as `ipfs add` gives by default):
//
//   POST   /v3/files                    multipart `file`, `network`, `name`, `keyvalues`
//   GET    /v3/files/{network}          listing; filters `cid`, `name`, `mimeType`, `limit`
//   GET    /v3/files/{network}/{id}     one file
//   DELETE /v3/files/{network}/{id}     unpins (when no other file holds the same CID)
//   POST   /pinning/pinFileToIPFS       legacy upload: multipart `file`, `pinataMetadata`,
//                                       `pinataOptions` ({"cidVersion": 0|1})
//   DELETE /pinning/unpin/{cid}         legacy unpin
//   GET    /data/testAuthentication     checks the JWT
//   GET    /ipfs/{cid}                  the gateway (no token needed, as a public gateway)
//   POST   /__standin/tamper?cid=CID[&off=1]   test only: gateway reads of CID come back with
//                                       one byte flipped (or, with off=1, intact again)
//
// Every /v3, /pinning, /data and /__standin call needs `Authorization: Bearer <JWT>`, the JWT
// being the content of --jwt-file (read from a file so it never shows in a process list).
// Errors are JSON: v3 routes answer `{"error": {"code", "message"}}` and legacy routes
// `{"error": {"reason", "details"}}`, as Pinata's do.
//
// File records (ids, names, keyvalues) are kept in --state (written atomically after each
// change) so they survive restarts along with the IPFS node's pins; without it they live in
// memory. Plain Node 20, no npm dependencies.

import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

/** Largest request body accepted, unless --max-body-bytes says otherwise: 100 MiB. */
const DEFAULT_MAX_BODY_BYTES = 100 * 1024 * 1024;

/**
 * How long the gateway waits for the IPFS node to find a CID's root: an offline node never
 * finds what it does not hold, and would otherwise wait forever.
 */
const LOOKUP_TIMEOUT = '2s';

/**
 * How long a read of the content itself may take. js-ipfs applies an RPC `timeout` to the
 * whole streamed answer (cutting it short once passed), so the read gets a generous one of its
 * own, after the quick lookup, and its length is checked.
 */
const CAT_TIMEOUT = '300s';

/** How long any call to the IPFS node may take (an add of the largest body included). */
const IPFS_CALL_TIMEOUT_MS = 310_000;

const NETWORKS = new Set(['public', 'private']);

/** CIDv0 (base58btc, `Qm…`) or CIDv1 in base32 (`b…`): what a gateway path may hold. */
const CID_PATTERN = /^(Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{20,})$/;

/** An error that becomes an HTTP answer. */
class HttpError extends Error {
  constructor(status, message, reason = undefined) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

function main() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      'ipfs-api': { type: 'string' },
      'jwt-file': { type: 'string' },
      state: { type: 'string' },
      'max-body-bytes': { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fail('--port must be a port number');
  }
  if (!values['ipfs-api']) fail('--ipfs-api is needed (the IPFS node RPC API base URL)');
  if (!values['jwt-file']) fail('--jwt-file is needed');
  const jwt = readFileSync(values['jwt-file'], 'utf8').trim();
  if (!jwt) fail(`${values['jwt-file']} is empty`);
  const maxBodyBytes = values['max-body-bytes']
    ? Number(values['max-body-bytes'])
    : DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes <= 0) {
    fail('--max-body-bytes must be a positive integer');
  }
  const context = {
    ipfs: values['ipfs-api'].replace(/\/+$/, ''),
    jwtDigest: sha256(jwt),
    maxBodyBytes,
    store: new Store(values.state),
    tampered: new Set(),
  };
  const server = createServer((request, response) => {
    handle(context, request, response).catch((error) => {
      console.error(`${request.method} ${request.url}: ${error.stack ?? error}`);
      if (!response.headersSent) {
        sendError(response, routeKind(request.url), new HttpError(500, 'internal error'));
      } else {
        response.destroy();
      }
    });
  });
  server.listen(port, '127.0.0.1', () => {
    console.log(`pinata stand-in listening on http://127.0.0.1:${server.address().port}`);
  });
  // Stop on the signals a process group gets, finishing nothing: state is already on disk.
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => process.exit(0));
  }
}

function fail(message) {
  console.error(`pinata stand-in: ${message}`);
  process.exit(2);
}

function sha256(text) {
  return createHash('sha256').update(text).digest();
}

// ---------------------------------------------------------------------------------------------
// Routing

/** Which error shape a path answers with: 'v3', 'legacy' or 'plain'. */
function routeKind(url) {
  const path = (url ?? '/').split('?')[0];
  if (path.startsWith('/v3/')) return 'v3';
  if (path.startsWith('/pinning/') || path.startsWith('/data/')) return 'legacy';
  return 'plain';
}

async function handle(context, request, response) {
  const kind = routeKind(request.url);
  const method = request.method ?? 'GET';
  try {
    // Prefixed rather than resolved, so a path like `//x` stays a path.
    const url = new URL(`http://127.0.0.1${request.url ?? '/'}`);
    const segments = pathSegments(url.pathname);
    // The gateway is public, as a Pinata gateway is for public content.
    if (segments[0] === 'ipfs' && segments.length === 2 && ['GET', 'HEAD'].includes(method)) {
      return await gateway(context, segments[1], method, response);
    }
    const route = findRoute(method, segments);
    if (!route) {
      throw new HttpError(404, `no route for ${method} ${url.pathname}`, 'NOT_FOUND');
    }
    authorize(context, request);
    const body = route.body ? await readBody(request, context.maxBodyBytes) : undefined;
    const answer = await route.run(context, { url, segments, body, request });
    sendJson(response, 200, answer);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    // Unread request bodies are drained, so the client sees the answer rather than a reset.
    request.resume();
    sendError(response, kind, error);
  }
}

/** A path's segments, percent-decoded. */
function pathSegments(path) {
  try {
    return path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw new HttpError(400, 'the path is not valid percent-encoding');
  }
}

/** The API's routes: method, path shape (`:x` matches one segment), handler. */
const ROUTES = [
  { method: 'POST', path: ['v3', 'files'], body: true, run: uploadV3 },
  { method: 'GET', path: ['v3', 'files', ':network'], run: listV3 },
  { method: 'GET', path: ['v3', 'files', ':network', ':id'], run: getV3 },
  { method: 'DELETE', path: ['v3', 'files', ':network', ':id'], run: deleteV3 },
  { method: 'POST', path: ['pinning', 'pinFileToIPFS'], body: true, run: pinFileToIpfs },
  { method: 'DELETE', path: ['pinning', 'unpin', ':cid'], run: unpinLegacy },
  { method: 'GET', path: ['data', 'testAuthentication'], run: testAuthentication },
  { method: 'POST', path: ['__standin', 'tamper'], run: tamper },
];

function findRoute(method, segments) {
  return ROUTES.find(
    (route) =>
      route.method === method &&
      route.path.length === segments.length &&
      route.path.every((part, index) => part.startsWith(':') || part === segments[index]),
  );
}

/** The bearer token must be the JWT; compared by digest, so in constant time. */
function authorize(context, request) {
  const header = request.headers.authorization;
  if (!header) {
    throw new HttpError(401, 'no Authorization header found', 'NO_AUTH');
  }
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!match || !timingSafeEqual(sha256(match[1].trim()), context.jwtDigest)) {
    throw new HttpError(401, 'Invalid/expired credentials', 'INVALID_CREDENTIALS');
  }
}

// ---------------------------------------------------------------------------------------------
// Handlers

async function uploadV3(context, { request, body }) {
  const form = parseMultipart(request.headers['content-type'], body);
  const file = requireFile(form);
  const network = form.fields.get('network') ?? 'private';
  requireNetwork(network);
  const keyvalues = parseKeyvalues(form.fields.get('keyvalues'));
  const added = await ipfsAdd(context, file, 0);
  const record = {
    id: randomUUID(),
    name: form.fields.get('name') || file.filename || 'file',
    cid: added.cid,
    size: file.data.length,
    number_of_files: 1,
    mime_type: file.contentType,
    network,
    group_id: form.fields.get('group_id') || null,
    keyvalues,
    created_at: new Date().toISOString(),
  };
  context.store.add(record);
  return { data: record };
}

function listV3(context, { url, segments }) {
  const network = segments[2];
  requireNetwork(network);
  const filters = url.searchParams;
  let files = context.store
    .all()
    .filter((record) => record.network === network && !record.legacy)
    .filter((record) => !filters.has('cid') || record.cid === filters.get('cid'))
    .filter((record) => !filters.has('name') || record.name === filters.get('name'))
    .filter((record) => !filters.has('mimeType') || record.mime_type === filters.get('mimeType'))
    .sort((a, b) => b.created_at.localeCompare(a.created_at));
  if (filters.has('limit')) {
    const limit = Number(filters.get('limit'));
    if (!Number.isInteger(limit) || limit < 0) throw new HttpError(400, 'limit must be a number');
    files = files.slice(0, limit);
  }
  return { data: { files: files.map(publicRecord), next_page_token: null } };
}

function getV3(context, { segments }) {
  return { data: publicRecord(findV3(context, segments[2], segments[3])) };
}

async function deleteV3(context, { segments }) {
  const record = findV3(context, segments[2], segments[3]);
  // Two uploads of the same bytes share a CID: unpin only when no other file holds it.
  const shared = context.store
    .all()
    .some((other) => other.cid === record.cid && other.id !== record.id);
  if (!shared) await ipfsUnpin(context, record.cid);
  context.store.remove(record.id);
  return { data: null };
}

async function pinFileToIpfs(context, { request, body }) {
  const form = parseMultipart(request.headers['content-type'], body);
  const file = requireFile(form);
  const metadata = parseJsonField(form.fields.get('pinataMetadata'), 'pinataMetadata');
  const options = parseJsonField(form.fields.get('pinataOptions'), 'pinataOptions');
  const cidVersion = options.cidVersion ?? 0;
  if (cidVersion !== 0 && cidVersion !== 1) {
    throw new HttpError(400, 'pinataOptions.cidVersion must be 0 or 1', 'INVALID_OPTIONS');
  }
  const added = await ipfsAdd(context, file, cidVersion);
  const timestamp = new Date().toISOString();
  context.store.add({
    id: randomUUID(),
    name: typeof metadata.name === 'string' ? metadata.name : file.filename || 'file',
    cid: added.cid,
    size: file.data.length,
    number_of_files: 1,
    mime_type: file.contentType,
    network: 'public',
    group_id: null,
    keyvalues: metadata.keyvalues ?? {},
    created_at: timestamp,
    legacy: true,
  });
  // PinSize is the size of the whole DAG (blocks with their links), as IPFS reports it.
  return { IpfsHash: added.cid, PinSize: added.dagSize, Timestamp: timestamp };
}

async function unpinLegacy(context, { segments }) {
  const cid = segments[2];
  if (!context.store.holds(cid)) {
    throw new HttpError(404, 'The current user has not pinned the cid: ' + cid,
      'CURRENT_USER_HAS_NOT_PINNED_CID');
  }
  await ipfsUnpin(context, cid);
  context.store.removeCid(cid);
  return 'OK';
}

function testAuthentication() {
  return { message: 'Congratulations! You are communicating with the Pinata API!' };
}

function tamper(context, { url }) {
  const cid = url.searchParams.get('cid');
  if (!cid || !CID_PATTERN.test(cid)) throw new HttpError(400, 'cid must be a CID');
  const off = url.searchParams.get('off') === '1';
  if (off) context.tampered.delete(cid);
  else context.tampered.add(cid);
  return { data: { cid, tampered: !off } };
}

/** `GET /ipfs/{cid}`: the bytes, one of them flipped when the CID is being tampered with. */
async function gateway(context, cid, method, response) {
  if (!CID_PATTERN.test(cid)) throw new HttpError(400, `invalid CID: ${cid}`);
  const bytes = await ipfsCat(context, cid);
  if (context.tampered.has(cid) && bytes.length > 0) {
    // The middle byte: past any header, so a digest or authentication check has to catch it.
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  }
  const record = context.store.all().find((candidate) => candidate.cid === cid);
  response.writeHead(200, {
    'content-type': record?.mime_type ?? 'application/octet-stream',
    'content-length': bytes.length,
    etag: `"${cid}"`,
    'x-ipfs-path': `/ipfs/${cid}`,
  });
  response.end(method === 'HEAD' ? undefined : bytes);
}

// ---------------------------------------------------------------------------------------------
// Validation helpers

function requireFile(form) {
  if (form.files.length !== 1 || form.files[0].name !== 'file') {
    throw new HttpError(400, 'the form must carry exactly one file, in the field "file"',
      'INVALID_FILE');
  }
  return form.files[0];
}

function requireNetwork(network) {
  if (!NETWORKS.has(network)) {
    throw new HttpError(400, `network must be "public" or "private", not "${network}"`);
  }
}

function parseKeyvalues(text) {
  const value = parseJsonField(text, 'keyvalues');
  if (Object.values(value).some((entry) => typeof entry !== 'string')) {
    throw new HttpError(400, 'keyvalues must map names to strings');
  }
  return value;
}

/** An optional form field holding a JSON object. */
function parseJsonField(text, name) {
  if (text === undefined || text === '') return {};
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, `${name} is not valid JSON`, 'INVALID_JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, `${name} must be a JSON object`, 'INVALID_JSON');
  }
  return value;
}

function findV3(context, network, id) {
  requireNetwork(network);
  const record = context.store.get(id);
  if (!record || record.legacy || record.network !== network) {
    throw new HttpError(404, `file not found: ${id}`);
  }
  return record;
}

/** A record as the API shows it (without the stand-in's own bookkeeping). */
function publicRecord(record) {
  const { legacy: _legacy, ...shown } = record;
  return shown;
}

// ---------------------------------------------------------------------------------------------
// The IPFS node's RPC API (every call is a POST)

async function ipfsCall(context, path, { body, timeoutMs = IPFS_CALL_TIMEOUT_MS } = {}) {
  let answer;
  try {
    answer = await fetch(`${context.ipfs}/api/v0/${path}`, {
      method: 'POST',
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new HttpError(502, `the IPFS node did not answer: ${error.message}`, 'IPFS_UNAVAILABLE');
  }
  if (!answer.ok) {
    const text = await answer.text();
    let message = text;
    try {
      message = JSON.parse(text).Message ?? text;
    } catch {
      // Not JSON: keep the text.
    }
    return { ok: false, status: answer.status, message };
  }
  return { ok: true, answer };
}

/** Adds and pins one file; its CID and the size of its DAG. */
async function ipfsAdd(context, file, cidVersion) {
  const form = new FormData();
  // No name or mode in the part: only the bytes decide the CID.
  form.append('file', new Blob([file.data]), 'file');
  const query = `add?pin=true&cid-version=${cidVersion}&progress=false`;
  const result = await ipfsCall(context, query, { body: form });
  if (!result.ok) throw new HttpError(502, `IPFS add failed: ${result.message}`, 'IPFS_ERROR');
  // One JSON object per line; the last one is the file's.
  const lines = (await result.answer.text()).trim().split('\n');
  const added = JSON.parse(lines[lines.length - 1]);
  // Kubo gives Size as a string, js-ipfs as a number.
  return { cid: added.Hash, dagSize: Number(added.Size) };
}

async function ipfsUnpin(context, cid) {
  const result = await ipfsCall(context, `pin/rm?arg=${encodeURIComponent(cid)}`);
  // Already unpinned is what was wanted.
  if (!result.ok && !/not pinned/i.test(result.message)) {
    throw new HttpError(502, `IPFS unpin failed: ${result.message}`, 'IPFS_ERROR');
  }
}

/** A file's bytes: its size looked up quickly (404 when the node does not hold it), then
 * read in full, and checked to be that long (a read cut short is an error, not content). */
async function ipfsCat(context, cid) {
  const arg = encodeURIComponent(cid);
  const stat = await ipfsCall(context, `files/stat?arg=/ipfs/${arg}&timeout=${LOOKUP_TIMEOUT}`);
  if (!stat.ok) {
    // An offline node cannot find what it does not hold: the lookup times out.
    if (/timed out|not found|no link/i.test(stat.message)) {
      throw new HttpError(404, `not found: ${cid}`);
    }
    if (stat.status === 400) throw new HttpError(400, `invalid CID: ${stat.message}`);
    throw new HttpError(502, `IPFS lookup failed: ${stat.message}`, 'IPFS_ERROR');
  }
  const { Type: type, Size: size } = await stat.answer.json();
  if (type !== 'file') throw new HttpError(400, `${cid} is a ${type}, not a file`);
  const result = await ipfsCall(context, `cat?arg=${arg}&timeout=${CAT_TIMEOUT}`);
  if (!result.ok) throw new HttpError(502, `IPFS cat failed: ${result.message}`, 'IPFS_ERROR');
  let bytes;
  try {
    bytes = Buffer.from(await result.answer.arrayBuffer());
  } catch (error) {
    throw new HttpError(502, `IPFS cat failed: ${error.message}`, 'IPFS_ERROR');
  }
  if (bytes.length !== Number(size)) {
    throw new HttpError(502, `IPFS cat gave ${bytes.length} of ${size} bytes`, 'IPFS_ERROR');
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Request bodies and multipart/form-data

/** The whole body, or a 413 once it passes the limit (the rest is drained, not kept). */
function readBody(request, maxBodyBytes) {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBodyBytes) {
    return Promise.reject(tooLarge(maxBodyBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks = [];
    let length = 0;
    let overflow = false;
    request.on('data', (chunk) => {
      length += chunk.length;
      if (length > maxBodyBytes) overflow = true;
      if (!overflow) chunks.push(chunk);
    });
    request.on('end', () =>
      overflow ? reject(tooLarge(maxBodyBytes)) : resolve(Buffer.concat(chunks, length)),
    );
    request.on('error', reject);
  });
}

function tooLarge(maxBodyBytes) {
  return new HttpError(413, `the request body is larger than ${maxBodyBytes} bytes`,
    'PAYLOAD_TOO_LARGE');
}

/**
 * Parses a multipart/form-data body (RFC 7578): `fields` maps text field names to values and
 * `files` lists parts with a filename. Binary-safe: parts are cut at the boundary delimiter,
 * which is searched as bytes.
 */
function parseMultipart(contentType, body) {
  const boundary = multipartBoundary(contentType);
  const delimiter = Buffer.from(`--${boundary}`);
  const fields = new Map();
  const files = [];
  let start = body.indexOf(delimiter);
  if (start < 0) throw new HttpError(400, 'the multipart body has no boundary', 'INVALID_FORM');
  for (;;) {
    let position = start + delimiter.length;
    // `--` after a delimiter closes the body.
    if (body[position] === 0x2d && body[position + 1] === 0x2d) break;
    position = skipLineEnd(body, position);
    const headersEnd = body.indexOf('\r\n\r\n', position);
    if (headersEnd < 0) throw new HttpError(400, 'a multipart part has no headers', 'INVALID_FORM');
    const headers = parsePartHeaders(body.subarray(position, headersEnd).toString('utf8'));
    const dataStart = headersEnd + 4;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), dataStart);
    if (next < 0) throw new HttpError(400, 'the multipart body is truncated', 'INVALID_FORM');
    const data = body.subarray(dataStart, next);
    const disposition = parseDisposition(headers.get('content-disposition'));
    if (disposition.filename !== undefined) {
      files.push({
        name: disposition.name,
        filename: disposition.filename,
        contentType: headers.get('content-type') || 'application/octet-stream',
        data,
      });
    } else {
      fields.set(disposition.name, data.toString('utf8'));
    }
    start = next + 2;
  }
  return { fields, files };
}

function multipartBoundary(contentType) {
  const match = /^multipart\/form-data\s*;(.*)$/i.exec(contentType ?? '');
  const boundary = match && parameters(match[1]).get('boundary');
  if (!boundary || boundary.length > 200) {
    throw new HttpError(400, 'the content type must be multipart/form-data with a boundary',
      'INVALID_FORM');
  }
  return boundary;
}

function skipLineEnd(body, position) {
  if (body[position] === 0x0d && body[position + 1] === 0x0a) return position + 2;
  throw new HttpError(400, 'a multipart delimiter is not followed by a line end', 'INVALID_FORM');
}

function parsePartHeaders(text) {
  const headers = new Map();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpError(400, 'a multipart header is malformed', 'INVALID_FORM');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

function parseDisposition(value) {
  const match = /^form-data\s*(;.*)?$/i.exec(value ?? '');
  const params = match && parameters(match[1] ?? '');
  if (!params || !params.has('name')) {
    throw new HttpError(400, 'a multipart part lacks Content-Disposition: form-data; name=…',
      'INVALID_FORM');
  }
  return { name: params.get('name'), filename: params.get('filename') };
}

/** `; a=1; b="x \"y\""` → Map {a → 1, b → x "y"}; names lowercased. */
function parameters(text) {
  const result = new Map();
  const pattern = /;?\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^;\s]*)\s*/g;
  for (const match of text.matchAll(pattern)) {
    const value = match[3] !== undefined ? match[3].replace(/\\(.)/g, '$1') : match[2];
    result.set(match[1].toLowerCase(), value);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Answers

function sendJson(response, status, value) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  response.writeHead(status, {
    'content-type': typeof value === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/** Pinata's error shapes: `{error: {code, message}}` on v3, `{error: {reason, details}}` on
 * the legacy API. */
function sendError(response, kind, error) {
  const body =
    kind === 'legacy'
      ? { error: { reason: error.reason ?? statusReason(error.status), details: error.message } }
      : { error: { code: error.status, message: error.message } };
  sendJson(response, error.status, body);
}

function statusReason(status) {
  return { 400: 'BAD_REQUEST', 404: 'NOT_FOUND', 413: 'PAYLOAD_TOO_LARGE' }[status] ?? 'ERROR';
}

// ---------------------------------------------------------------------------------------------
// File records

/** The file records, by id; saved to `path` (when given) after every change. */
class Store {
  constructor(path) {
    this.path = path;
    this.records = new Map();
    if (path) {
      let text;
      try {
        text = readFileSync(path, 'utf8');
      } catch (error) {
        if (error.code !== 'ENOENT') throw error;
      }
      for (const record of text ? JSON.parse(text).files : []) {
        this.records.set(record.id, record);
      }
    }
  }

  all() {
    return [...this.records.values()];
  }

  get(id) {
    return this.records.get(id);
  }

  holds(cid) {
    return this.all().some((record) => record.cid === cid);
  }

  add(record) {
    this.records.set(record.id, record);
    this.save();
  }

  remove(id) {
    this.records.delete(id);
    this.save();
  }

  removeCid(cid) {
    for (const record of this.all()) {
      if (record.cid === cid) this.records.delete(record.id);
    }
    this.save();
  }

  /** Written to a temporary file and renamed, so a crash never leaves half a file. */
  save() {
    if (!this.path) return;
    const temporary = `${this.path}.tmp`;
    writeFileSync(temporary, JSON.stringify({ files: this.all() }, null, 1));
    renameSync(temporary, this.path);
  }
}

main();

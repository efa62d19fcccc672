// The edgeledger dashboard: polls the public API of this origin every second and draws what
// it reads. No framework, no build step; served by the sequencer Worker under a strict CSP
// (same-origin scripts, styles and connections only, no inline code).
'use strict';

const POLL_MS = 1000;
const WINDOW_MS = 120 * 1000;
const RECENT_BLOCKS = 10;
const TOKEN_KEY = 'edgeledger.adminToken';

const $ = (id) => document.getElementById(id);

// ---- small DOM helpers (text only: nothing the API returns is parsed as HTML) ----

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function setText(id, text) {
  const node = $(id);
  if (node.textContent !== String(text)) node.textContent = String(text);
}

function shortHash(hash) {
  return typeof hash === 'string' && hash.length > 18 ? `${hash.slice(0, 10)}…${hash.slice(-6)}` : String(hash);
}

function formatAge(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  if (seconds < 0) seconds = 0;
  if (seconds < 60) return `${seconds.toFixed(0)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.floor(seconds % 60)} s`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

function formatNumber(value, digits) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return value.toFixed(digits);
}

function formatWei(hex) {
  try {
    const wei = BigInt(hex);
    const unit = 10n ** 18n;
    const whole = wei / unit;
    const fraction = (wei % unit).toString().padStart(18, '0').replace(/0+$/, '');
    return `${whole}${fraction ? '.' + fraction : ''} ETH (${wei} wei)`;
  } catch {
    return String(hex);
  }
}

// ---- Prometheus text exposition ----

function parseLabels(text) {
  const labels = {};
  const pattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let match;
  while ((match = pattern.exec(text)) !== null) {
    labels[match[1]] = match[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  }
  return labels;
}

/** Every sample as {name, labels, value}. */
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    let value = Number(match[3]);
    if (match[3] === '+Inf') value = Infinity;
    else if (match[3] === '-Inf') value = -Infinity;
    samples.push({ name: match[1], labels: match[2] ? parseLabels(match[2]) : {}, value });
  }
  return samples;
}

function metric(samples, name, labels) {
  const found = samples.find(
    (sample) =>
      sample.name === name &&
      Object.entries(labels || {}).every(([key, value]) => sample.labels[key] === value),
  );
  return found ? found.value : null;
}

function byLabel(samples, name, label) {
  const out = new Map();
  for (const sample of samples) {
    if (sample.name === name && label in sample.labels) out.set(sample.labels[label], sample.value);
  }
  return out;
}

/** Cumulative bucket counts by upper bound, sorted. */
function buckets(samples, name) {
  return samples
    .filter((sample) => sample.name === `${name}_bucket` && 'le' in sample.labels)
    .map((sample) => ({ le: sample.labels.le === '+Inf' ? Infinity : Number(sample.labels.le), count: sample.value }))
    .sort((a, b) => a.le - b.le);
}

/** The q quantile of the observations between two scrapes of a histogram, interpolated. */
function quantileOfDelta(previous, current, q) {
  if (!previous || !current || previous.length !== current.length || current.length === 0) return null;
  const delta = current.map((bucket, i) => ({ le: bucket.le, count: bucket.count - previous[i].count }));
  const total = delta[delta.length - 1].count;
  if (!(total > 0)) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of delta) {
    if (bucket.count >= rank) {
      if (!Number.isFinite(bucket.le)) return lowerBound;
      const inBucket = bucket.count - lowerCount;
      const fraction = inBucket > 0 ? (rank - lowerCount) / inBucket : 0;
      return lowerBound + (bucket.le - lowerBound) * fraction;
    }
    lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerBound;
}

// ---- charts (hand-drawn SVG) ----

const SVG = 'http://www.w3.org/2000/svg';

function svgEl(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

function drawChart(svg, points, now) {
  const width = 400;
  const height = 120;
  const top = 14;
  const bottom = height - 3;
  const values = points.map((point) => point.value).filter((value) => Number.isFinite(value));
  const highest = values.length ? Math.max(...values) : 0;
  const max = highest > 0 ? highest * 1.15 : 1;
  const x = (t) => ((t - (now - WINDOW_MS)) / WINDOW_MS) * width;
  const y = (value) => bottom - (value / max) * (bottom - top);
  const children = [];
  for (const fraction of [0.25, 0.5, 0.75]) {
    const lineY = bottom - fraction * (bottom - top);
    children.push(svgEl('line', { class: 'gridline', x1: 0, x2: width, y1: lineY, y2: lineY }));
  }
  const label = svgEl('text', { x: 4, y: 11 });
  label.textContent = `max ${formatNumber(highest, highest < 10 ? 2 : 0)}`;
  const last = svgEl('text', { x: width - 4, y: 11, 'text-anchor': 'end' });
  const lastValue = points.length ? points[points.length - 1].value : null;
  last.textContent = `now ${Number.isFinite(lastValue) ? formatNumber(lastValue, lastValue < 10 ? 2 : 0) : '–'}`;
  // Gaps (no value) split the line into segments.
  let segment = [];
  const segments = [];
  for (const point of points) {
    if (Number.isFinite(point.value)) segment.push(`${x(point.t).toFixed(1)},${y(point.value).toFixed(1)}`);
    else if (segment.length) {
      segments.push(segment);
      segment = [];
    }
  }
  if (segment.length) segments.push(segment);
  for (const coordinates of segments) {
    if (coordinates.length > 1) {
      const first = coordinates[0].split(',')[0];
      const final = coordinates[coordinates.length - 1].split(',')[0];
      children.push(svgEl('polygon', { class: 'area', points: `${first},${bottom} ${coordinates.join(' ')} ${final},${bottom}` }));
    }
    children.push(svgEl('polyline', { class: 'series', points: coordinates.join(' ') }));
  }
  children.push(label, last);
  svg.replaceChildren(...children);
}

// ---- API ----

async function getJson(path, options) {
  const response = await fetch(path, { cache: 'no-store', ...options, headers: { accept: 'application/json', ...((options && options.headers) || {}) } });
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { raw: text };
  }
  return { status: response.status, ok: response.ok, body };
}

function errorOf(answer) {
  const error = answer.body && answer.body.error;
  return error ? { code: error.code, message: error.message } : { code: `http_${answer.status}`, message: JSON.stringify(answer.body) };
}

// ---- live view ----

const history = []; // {t, committed, latency: buckets, mempool}
const blocks = new Map(); // height -> {hash, transactions, timestampMs}
let headHeight = null;

function blockSummary(answer) {
  return {
    height: answer.header.height,
    hash: answer.hash,
    transactions: answer.transactions.length,
    timestampMs: answer.header.timestamp_ms,
  };
}

async function fetchMissingBlocks() {
  if (headHeight === null) return;
  const wanted = [];
  for (let height = headHeight; height >= 0 && height > headHeight - RECENT_BLOCKS; height -= 1) {
    if (!blocks.has(height)) wanted.push(height);
  }
  await Promise.all(
    wanted.slice(0, 4).map(async (height) => {
      const answer = await getJson(`/v1/blocks/${height}`);
      if (answer.ok) blocks.set(height, blockSummary(answer.body));
    }),
  );
  for (const height of blocks.keys()) {
    if (height <= headHeight - RECENT_BLOCKS) blocks.delete(height);
  }
}

function renderBlocks() {
  const now = Date.now();
  const rows = [];
  for (let height = headHeight; height !== null && height >= 0 && height > headHeight - RECENT_BLOCKS; height -= 1) {
    const block = blocks.get(height);
    if (!block) continue;
    const hash = el('td', { class: 'mono', title: block.hash }, shortHash(block.hash));
    rows.push(
      el('tr', { 'data-height': String(height) }, el('td', {}, height), hash, el('td', {}, block.transactions), el('td', {}, formatAge((now - block.timestampMs) / 1000))),
    );
  }
  $('recent-blocks').replaceChildren(...rows);
}

function renderValidators(status, samples) {
  const received = byLabel(samples, 'edgeledger_votes_received_total', 'validator');
  const missed = byLabel(samples, 'edgeledger_votes_missed_total', 'validator');
  const rows = (status ? status.validators : []).map((address, index) => {
    const key = String(index);
    const miss = missed.get(key);
    return el(
      'tr',
      { 'data-validator': key },
      el('td', {}, index),
      el('td', { class: 'mono', title: address }, shortHash(address)),
      el('td', {}, received.has(key) ? received.get(key) : '–'),
      el('td', { class: miss > 0 ? 'warn' : '' }, miss !== undefined ? miss : '–'),
    );
  });
  $('validators').replaceChildren(...rows);
}

function renderShards(samples) {
  const lag = byLabel(samples, 'edgeledger_shard_apply_lag_blocks', 'shard');
  const height = byLabel(samples, 'edgeledger_shard_state_height', 'shard');
  const accounts = byLabel(samples, 'edgeledger_shard_accounts', 'shard');
  const up = byLabel(samples, 'edgeledger_shard_up', 'shard');
  const shards = [...new Set([...lag.keys(), ...height.keys(), ...up.keys()])].sort((a, b) => Number(a) - Number(b));
  const cell = (values, shard) => el('td', {}, values.has(shard) ? values.get(shard) : '–');
  $('shards').replaceChildren(
    ...shards.map((shard) =>
      el(
        'tr',
        { 'data-shard': shard, class: up.get(shard) === 0 ? 'down' : '' },
        el('td', {}, shard),
        cell(height, shard),
        cell(lag, shard),
        el('td', { 'data-accounts': accounts.has(shard) ? accounts.get(shard) : '' }, up.get(shard) === 0 ? 'not answering' : accounts.has(shard) ? accounts.get(shard) : '–'),
      ),
    ),
  );
}

function renderBackups(samples) {
  const height = metric(samples, 'edgeledger_backup_latest_height');
  const age = metric(samples, 'edgeledger_backup_latest_age_seconds');
  const retained = metric(samples, 'edgeledger_backups_retained');
  setText('backup-height', height === null ? 'none yet' : height);
  setText('backup-age', age === null ? '–' : formatAge(age));
  setText('backup-retained', retained === null ? '–' : retained);
}

function setBadge(id, text, kind) {
  const node = $(id);
  node.textContent = text;
  node.className = `badge ${kind}`;
}

async function poll() {
  const now = Date.now();
  const [status, metricsText, latest] = await Promise.all([
    getJson('/v1/status').catch(() => null),
    fetch('/metrics', { cache: 'no-store' })
      .then((response) => (response.ok ? response.text() : null))
      .catch(() => null),
    getJson('/v1/blocks/latest').catch(() => null),
  ]);
  if (!status || !status.ok) {
    setBadge('connection', status ? `status ${status.status}` : 'unreachable', 'bad');
    return;
  }
  setBadge('connection', 'live', 'good');
  const s = status.body;
  headHeight = s.head_height;
  setText('chain-id', `chain ${s.chain_id} · ${s.validators.length} validators · ${s.shard_count} shards`);
  setBadge('paused', s.paused ? 'paused' : 'producing', s.paused ? 'warn' : 'good');
  setText('head-height', s.head_height);
  setText('head-hash', s.head_hash);
  $('head-hash').title = s.head_hash;
  setText('mempool-size', s.mempool_size);
  if (latest && latest.ok) {
    const block = blockSummary(latest.body);
    blocks.set(block.height, block);
    if (block.height === s.head_height) setText('head-age', formatAge((now - block.timestampMs) / 1000));
  }

  const samples = metricsText ? parseMetrics(metricsText) : [];
  const point = {
    t: now,
    committed: metric(samples, 'edgeledger_transactions_committed_total'),
    latency: buckets(samples, 'edgeledger_commit_latency_seconds'),
    mempool: s.mempool_size,
  };
  const previous = history.length ? history[history.length - 1] : null;
  if (previous && point.committed !== null && previous.committed !== null && point.committed >= previous.committed) {
    point.throughput = (point.committed - previous.committed) / ((point.t - previous.t) / 1000);
  } else {
    point.throughput = previous ? 0 : null;
  }
  point.p50 = previous ? quantileOfDelta(previous.latency, point.latency, 0.5) : null;
  history.push(point);
  while (history.length && history[0].t < now - WINDOW_MS) history.shift();

  setText('throughput', formatNumber(point.throughput, 1));
  // The latency of the latest second with commits, so the tile does not blink to "–".
  const lastP50 = [...history].reverse().find((entry) => Number.isFinite(entry.p50));
  setText('latency-p50', lastP50 ? `${formatNumber(lastP50.p50 * 1000, 0)} ms` : '–');
  drawChart($('chart-throughput'), history.map((entry) => ({ t: entry.t, value: entry.throughput })), now);
  drawChart($('chart-latency'), history.map((entry) => ({ t: entry.t, value: entry.p50 })), now);
  drawChart($('chart-mempool'), history.map((entry) => ({ t: entry.t, value: entry.mempool })), now);

  renderValidators(s, samples);
  renderShards(samples);
  renderBackups(samples);
  await fetchMissingBlocks().catch(() => {});
  renderBlocks();
}

async function loop() {
  const started = Date.now();
  try {
    await poll();
  } catch (error) {
    setBadge('connection', `error: ${error.message}`, 'bad');
  }
  setTimeout(loop, Math.max(100, POLL_MS - (Date.now() - started)));
}

// ---- results (lookup and admin) ----

function showResult(id, kind, headline, facts, body) {
  const node = $(id);
  node.hidden = false;
  node.className = `result ${kind}`;
  const children = [el('div', { class: 'headline', 'data-testid': `${id}-headline` }, headline)];
  if (facts && facts.length) {
    const list = el('dl', { class: 'facts' });
    for (const [name, value] of facts) {
      list.append(el('dt', {}, name), el('dd', { class: 'mono', 'data-fact': name }, value));
    }
    children.push(list);
  }
  if (body !== undefined) children.push(el('pre', {}, JSON.stringify(body, null, 2)));
  node.replaceChildren(...children);
}

function showError(id, what, answer) {
  const error = errorOf(answer);
  const node = $(id);
  showResult(id, 'error', `${what}: ${answer.status} ${error.code}`, [['status', answer.status], ['code', error.code], ['message', error.message]]);
  node.dataset.status = String(answer.status);
  node.dataset.code = error.code;
}

// ---- lookup ----

async function lookup(text) {
  const query = text.trim();
  const id = 'lookup-result';
  $(id).dataset.status = '';
  $(id).dataset.code = '';
  if (/^0x[0-9a-fA-F]{64}$/.test(query)) {
    const tx = await getJson(`/v1/txs/${query}`);
    if (tx.ok && tx.body.status !== 'unknown') return showTransaction(tx);
    const block = await getJson(`/v1/blocks/${query}`);
    if (block.ok) return showBlock(block);
    if (tx.ok) return showTransaction(tx);
    return showError(id, 'lookup failed', tx);
  }
  if (/^0x[0-9a-fA-F]{40}$/.test(query)) {
    const account = await getJson(`/v1/accounts/${query}?proof=true`);
    if (!account.ok) return showError(id, 'account lookup failed', account);
    const a = account.body;
    const proof = a.proof;
    const facts = [
      ['address', a.address],
      ['balance', formatWei(a.balance)],
      ['nonce', a.nonce],
      ['pending nonce', a.pending_nonce],
    ];
    const check = await checkAccountProof(a);
    facts.push(['proof', check.message]);
    if (proof && proof.certificate) {
      facts.push(['certificate', `${proof.certificate.votes.length} vote(s) on block ${proof.header.height}; check their signatures with ops balance --proof`]);
    }
    showResult(id, check.verified ? 'ok' : 'error', `account ${shortHash(a.address)}`, facts, a);
    $(id).dataset.status = '200';
    $(id).dataset.proof = check.verified ? 'verified' : 'failed';
    return;
  }
  if (/^(0|[1-9][0-9]*|latest)$/.test(query)) {
    const block = await getJson(`/v1/blocks/${query}`);
    if (!block.ok) return showError(id, 'block lookup failed', block);
    return showBlock(block);
  }
  showResult(id, 'error', 'not a transaction hash, block height, block hash or address', [['input', query]]);
  $(id).dataset.code = 'invalid_input';
}

function showTransaction(answer) {
  const tx = answer.body;
  const facts = [['hash', tx.hash], ['status', tx.status]];
  if (tx.height !== undefined) facts.push(['height', tx.height], ['block', tx.block_hash], ['index', tx.index]);
  if (tx.reason) facts.push(['reason', `${tx.reason.code}: ${tx.reason.message}`]);
  showResult('lookup-result', tx.status === 'rejected' || tx.status === 'unknown' ? 'error' : 'ok', `transaction ${tx.status}`, facts, tx);
  const node = $('lookup-result');
  node.dataset.status = String(answer.status);
  node.dataset.kind = 'transaction';
  node.dataset.txStatus = tx.status;
}

function showBlock(answer) {
  const block = answer.body;
  const facts = [
    ['height', block.header.height],
    ['hash', block.hash],
    ['transactions', block.transactions.length],
    ['time', new Date(block.header.timestamp_ms).toISOString()],
    ['proposer', block.header.proposer],
    ['state root', block.header.state_root],
    ['votes', block.certificate.votes.length],
  ];
  showResult('lookup-result', 'ok', `block ${block.header.height}`, facts, block);
  const node = $('lookup-result');
  node.dataset.status = String(answer.status);
  node.dataset.kind = 'block';
}

// ---- admin ----

function token() {
  return $('admin-token').value.trim();
}

async function admin(method, path, body) {
  const options = { method, headers: { authorization: `Bearer ${token()}` } };
  if (body !== undefined) {
    options.headers['content-type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  return getJson(path, options);
}

function busy(on) {
  for (const button of document.querySelectorAll('.admin button')) button.disabled = on;
}

async function adminAction(what, method, path, body, onSuccess) {
  busy(true);
  const node = $('admin-result');
  node.dataset.status = '';
  node.dataset.code = '';
  showResult('admin-result', '', `${what}…`);
  try {
    const answer = await admin(method, path, body);
    if (!answer.ok) return showError('admin-result', `${what} failed`, answer);
    const facts = [['status', answer.status]];
    const headline = onSuccess ? onSuccess(answer.body, facts) : `${what}: done`;
    showResult('admin-result', 'ok', headline, facts, answer.body);
    node.dataset.status = String(answer.status);
    return answer;
  } catch (error) {
    showResult('admin-result', 'error', `${what} failed: ${error.message}`);
    node.dataset.code = 'network_error';
    return null;
  } finally {
    busy(false);
  }
}

function renderBackupList(index) {
  const all = [];
  if (index.latest) all.push({ ...index.latest, latest: true });
  for (const record of index.history || []) all.push(record);
  if (all.length === 0) {
    $('admin-backups').replaceChildren(el('p', { class: 'muted' }, 'no backups yet'));
    return;
  }
  const rows = all.map((record) =>
    el(
      'tr',
      { 'data-cid': record.cid },
      el('td', {}, record.latest ? 'latest' : ''),
      el('td', {}, record.height),
      el('td', {}, record.accounts),
      el('td', {}, record.ciphertext_bytes),
      el('td', {}, new Date(record.created_at_ms).toISOString()),
      el('td', { class: 'mono' }, record.cid),
    ),
  );
  const table = el(
    'table',
    { 'data-testid': 'backup-list' },
    el('thead', {}, el('tr', {}, ...['', 'height', 'accounts', 'bytes', 'made', 'cid'].map((name) => el('th', {}, name)))),
    el('tbody', {}, ...rows),
  );
  $('admin-backups').replaceChildren(el('h2', {}, 'Backup index'), table);
}

let pendingRestore = null;

function setupAdmin() {
  const input = $('admin-token');
  input.value = sessionStorage.getItem(TOKEN_KEY) || '';
  input.addEventListener('input', () => sessionStorage.setItem(TOKEN_KEY, input.value));
  $('admin-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    input.value = '';
  });
  $('admin-pause').addEventListener('click', () => adminAction('pause', 'POST', '/v1/admin/pause', undefined, () => 'block production paused'));
  $('admin-resume').addEventListener('click', () => adminAction('resume', 'POST', '/v1/admin/resume', undefined, () => 'block production resumed'));
  $('admin-backup').addEventListener('click', () =>
    adminAction('backup', 'POST', '/v1/admin/backups', undefined, (report, facts) => {
      if (report.backup) {
        facts.push(['cid', report.backup.cid], ['height', report.backup.height], ['accounts', report.backup.accounts]);
        $('admin-result').dataset.cid = report.backup.cid;
        return `backup made: ${report.backup.cid}`;
      }
      facts.push(['skipped', report.backup_skipped || 'no backup made']);
      return `no backup made: ${report.backup_skipped || 'skipped'}`;
    }),
  );
  $('admin-list').addEventListener('click', async () => {
    const answer = await adminAction('list backups', 'GET', '/v1/admin/backups', undefined, (index, facts) => {
      facts.push(['latest', index.latest ? `${index.latest.cid} at height ${index.latest.height}` : 'none'], ['older', (index.history || []).length]);
      return `backup index: ${index.latest ? 1 + (index.history || []).length : 0} backup(s)`;
    });
    if (answer) renderBackupList(answer.body);
  });
  $('admin-restore').addEventListener('click', async () => {
    $('restore-confirm').hidden = true;
    const answer = await adminAction('find the latest backup', 'GET', '/v1/admin/backups', undefined, (index, facts) => {
      if (!index.latest) return 'no backup to restore';
      facts.push(['cid', index.latest.cid], ['height', index.latest.height]);
      return `latest backup ${index.latest.cid} at height ${index.latest.height}: confirm below`;
    });
    if (!answer) return;
    renderBackupList(answer.body);
    if (!answer.body.latest) return;
    pendingRestore = answer.body.latest;
    $('restore-cid').textContent = pendingRestore.cid;
    $('restore-height').textContent = String(pendingRestore.height);
    $('restore-confirm').hidden = false;
  });
  $('admin-restore-cancel').addEventListener('click', () => {
    pendingRestore = null;
    $('restore-confirm').hidden = true;
  });
  $('admin-restore-confirm').addEventListener('click', async () => {
    if (!pendingRestore) return;
    const { cid } = pendingRestore;
    pendingRestore = null;
    $('restore-confirm').hidden = true;
    await adminAction('restore', 'POST', '/v1/admin/restore', { cid }, (report, facts) => {
      facts.push(['cid', report.cid], ['height', report.height], ['accounts', report.accounts], ['shards', report.shards]);
      return `restored ${report.cid} at height ${report.height}`;
    });
  });
}

document.addEventListener('DOMContentLoaded', () => {
  $('lookup-form').addEventListener('submit', (event) => {
    event.preventDefault();
    lookup($('lookup-input').value).catch((error) => showResult('lookup-result', 'error', `lookup failed: ${error.message}`));
  });
  setupAdmin();
  loop();
});

// ---- Account proofs, verified in the page ----
// The state is one sparse Merkle tree of keccak256 (ledger::trie::hashing): a leaf is
// keccak256(0x00 ‖ address ‖ nonce (8 bytes, BE) ‖ balance (32 bytes, BE)), an internal node
// keccak256(0x01 ‖ left ‖ right), and an empty subtree (or a node of two empty children) is
// all zeros. The page rebuilds the root from the account and the sibling hashes and compares
// it with the certified header's state root, then with the block the public API serves at
// that height. Checking the certificate's secp256k1 signatures needs the validator set and a
// curve implementation: `ops balance --proof` does that.

const KECCAK_ROUNDS = [
  0x0000000000000001n, 0x0000000000008082n, 0x800000000000808an, 0x8000000080008000n,
  0x000000000000808bn, 0x0000000080000001n, 0x8000000080008081n, 0x8000000000008009n,
  0x000000000000008an, 0x0000000000000088n, 0x0000000080008009n, 0x000000008000000an,
  0x000000008000808bn, 0x800000000000008bn, 0x8000000000008089n, 0x8000000000008003n,
  0x8000000000008002n, 0x8000000000000080n, 0x000000000000800an, 0x800000008000000an,
  0x8000000080008081n, 0x8000000000008080n, 0x0000000080000001n, 0x8000000080008008n,
];
// Rotation of lane (x, y), indexed x + 5y.
const KECCAK_ROTATIONS = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14];
const LANE = (1n << 64n) - 1n;

function rotateLane(lane, by) {
  const shift = BigInt(by);
  return by === 0 ? lane : ((lane << shift) | (lane >> (64n - shift))) & LANE;
}

function keccakPermute(state) {
  for (const constant of KECCAK_ROUNDS) {
    const parity = [0, 1, 2, 3, 4].map((x) => state[x] ^ state[x + 5] ^ state[x + 10] ^ state[x + 15] ^ state[x + 20]);
    for (let x = 0; x < 5; x++) {
      const mix = parity[(x + 4) % 5] ^ rotateLane(parity[(x + 1) % 5], 1);
      for (let y = 0; y < 25; y += 5) state[x + y] ^= mix;
    }
    const moved = new Array(25);
    for (let x = 0; x < 5; x++) {
      for (let y = 0; y < 5; y++) {
        moved[y + 5 * ((2 * x + 3 * y) % 5)] = rotateLane(state[x + 5 * y], KECCAK_ROTATIONS[x + 5 * y]);
      }
    }
    for (let y = 0; y < 25; y += 5) {
      for (let x = 0; x < 5; x++) {
        state[x + y] = moved[x + y] ^ (~moved[((x + 1) % 5) + y] & LANE & moved[((x + 2) % 5) + y]);
      }
    }
    state[0] ^= constant;
  }
}

/** Ethereum's keccak256 (original Keccak padding, not SHA-3's) of a Uint8Array. */
function keccak256(bytes) {
  const rate = 136;
  const padded = new Uint8Array(Math.floor(bytes.length / rate) * rate + rate);
  padded.set(bytes);
  padded[bytes.length] ^= 0x01;
  padded[padded.length - 1] ^= 0x80;
  const state = new Array(25).fill(0n);
  for (let offset = 0; offset < padded.length; offset += rate) {
    for (let lane = 0; lane < rate / 8; lane++) {
      let value = 0n;
      for (let byte = 7; byte >= 0; byte--) value = (value << 8n) | BigInt(padded[offset + lane * 8 + byte]);
      state[lane] ^= value;
    }
    keccakPermute(state);
  }
  const digest = new Uint8Array(32);
  for (let index = 0; index < 32; index++) {
    digest[index] = Number((state[index >> 3] >> BigInt(8 * (index & 7))) & 0xffn);
  }
  return digest;
}

function hexToBytes(hex, length) {
  const digits = String(hex).replace(/^0x/, '');
  if (!/^[0-9a-fA-F]*$/.test(digits) || digits.length > length * 2) throw new Error(`not ${length} bytes of hex: ${hex}`);
  const padded = digits.padStart(length * 2, '0');
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = parseInt(padded.slice(2 * index, 2 * index + 2), 16);
  return bytes;
}

function bytesToHex(bytes) {
  return `0x${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

function concatBytes(...parts) {
  const joined = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

const EMPTY_SUBTREE = new Uint8Array(32);
const isEmptySubtree = (hash) => hash.every((byte) => byte === 0);
const addressBit = (address, index) => ((address[index >> 3] >> (7 - (index & 7))) & 1) === 1;

function leafHash(address, account) {
  return keccak256(concatBytes(Uint8Array.of(0), address, hexToBytes(BigInt(account.nonce).toString(16), 8), hexToBytes(account.balance, 32)));
}

function nodeHash(left, right) {
  if (isEmptySubtree(left) && isEmptySubtree(right)) return EMPTY_SUBTREE;
  return keccak256(concatBytes(Uint8Array.of(1), left, right));
}

/**
 * Checks an account proof (ledger::trie::AccountProof, as JSON) for `addressHex` against
 * `rootHex`: returns the proven account ({nonce, balance}) or null when the proof shows the
 * address has none, and throws when the proof does not hold.
 */
function verifyAccountProof(proof, addressHex, rootHex) {
  const address = hexToBytes(addressHex, 20);
  const siblings = proof.siblings.map((sibling) => hexToBytes(sibling, 32));
  if (siblings.length > 160) throw new Error(`a path of ${siblings.length} levels (at most 160)`);
  let hash = EMPTY_SUBTREE;
  let proven = null;
  const leaf = proof.terminal && proof.terminal.Leaf;
  if (leaf) {
    const leafAddress = hexToBytes(leaf.address, 20);
    for (let bit = 0; bit < siblings.length; bit++) {
      if (addressBit(leafAddress, bit) !== addressBit(address, bit)) throw new Error(`the leaf of ${leaf.address} is not on the path`);
    }
    hash = leafHash(leafAddress, leaf.account);
    if (bytesToHex(leafAddress) === bytesToHex(address)) proven = leaf.account;
  } else if (proof.terminal !== 'Empty') {
    throw new Error('an unknown terminal');
  }
  for (let level = siblings.length - 1; level >= 0; level--) {
    hash = addressBit(address, level) ? nodeHash(siblings[level], hash) : nodeHash(hash, siblings[level]);
  }
  if (bytesToHex(hash) !== String(rootHex).toLowerCase()) throw new Error(`the path leads to ${shortHash(bytesToHex(hash))}, not the state root ${shortHash(rootHex)}`);
  return proven;
}

/** The account answer's proof, checked here: {verified, message}. */
async function checkAccountProof(answer) {
  const certified = answer.proof;
  if (!certified || !certified.proof || !certified.header) return { verified: false, message: 'no proof returned' };
  let proven;
  try {
    proven = verifyAccountProof(certified.proof, answer.address, certified.header.state_root);
  } catch (error) {
    return { verified: false, message: `proof does NOT verify: ${error.message}` };
  }
  const claimed = { nonce: Number(answer.nonce), balance: BigInt(answer.balance) };
  const shown = proven ? { nonce: Number(proven.nonce), balance: BigInt(proven.balance) } : { nonce: 0, balance: 0n };
  if (shown.nonce !== claimed.nonce || shown.balance !== claimed.balance) {
    return { verified: false, message: `proof does NOT verify: it proves nonce ${shown.nonce} and balance ${formatWei(`0x${shown.balance.toString(16)}`)}` };
  }
  const height = certified.header.height;
  const block = await getJson(`/v1/blocks/${height}`);
  const servedRoot = block.ok && block.body && block.body.header ? block.body.header.state_root : null;
  if (servedRoot !== null && servedRoot !== certified.header.state_root) {
    return { verified: false, message: `proof does NOT verify: block ${height} has state root ${shortHash(servedRoot)}` };
  }
  const against = servedRoot === null ? `the state root of block ${height}` : `the state root of block ${height}, as /v1/blocks/${height} serves it`;
  return { verified: true, message: `verified in the page: ${proven ? 'the account' : 'no account'} under ${against} (${certified.proof.siblings.length} levels)` };
}

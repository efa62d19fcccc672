// Drives the sequencer's /dashboard in Debian's headless Chromium with playwright-core (which
// never downloads a browser of its own), as an operator would:
//
//   node ops/tests/browser/dashboard.mjs --url BASE --token TOKEN --screenshots DIR \
//     [--tx HASH] [--address 0x…]
//
// 1. the page loads with no script error and no CSP violation, and the head height it shows
//    reaches the one `/v1/status` answers (fetched here too); recent blocks and charts fill in;
// 2. with --tx, looking the hash up in the lookup box shows it committed; with --address, the
//    account lookup shows its balance and nonce and the page verifies its Merkle proof against
//    the certified state root, and the same lookup with the answer's balance altered in
//    transit (a lying server) says the proof does NOT verify;
// 3. in the admin panel a wrong token makes a backup attempt show 401 `unauthorized`; with the
//    right token, Pause and Resume switch block production (checked in /v1/status and in the
//    badge); paused, a backup is made (its CID shown) and the backup list then names that CID;
//    the token is in sessionStorage and nowhere in localStorage; the backups panel (from
//    /metrics) shows the new backup's height; "restore the latest" names its CID and height
//    and, confirmed, restores it (the chain still at the backup's height) and production
//    resumes;
// 4. full-page screenshots after the load (DIR/dashboard-loaded.png), after the account lookup
//    (DIR/dashboard-account.png), after the backup (DIR/dashboard-backup.png) and after the
//    restore (DIR/dashboard-restored.png).
//
// Exits 0 when everything held, 1 with a message naming the step that failed.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

// The flags Chromium needs on this machine's closed network (see the environment notes):
// without the background-networking ones it keeps trying Google's hosts. Playwright runs it
// headless with a fresh, empty profile of its own.
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const STEP_TIMEOUT_MS = 30_000;

function parseArguments(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i += 1) {
    const name = argv[i];
    if (!name.startsWith('--') || i + 1 >= argv.length) throw new Error(`bad argument ${name}`);
    options[name.slice(2)] = argv[++i];
  }
  for (const required of ['url', 'token', 'screenshots']) {
    if (!options[required]) throw new Error(`--${required} is required`);
  }
  options.url = options.url.replace(/\/+$/, '');
  return options;
}

let step = 'start';
function begin(name) {
  step = name;
  console.log(`dashboard: ${name}`);
}

async function status(base) {
  const response = await fetch(`${base}/v1/status`);
  if (!response.ok) throw new Error(`/v1/status answered ${response.status}`);
  return response.json();
}

async function until(what, check, timeoutMs = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last === true) return;
    } catch (error) {
      last = error.message;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function resultOf(page, id) {
  return page.locator(`#${id}`).evaluate((node) => ({
    hidden: node.hidden,
    text: node.textContent,
    status: node.dataset.status || '',
    code: node.dataset.code || '',
    cid: node.dataset.cid || '',
    txStatus: node.dataset.txStatus || '',
    proof: node.dataset.proof || '',
  }));
}

async function lookUp(page, query) {
  await page.locator('#lookup-input').fill(query);
  await page.locator('#lookup-button').click();
}

/** Waits for the badge and /v1/status to agree that production is `paused` (or not). */
async function productionIs(page, base, paused) {
  await until(`production ${paused ? 'paused' : 'producing'}`, async () => {
    const badge = (await page.locator('#paused').textContent()).trim();
    const chain = (await status(base)).paused;
    return (chain === paused && badge === (paused ? 'paused' : 'producing')) || { badge, chain };
  });
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  mkdirSync(options.screenshots, { recursive: true });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS });
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));

    begin('open /dashboard');
    const response = await page.goto(`${options.url}/dashboard`, { waitUntil: 'load' });
    if (!response || response.status() !== 200) throw new Error(`/dashboard answered ${response && response.status()}`);
    const csp = response.headers()['content-security-policy'] || '';
    if (!csp.includes("script-src 'self'")) throw new Error(`no strict CSP on /dashboard: ${JSON.stringify(csp)}`);

    begin('head height shown equals /v1/status');
    await until('the head height shown to equal /v1/status', async () => {
      const shown = (await page.locator('#head-height').textContent()).trim();
      const expected = String((await status(options.url)).head_height);
      return shown === expected || `shown ${shown}, status ${expected}`;
    });
    const head = (await status(options.url)).head_height;
    await until('recent blocks to list the head', async () => {
      const heights = await page.locator('#recent-blocks tr').evaluateAll((rows) => rows.map((row) => Number(row.dataset.height)));
      return heights.length > 0 && Math.max(...heights) >= head ? true : `rows ${JSON.stringify(heights)}`;
    });
    await until('the charts to draw', async () => {
      const lines = await page.locator('#chart-mempool polyline').count();
      return lines > 0 || 'no polyline yet';
    });
    const mempool = (await page.locator('#mempool-size').textContent()).trim();
    if (!/^\d+$/.test(mempool)) throw new Error(`mempool size shown is ${JSON.stringify(mempool)}`);
    const validators = await page.locator('#validators tr').count();
    if (validators < 1) throw new Error('no validator rows');
    const shards = await page.locator('#shards tr').count();
    if (shards < 1) throw new Error('no shard rows');
    await until('the shard rows to show the account counts /metrics reports', async () => {
      const shown = await page.locator('#shards tr').evaluateAll((rows) => rows.map((row) => row.lastElementChild.dataset.accounts));
      const text = await (await fetch(`${options.url}/metrics`)).text();
      const exported = [...text.matchAll(/^edgeledger_shard_accounts\{shard="(\d+)"\} (\d+)$/gm)].map((match) => match[2]);
      return (shown.length === exported.length && shown.every((count, index) => count === exported[index]) && exported.reduce((total, count) => total + Number(count), 0) >= 20) || { shown, exported };
    });
    await page.screenshot({ path: join(options.screenshots, 'dashboard-loaded.png'), fullPage: true });

    if (options.tx) {
      begin(`look up transaction ${options.tx}`);
      await page.locator('#lookup-input').fill(options.tx);
      await page.locator('#lookup-button').click();
      await until('the lookup to show the transaction committed', async () => {
        const result = await resultOf(page, 'lookup-result');
        return (result.txStatus === 'committed' && result.text.includes('transaction committed')) || result;
      });
    }
    if (options.address) {
      begin(`look up account ${options.address}: the page verifies its proof`);
      await lookUp(page, options.address);
      await until('the account lookup to show its proof verified in the page', async () => {
        const result = await resultOf(page, 'lookup-result');
        return (result.status === '200' && result.proof === 'verified' && result.text.includes('verified in the page') && result.text.includes('vote(s) on block')) || result;
      });
      await page.screenshot({ path: join(options.screenshots, 'dashboard-account.png'), fullPage: true });

      begin('an account answer altered in transit fails the check in the page');
      const pattern = `${options.url}/v1/accounts/**`;
      await page.route(pattern, async (route) => {
        const original = await route.fetch();
        const answer = await original.json();
        const inflated = `0x${(BigInt(answer.balance) + 1n).toString(16)}`;
        answer.balance = inflated;
        const leaf = answer.proof && answer.proof.proof.terminal.Leaf;
        if (leaf) leaf.account.balance = inflated;
        await route.fulfill({ response: original, json: answer });
      });
      await page.locator('#lookup-result').evaluate((node) => {
        node.dataset.proof = '';
      });
      await lookUp(page, options.address);
      await until('the altered answer to fail the proof check', async () => {
        const result = await resultOf(page, 'lookup-result');
        return (result.proof === 'failed' && result.text.includes('proof does NOT verify')) || result;
      });
      await page.unroute(pattern);
    }

    begin('a wrong admin token gets 401 unauthorized');
    await page.locator('#admin-token').fill('not-the-admin-token');
    await page.locator('#admin-backup').click();
    await until('the backup attempt to show 401 unauthorized', async () => {
      const result = await resultOf(page, 'admin-result');
      return (result.status === '401' && result.code === 'unauthorized' && result.text.includes('401 unauthorized')) || result;
    });

    begin('the right token pauses and resumes block production');
    await page.locator('#admin-token').fill(options.token);
    await page.locator('#admin-pause').click();
    await productionIs(page, options.url, true);
    await page.locator('#admin-resume').click();
    await productionIs(page, options.url, false);

    begin('paused, a backup is made at the head');
    await page.locator('#admin-pause').click();
    await productionIs(page, options.url, true);
    const paused = await status(options.url);
    const pausedAt = paused.head_height;
    await page.locator('#admin-backup').click();
    let cid = '';
    await until(
      'the backup to be made and its CID shown',
      async () => {
        const result = await resultOf(page, 'admin-result');
        cid = result.cid;
        return (result.status === '200' && cid !== '' && result.text.includes(cid)) || result;
      },
      120_000,
    );
    console.log(`dashboard: backup ${cid}`);

    begin('the backup list names the new backup');
    await page.locator('#admin-list').click();
    await until('the backup list to show the new CID', async () => {
      const cids = await page.locator('[data-testid="backup-list"] tbody tr').evaluateAll((rows) => rows.map((row) => row.dataset.cid));
      return cids[0] === cid || `listed ${JSON.stringify(cids)}`;
    });
    const listedHeight = (await page.locator('[data-testid="backup-list"] tbody tr').first().locator('td').nth(1).textContent()).trim();
    if (listedHeight !== String(pausedAt)) throw new Error(`the backup is at height ${listedHeight}, the paused head at ${pausedAt}`);

    begin('the backups panel (from /metrics) shows the new backup');
    await until(`the backups panel to show height ${listedHeight}`, async () => {
      const shown = (await page.locator('#backup-height').textContent()).trim();
      return shown === listedHeight || `shown ${JSON.stringify(shown)}`;
    });
    const storage = await page.evaluate(() => ({
      session: sessionStorage.getItem('edgeledger.adminToken'),
      local: JSON.stringify({ ...localStorage }),
    }));
    if (storage.session !== options.token) throw new Error('the token is not in sessionStorage');
    if (storage.local.includes(options.token)) throw new Error('the token leaked into localStorage');
    await page.locator('#admin-backups').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(options.screenshots, 'dashboard-backup.png'), fullPage: true });

    begin('restoring the latest backup asks for confirmation, then restores it');
    await page.locator('#admin-restore').click();
    await until('the restore confirmation to name the latest backup', async () => {
      const shown = await page.locator('#restore-confirm').evaluate((node) => ({
        hidden: node.hidden,
        cid: document.getElementById('restore-cid').textContent,
        height: document.getElementById('restore-height').textContent,
      }));
      return (!shown.hidden && shown.cid === cid && shown.height === listedHeight) || shown;
    });
    await page.locator('#admin-restore-confirm').click();
    await until(
      'the restore to succeed',
      async () => {
        const restore = await resultOf(page, 'admin-result');
        return (restore.status === '200' && restore.text.includes(`restored ${cid} at height ${listedHeight}`)) || restore;
      },
      120_000,
    );
    // A restore restarts the chain from the backup's block and resumes production.
    await productionIs(page, options.url, false);
    // Transfers waiting in the mempool may commit on top at once; the chain must go on from
    // the restored block itself.
    const restored = await status(options.url);
    if (restored.head_height < pausedAt) throw new Error(`after the restore the head is ${restored.head_height}, below ${pausedAt}`);
    const base = await (await fetch(`${options.url}/v1/blocks/${pausedAt}`)).json();
    if (base.hash !== paused.head_hash) throw new Error(`block ${pausedAt} is ${base.hash} after the restore, not ${paused.head_hash}`);
    await page.screenshot({ path: join(options.screenshots, 'dashboard-restored.png'), fullPage: true });

    begin('no script errors or CSP violations');
    // The wrong token's 401 is an expected error answer, which Chromium logs as a console
    // error.
    const unexpected = problems.filter((problem) => !/status of 401\b/.test(problem));
    if (unexpected.length) throw new Error(unexpected.join('\n'));
  } finally {
    await browser.close();
  }
  console.log('dashboard: ok');
}

main().catch((error) => {
  console.error(`dashboard test failed at step "${step}": ${error.stack || error.message}`);
  process.exit(1);
});

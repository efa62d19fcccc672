#!/usr/bin/env node
// Drives an Ethereum JSON-RPC endpoint with ethers v6, as a wallet or a dapp would, and checks
// every answer: the chain id; balances; a value transfer that ethers fills entirely (nonce,
// fees, gas, and the transaction type), waited for and read back; a second transfer as an
// explicit EIP-1559 (type 2) transaction; blocks with and without their transactions; unknown
// hashes; and a transfer the sender cannot pay, which must be refused as INSUFFICIENT_FUNDS,
// both when ethers estimates the gas and when it sends a signed transaction with the gas given.
//
//   node ops/tests/rpc/ethers-check.mjs --url URL --key 0xPRIVKEY --to ADDRESS \
//       --expect-chain-id N [--value WEI] [--poll-ms MS] [--timeout-ms MS] [--no-batch] [--trace]
//
// --trace writes every JSON-RPC request and answer ethers exchanges to stderr.
// The sender and the recipient must see no other traffic while this runs (balances are
// checked exactly). On success prints one JSON line, the summary (amounts in decimal wei), and
// exits 0; otherwise prints "ethers-check: FAILED: ..." on stderr and exits 1 (2 on a timeout).
// ethers is the repository's npm devDependency (`npm ci`, which scripts/setup.sh runs).
//
// ethers' choices to know about: it sends JSON-RPC batches (arrays) when calls overlap (unless
// --no-batch); it picks EIP-1559 only when the latest block's baseFeePerGas is non-zero (a
// chain with base fee 0 gets legacy type-0 transactions priced by eth_gasPrice); and it would
// answer a repeated call from a 250 ms cache, which is turned off here.

import { JsonRpcProvider, Network, Wallet, getAddress, hexlify, isError, randomBytes } from "ethers";

const USAGE =
  "usage: ethers-check.mjs --url URL --key 0xPRIVKEY --to ADDRESS --expect-chain-id N " +
  "[--value WEI] [--poll-ms MS] [--timeout-ms MS] [--no-batch] [--trace]";

/** The gas of a plain value transfer. */
const TRANSFER_GAS = 21000n;

function parseArgs(argv) {
  const options = { value: 1_000_000_000_000_000n, pollMs: 200, timeoutMs: 120_000, batch: true, trace: false };
  const flags = { "--url": "url", "--key": "key", "--to": "to", "--expect-chain-id": "chainId" };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) fail(`${flag} needs a value\n${USAGE}`);
      return argv[++i];
    };
    if (flag in flags) {
      options[flags[flag]] = next();
    } else if (flag === "--value") {
      options.value = BigInt(next());
    } else if (flag === "--poll-ms") {
      options.pollMs = Number(next());
    } else if (flag === "--timeout-ms") {
      options.timeoutMs = Number(next());
    } else if (flag === "--no-batch") {
      options.batch = false;
    } else if (flag === "--trace") {
      options.trace = true;
    } else {
      fail(`unknown argument ${flag}\n${USAGE}`);
    }
  }
  for (const [flag, name] of Object.entries(flags)) {
    if (options[name] === undefined) fail(`missing ${flag}\n${USAGE}`);
  }
  options.chainId = BigInt(options.chainId);
  if (options.value <= 0n) fail("--value must be positive");
  return options;
}

function fail(message, code = 1) {
  process.stderr.write(`ethers-check: FAILED: ${message}\n`);
  process.exit(code);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

function same(actual, expected, what) {
  check(actual === expected, `${what}: expected ${expected}, got ${actual}`);
}

function json(value) {
  return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v));
}

/**
 * Did ethers report this error as the sender not affording the transfer: as INSUFFICIENT_FUNDS,
 * or with the node's own words in a JSON-RPC error it got? (An HTTP error status does not
 * count: ethers then reports SERVER_ERROR, whatever the body says; JSON-RPC errors come with
 * HTTP 200.)
 */
function isInsufficientFunds(error) {
  if (isError(error, "INSUFFICIENT_FUNDS")) return true;
  if (isError(error, "SERVER_ERROR")) return false;
  const rpcError = error?.info?.error ?? error?.error;
  return typeof rpcError?.code === "number" && /insufficient funds for gas \* price \+ value/i.test(rpcError?.message ?? "");
}

function describe(error) {
  const parts = [error?.shortMessage ?? error?.message ?? String(error)];
  if (error?.code) parts.push(`code ${error.code}`);
  if (error?.info) parts.push(`info ${json(error.info)}`);
  return parts.join("; ");
}

async function balancesAndNonce(provider, from, to) {
  const [fromBalance, toBalance, nonce] = await Promise.all([
    provider.getBalance(from),
    provider.getBalance(to),
    provider.getTransactionCount(from, "latest"),
  ]);
  return { from: fromBalance, to: toBalance, nonce };
}

/** Sends `request`, waits for its receipt and checks it and both balances exactly. */
async function transfer(label, wallet, request, options) {
  const { provider } = wallet;
  const from = wallet.address;
  const to = request.to;
  const before = await balancesAndNonce(provider, from, to);
  check(before.from > request.value, `${label}: the sender ${from} holds ${before.from} wei, not more than ${request.value}`);

  const tx = await wallet.sendTransaction(request);
  same(tx.from, from, `${label}: the sent transaction's sender`);
  same(tx.nonce, before.nonce, `${label}: the nonce ethers chose`);
  if (request.type !== undefined) same(tx.type, request.type, `${label}: the transaction type`);
  check(tx.type === 0 || tx.type === 2, `${label}: ethers chose transaction type ${tx.type}`);
  const receipt = await tx.wait(1, options.timeoutMs);
  check(receipt !== null, `${label}: tx.wait() gave no receipt`);
  same(receipt.hash, tx.hash, `${label}: the receipt's transaction hash`);
  same(receipt.status, 1, `${label}: the receipt's status`);
  same(receipt.type, tx.type, `${label}: the receipt's type`);
  same(receipt.gasUsed, TRANSFER_GAS, `${label}: the receipt's gasUsed`);
  same(receipt.cumulativeGasUsed >= TRANSFER_GAS, true, `${label}: cumulativeGasUsed ≥ gasUsed`);
  same(receipt.from, from, `${label}: the receipt's from`);
  same(receipt.to, to, `${label}: the receipt's to`);
  same(receipt.contractAddress, null, `${label}: the receipt's contractAddress`);
  same(receipt.logs.length, 0, `${label}: the receipt's logs`);
  check(receipt.blockNumber >= 1, `${label}: the receipt's blockNumber ${receipt.blockNumber}`);
  const effectiveGasPrice = receipt.gasPrice; // effectiveGasPrice, as ethers v6 names it
  const priceCap = tx.type === 2 ? tx.maxFeePerGas : tx.gasPrice;
  check(effectiveGasPrice <= priceCap, `${label}: effectiveGasPrice ${effectiveGasPrice} is above the offered ${priceCap}`);
  if (tx.type === 0) same(effectiveGasPrice, tx.gasPrice, `${label}: a legacy transaction's effectiveGasPrice`);
  const fee = receipt.gasUsed * effectiveGasPrice;
  same(receipt.fee, fee, `${label}: receipt.fee`);

  const after = await balancesAndNonce(provider, from, to);
  same(after.to, before.to + request.value, `${label}: the recipient's balance after the transfer`);
  same(after.from, before.from - request.value - fee, `${label}: the sender's balance after the transfer`);
  same(after.nonce, before.nonce + 1, `${label}: the sender's nonce after the transfer`);

  // The transaction by hash and its receipt again, as a block explorer would read them.
  const fetched = await provider.getTransaction(tx.hash);
  check(fetched !== null, `${label}: getTransaction(${tx.hash}) gave null`);
  same(fetched.hash, tx.hash, `${label}: getTransaction: hash`);
  same(fetched.type, tx.type, `${label}: getTransaction: type`);
  same(fetched.from, from, `${label}: getTransaction: from`);
  same(fetched.to, to, `${label}: getTransaction: to`);
  same(fetched.value, request.value, `${label}: getTransaction: value`);
  same(fetched.nonce, before.nonce, `${label}: getTransaction: nonce`);
  same(fetched.gasLimit, tx.gasLimit, `${label}: getTransaction: gasLimit`);
  same(fetched.blockNumber, receipt.blockNumber, `${label}: getTransaction: blockNumber`);
  same(fetched.blockHash, receipt.blockHash, `${label}: getTransaction: blockHash`);
  same(fetched.index, receipt.index, `${label}: getTransaction: transactionIndex`);
  same(fetched.chainId, options.chainId, `${label}: getTransaction: chainId`);
  same(fetched.signature.serialized, tx.signature.serialized, `${label}: getTransaction: signature`);
  const fetchedReceipt = await provider.getTransactionReceipt(tx.hash);
  check(fetchedReceipt !== null, `${label}: getTransactionReceipt(${tx.hash}) gave null`);
  same(fetchedReceipt.blockHash, receipt.blockHash, `${label}: getTransactionReceipt: blockHash`);
  same(fetchedReceipt.gasUsed, TRANSFER_GAS, `${label}: getTransactionReceipt: gasUsed`);

  return {
    record: {
      hash: tx.hash,
      type: tx.type,
      nonce: tx.nonce,
      value: request.value.toString(),
      gasLimit: tx.gasLimit.toString(),
      gasPrice: tx.gasPrice?.toString() ?? null,
      maxFeePerGas: tx.maxFeePerGas?.toString() ?? null,
      maxPriorityFeePerGas: tx.maxPriorityFeePerGas?.toString() ?? null,
      blockNumber: receipt.blockNumber,
      blockHash: receipt.blockHash,
      gasUsed: receipt.gasUsed.toString(),
      effectiveGasPrice: effectiveGasPrice.toString(),
      fee: fee.toString(),
    },
    receipt,
    before,
    after,
  };
}

/** Watches what ethers exchanges: the JSON-RPC errors it got (and, if asked, everything). */
function watch(provider, trace) {
  const methods = new Map();
  const errors = [];
  provider.on("debug", (event) => {
    if (event.action === "sendRpcPayload") {
      for (const payload of [event.payload].flat()) methods.set(payload.id, payload.method);
      if (trace) process.stderr.write(`rpc> ${json(event.payload)}\n`);
    } else if (event.action === "receiveRpcResult") {
      for (const answer of [event.result].flat()) {
        if (answer?.error) errors.push({ method: methods.get(answer.id), error: answer.error });
      }
      if (trace) process.stderr.write(`rpc< ${json(event.result)}\n`);
    } else if (event.action === "receiveRpcError" && trace) {
      process.stderr.write(`rpc! ${describe(event.error)}\n`);
    }
  });
  return errors;
}

/** `attempt` must be refused as INSUFFICIENT_FUNDS and change nothing. */
async function expectRefusal(label, wallet, to, rpcErrors, attempt) {
  const before = await balancesAndNonce(wallet.provider, wallet.address, to);
  const seen = rpcErrors.length;
  let outcome;
  try {
    const tx = await attempt();
    outcome = { accepted: tx?.hash ?? "(no hash)" };
  } catch (error) {
    outcome = { error };
  }
  check(!outcome.accepted, `${label}: the unaffordable transfer was accepted (${outcome.accepted})`);
  const httpHint = isError(outcome.error, "SERVER_ERROR") ? " (JSON-RPC errors must come with HTTP status 200)" : "";
  check(isInsufficientFunds(outcome.error), `${label}: expected INSUFFICIENT_FUNDS, got ${describe(outcome.error)}${httpHint}`);
  const after = await balancesAndNonce(wallet.provider, wallet.address, to);
  same(after.nonce, before.nonce, `${label}: the sender's nonce after the refusal`);
  same(after.from, before.from, `${label}: the sender's balance after the refusal`);
  same(after.to, before.to, `${label}: the recipient's balance after the refusal`);
  // Which calls the node refused, and how (ethers' debug events arrive asynchronously).
  await new Promise((resolve) => setTimeout(resolve, 0));
  const refusedBy = rpcErrors.slice(seen).map(({ method, error }) => `${method}: ${error.code} ${error.message}`);
  return { code: outcome.error.code ?? "node message", refusedBy };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const watchdog = setTimeout(
    () => fail(`not done after ${options.timeoutMs} ms (is the endpoint answering?)`, 2),
    options.timeoutMs,
  );
  watchdog.unref();

  const network = Network.from(options.chainId);
  const provider = new JsonRpcProvider(options.url, network, {
    staticNetwork: network,
    pollingInterval: options.pollMs,
    cacheTimeout: -1,
    ...(options.batch ? {} : { batchMaxCount: 1 }),
  });
  try {
    const rpcErrors = watch(provider, options.trace);
    const wallet = new Wallet(options.key, provider);
    const from = wallet.address;
    const to = getAddress(options.to);
    check(from !== to, "--to must not be the key's own address");

    // The chain id, from the node itself (the static network only spares ethers detecting it).
    const chainId = BigInt(await provider.send("eth_chainId", []));
    same(chainId, options.chainId, "eth_chainId");
    same((await provider.getNetwork()).chainId, options.chainId, "getNetwork().chainId");
    const start = await balancesAndNonce(provider, from, to);

    // 1. ethers fills everything, the transaction type included.
    const first = await transfer("ethers-filled", wallet, { to, value: options.value }, options);

    // 2. An explicit EIP-1559 transaction, priced from the node's fee data.
    const feeData = await provider.getFeeData();
    check(feeData.gasPrice !== null, "getFeeData() has no gasPrice");
    const maxPriorityFeePerGas = feeData.maxPriorityFeePerGas ?? feeData.gasPrice;
    const maxFeePerGas = feeData.maxFeePerGas ?? feeData.gasPrice;
    const second = await transfer(
      "type-2",
      wallet,
      { to, value: options.value + 1n, type: 2, maxFeePerGas, maxPriorityFeePerGas },
      options,
    );

    // Blocks: the head, and the first transfer's block with its transactions prefetched.
    const latest = await provider.getBlock("latest");
    check(latest !== null, 'getBlock("latest") gave null');
    check(latest.number >= second.receipt.blockNumber, `the latest block ${latest.number} is before the last receipt's ${second.receipt.blockNumber}`);
    check(/^0x[0-9a-f]{64}$/.test(latest.hash ?? ""), `the latest block's hash ${latest.hash}`);
    const receipt = first.receipt;
    const block = await provider.getBlock(receipt.blockNumber, true);
    check(block !== null, `getBlock(${receipt.blockNumber}, true) gave null`);
    same(block.number, receipt.blockNumber, "the block's number");
    same(block.hash, receipt.blockHash, "the block's hash against the receipt's blockHash");
    check(block.transactions.includes(receipt.hash), `block ${block.number} does not list ${receipt.hash}`);
    const prefetched = block.prefetchedTransactions.find((t) => t.hash === receipt.hash);
    check(prefetched !== undefined, `block ${block.number} has no prefetched transaction ${receipt.hash}`);
    same(prefetched.from, from, "the prefetched transaction's from");
    same(prefetched.to, to, "the prefetched transaction's to");
    same(prefetched.value, options.value, "the prefetched transaction's value");
    same(prefetched.nonce, first.record.nonce, "the prefetched transaction's nonce");
    same(prefetched.blockNumber, block.number, "the prefetched transaction's blockNumber");
    const byHash = await provider.getBlock(receipt.blockHash);
    check(byHash !== null, `getBlock(${receipt.blockHash}) gave null`);
    same(byHash.number, block.number, "the block by hash: number");
    same(byHash.transactions.join(), block.transactions.join(), "the block by hash: transactions");
    const parent = await provider.getBlock(block.number - 1);
    check(parent !== null, `getBlock(${block.number - 1}) gave null`);
    same(block.parentHash, parent.hash, "the block's parentHash against its parent's hash");
    check(block.timestamp >= parent.timestamp, `block ${block.number}'s timestamp is before its parent's`);
    same(await provider.getBlock(latest.number + 1000), null, "getBlock of a block not made yet");

    // Unknown hashes.
    const unknown = hexlify(randomBytes(32));
    same(await provider.getTransactionReceipt(unknown), null, `getTransactionReceipt(${unknown}) of an unknown hash`);
    same(await provider.getTransaction(unknown), null, `getTransaction(${unknown}) of an unknown hash`);

    // A transfer the sender cannot pay: refused whether ethers estimates the gas (the node's
    // eth_estimateGas may refuse) or is given it (then the node's eth_sendRawTransaction must).
    const unaffordable = second.after.from + 1n;
    const refusals = {
      estimated: await expectRefusal("estimated", wallet, to, rpcErrors, () => wallet.sendTransaction({ to, value: unaffordable })),
      sent: await expectRefusal("sent with gasLimit", wallet, to, rpcErrors, () =>
        wallet.sendTransaction({ to, value: unaffordable, gasLimit: TRANSFER_GAS }),
      ),
    };

    const end = await balancesAndNonce(provider, from, to);
    const fees = BigInt(first.record.fee) + BigInt(second.record.fee);
    const sent = options.value + options.value + 1n;
    same(end.from, start.from - sent - fees, "the sender's balance at the end");
    same(end.to, start.to + sent, "the recipient's balance at the end");
    same(end.nonce, start.nonce + 2, "the sender's nonce at the end");

    const summary = {
      ok: true,
      chainId: chainId.toString(),
      from,
      to,
      transfers: [first.record, second.record],
      sent: sent.toString(),
      fees: fees.toString(),
      senderBefore: start.from.toString(),
      senderAfter: end.from.toString(),
      recipientBefore: start.to.toString(),
      recipientAfter: end.to.toString(),
      nonceBefore: start.nonce,
      nonceAfter: end.nonce,
      latestBlock: latest.number,
      refusals,
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    provider.destroy();
  }
}

main().catch((error) => fail(describe(error)));

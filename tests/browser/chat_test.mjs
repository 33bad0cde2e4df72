// The chat demo in a real browser: headless Chromium (Debian's, driven by playwright-core)
// opens two pages, one on SSE + POST and one on WebSocket, and each sees the other's
// messages and join. With "tls", lithe-chat serves HTTPS with scripts/dev-cert's certificate,
// so SSE and WSS both run through the TLS layer.
// usage: node chat_test.mjs path/to/lithe-chat artifacts-dir [backend] [tls]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [binary, artifacts = '.', backend = 'epoll', mode = 'plain'] = process.argv.slice(2);
const tls = mode === 'tls';
const deadline = setTimeout(() => { console.error('FAIL: the test took over 60 s'); cleanup(1); }, 60000);
let server, browser;

let certs;

async function cleanup(code) {
  clearTimeout(deadline);
  if (browser) await browser.close().catch(() => {});
  if (server && server.exitCode === null) server.kill('SIGTERM');
  if (certs) rmSync(certs, { recursive: true, force: true });
  process.exit(code);
}

// The flags for HTTPS: a fresh dev certificate in a temporary directory.
function tlsFlags() {
  if (!tls) return [];
  certs = mkdtempSync(join(tmpdir(), 'lithe-chat-certs-'));
  const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'dev-cert');
  const made = spawnSync('bash', [script, certs], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (made.status !== 0) throw new Error('scripts/dev-cert failed');
  return ['--tls-cert', join(certs, 'cert.pem'), '--tls-key', join(certs, 'key.pem')];
}

function start() {
  return new Promise((resolve, reject) => {
    server = spawn(binary, ['--port', '0', '--backend', backend, ...tlsFlags()],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    server.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (https?:\/\/[^ ]+)/);
      if (m) resolve(m[1]);
    });
    server.on('exit', (c) => reject(new Error(`lithe-chat exited with ${c}`)));
  });
}

try {
  const base = await start();
  if (tls !== base.startsWith('https://')) throw new Error(`lithe-chat listens on ${base}`);
  // The dev CA is not in Chromium's trust store: for this test the browser skips verifying
  // the certificate (the TLS itself, handshake and records, is real).
  const args = ['--no-sandbox', ...(tls ? ['--ignore-certificate-errors'] : [])];
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args });
  const sse = await browser.newPage();
  const ws = await browser.newPage();
  await sse.goto(`${base}/?name=alice`);
  await sse.waitForSelector('body[data-ready=yes]', { timeout: 10000 });
  await ws.goto(`${base}/?transport=ws&name=bob`);
  await ws.waitForSelector('body[data-ready=yes]', { timeout: 10000 });

  const says = async (page, who, text) => {
    await page.fill('#text', text);
    await page.click('button');
  };
  const sees = (page, line) =>
    page.waitForFunction((l) => [...document.querySelectorAll('#log li')].some((li) => li.textContent === l),
      line, { timeout: 10000 });

  await sees(sse, '* bob joined');
  await says(sse, 'alice', 'hello from SSE');
  await sees(ws, 'alice: hello from SSE');
  await sees(sse, 'alice: hello from SSE');
  await says(ws, 'bob', 'hello from WebSocket, ünïcödé');
  await sees(sse, 'bob: hello from WebSocket, ünïcödé');
  await sees(ws, 'bob: hello from WebSocket, ünïcödé');
  mkdirSync(artifacts, { recursive: true });
  // An artifact, not an assertion (api_test.mjs): a slow paint on a loaded machine is no failure.
  const shot = await sse.screenshot({ path: `${artifacts}/chat.png`, timeout: 10000 })
    .then(() => `screenshot in ${artifacts}/chat.png`, (e) => `no screenshot (${e.message.split('\n')[0]})`);
  await ws.close();
  await sees(sse, '* bob left');
  console.log(`ok: SSE and WebSocket users chatted (${backend}${tls ? ', HTTPS' : ''}); ${shot}`);
  await cleanup(0);
} catch (e) {
  console.error('FAIL:', e.message);
  await cleanup(1);
}

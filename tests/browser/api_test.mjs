// lithe-api in a real browser: headless Chromium (Debian's, driven by playwright-core) logs in
// through the form, adds a todo and ticks it through the JSON API (session cookie + CSRF
// header), uploads an avatar as multipart, and then two pages on other origins call the API
// with the session: the one lithe-api was started with (--origin) reads the todos, the other
// is refused by the browser's CORS check.
// usage: node api_test.mjs path/to/lithe-api artifacts-dir [backend]
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

const [binary, artifacts = '.', backend = 'epoll'] = process.argv.slice(2);
const deadline = setTimeout(() => { console.error('FAIL: the test took over 60 s'); cleanup(1); }, 60000);
let server, browser;
const origins = [];

async function cleanup(code) {
  clearTimeout(deadline);
  if (browser) await browser.close().catch(() => {});
  if (server && server.exitCode === null) server.kill('SIGTERM');
  for (const o of origins) o.close();
  process.exit(code);
}

// A page on another origin whose script calls the API (its address known once lithe-api runs)
// with the session cookie and shows what came back, or "refused" when the browser did not let
// it read the answer.
let apiBase = '';
function otherOrigin() {
  return new Promise((resolve) => {
    const s = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(`<!doctype html><meta charset="utf-8"><pre id="out">waiting</pre><script>
fetch(${JSON.stringify(apiBase + '/todos')}, { credentials: 'include' })
  .then((r) => r.json())
  .then((todos) => { out.textContent = 'read: ' + todos.map((t) => t.title).join(','); })
  .catch(() => { out.textContent = 'refused'; });
</script>`);
    });
    origins.push(s);
    s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${s.address().port}`));
  });
}

function start(origin) {
  return new Promise((resolve, reject) => {
    server = spawn(binary, ['--port', '0', '--backend', backend, '--origin', origin],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    server.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[^ ]+)/);
      if (m) resolve(m[1]);
    });
    server.on('exit', (c) => reject(new Error(`lithe-api exited with ${c}`)));
  });
}

// A 1x1 PNG, so the browser can show the uploaded avatar.
const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==', 'base64');

try {
  // Both other pages are on 127.0.0.1, the API's own host: the same site, so the browser sends
  // the SameSite=Lax session cookie along, and only CORS decides who may read the answer.
  const allowed = await otherOrigin();
  const refused = await otherOrigin();
  apiBase = await start(allowed);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${apiBase}/`);
  await page.fill('input[name=user]', 'demo');
  await page.fill('input[name=password]', 'demo');
  await Promise.all([page.waitForNavigation(), page.click('#login button')]);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
  if ((await page.textContent('#user')) !== 'demo') throw new Error('not logged in as demo');

  // A todo through the JSON API, ticked, and still there after a reload (kept by the server).
  await page.fill('#title', 'buy milk');
  await page.click('#add button');
  await page.waitForSelector('#list li span:text("buy milk")', { timeout: 10000 });
  await page.check('#list li input[type=checkbox]');
  await page.waitForSelector('#list li.done', { timeout: 10000 });
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
  await page.waitForSelector('#list li.done span:text("buy milk")', { timeout: 10000 });

  // The avatar: a multipart upload from the page's FormData, then shown by the page.
  await page.setInputFiles('#file', { name: 'me.png', mimeType: 'image/png', buffer: png });
  await page.click('#upload button');
  await page.waitForSelector('#uploaded:text("uploaded")', { timeout: 10000 });
  await page.waitForFunction(() => {
    const img = document.getElementById('avatar');
    return img.complete && img.naturalWidth === 1;
  }, null, { timeout: 10000 });

  // Cross-origin: the allowed origin reads the todos with the session; the other cannot.
  const reader = await context.newPage();
  await reader.goto(`${allowed}/`);
  await reader.waitForSelector('#out:not(:text("waiting"))', { timeout: 10000 });
  const read = await reader.textContent('#out');
  if (read !== 'read: buy milk') throw new Error(`the allowed origin got "${read}"`);
  const stranger = await context.newPage();
  await stranger.goto(`${refused}/`);
  await stranger.waitForSelector('#out:not(:text("waiting"))', { timeout: 10000 });
  const got = await stranger.textContent('#out');
  if (got !== 'refused') throw new Error(`another origin got "${got}"`);

  mkdirSync(artifacts, { recursive: true });
  // The screenshot is an artifact, not an assertion: on a loaded machine Chromium may take
  // longer to paint than the test waits, and that is no failure of lithe's.
  const shot = await page.screenshot({ path: `${artifacts}/api.png`, timeout: 10000 })
    .then(() => `screenshot in ${artifacts}/api.png`, (e) => `no screenshot (${e.message.split('\n')[0]})`);
  console.log(`ok: logged in, added and ticked a todo, uploaded an avatar, CORS allowed ${allowed} and refused ${refused} (${backend}); ${shot}`);
  await cleanup(0);
} catch (e) {
  console.error('FAIL:', e.message);
  await cleanup(1);
}

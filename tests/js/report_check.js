// Opens a run report in headless chromium (npm puppeteer-core, Debian chromium)
// and checks it: no console errors, no page errors, no network request other
// than data: URIs, every <img> decoded, and every section id given present.
//   node report_check.js REPORT.html [SECTION_ID...]
// exit 0 ok, 1 failed, 77 when puppeteer-core or chromium is missing (skip).
'use strict';
const fs = require('fs');
const path = require('path');
let puppeteer;
try {
  puppeteer = require('puppeteer-core');
} catch (e) {
  console.log('skip - puppeteer-core is not installed (ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --prefix tests/js)');
  process.exit(77);
}
const chrome = process.env.CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(chrome)) {
  console.log(`skip - ${chrome} not found (Debian: chromium)`);
  process.exit(77);
}
const [file, ...sections] = process.argv.slice(2);
(async () => {
  const browser = await puppeteer.launch({
    executablePath: chrome,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const problems = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url().slice(0, 80)}`));
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith('data:') && !u.startsWith('file:')) problems.push(`network request: ${u.slice(0, 80)}`);
    });
    await page.goto('file://' + path.resolve(file), { waitUntil: 'load' });
    const imgs = await page.$$eval('img', (els) => Promise.all(els.map(async (im) => {
      try { await im.decode(); } catch (e) { /* reported below */ }
      return { alt: im.alt, ok: im.complete && im.naturalWidth > 0, w: im.naturalWidth, h: im.naturalHeight, src: im.src.slice(0, 22) };
    })));
    for (const im of imgs) {
      if (!im.ok) problems.push(`image "${im.alt}" did not decode`);
      if (!im.src.startsWith('data:image/png;base64')) problems.push(`image "${im.alt}" is not embedded`);
    }
    for (const id of sections) {
      if (!(await page.$('#' + id))) problems.push(`section #${id} missing`);
    }
    const title = await page.title();
    console.log(`chromium: "${title}", ${imgs.length} images decoded (${imgs.map((i) => `${i.w}x${i.h}`).join(', ')}), ${sections.length} sections checked`);
  } finally {
    await browser.close();
  }
  for (const p of problems) console.log(p);
  process.exit(problems.length ? 1 : 0);
})().catch((e) => {
  console.log(`chromium failed: ${e.message}`);
  process.exit(1);
});

// Production build of every extension bundle with esbuild. The Shopify CLI
// bundles the UI and pixel extensions itself on deploy; this build proves
// they bundle (and shows their size). The theme extension's script is
// written into its assets/, where the CLI uploads it as it is; `--check`
// fails when the committed asset differs from a fresh build.
import { build } from 'esbuild';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const appURL = process.env.TSUNAGU_BASE_URL || 'https://tsunagu.example.com';
const out = join(root, 'extensions', 'dist');
mkdirSync(out, { recursive: true });

const common = { bundle: true, minify: true, target: 'es2020', legalComments: 'none', logLevel: 'warning', metafile: true };
const bundles = [
  { entryPoints: [join(root, 'extensions/line-link-block/src/ThankYou.tsx')], outfile: join(out, 'line-link-block-thank-you.js'), format: 'esm', jsx: 'automatic', jsxImportSource: 'preact', define: { TSUNAGU_APP_URL: JSON.stringify(appURL) } },
  { entryPoints: [join(root, 'extensions/line-link-block/src/OrderStatus.tsx')], outfile: join(out, 'line-link-block-order-status.js'), format: 'esm', jsx: 'automatic', jsxImportSource: 'preact', define: { TSUNAGU_APP_URL: JSON.stringify(appURL) } },
  { entryPoints: [join(root, 'extensions/web-pixel/src/index.ts')], outfile: join(out, 'web-pixel.js'), format: 'esm' },
];
for (const b of bundles) {
  const r = await build({ ...common, ...b });
  const bytes = Object.values(r.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  console.log(`${b.outfile.slice(root.length + 1)} ${bytes} bytes`);
  // Shopify refuses UI extension bundles over 64 KB.
  if (bytes > 64 * 1024) {
    console.error(`${b.outfile} is over Shopify's 64 KB limit`);
    process.exit(1);
  }
}

const themeAsset = join(root, 'extensions/line-link-theme/assets/line-link.js');
const theme = await build({ ...common, entryPoints: [join(root, 'extensions/line-link-theme/src/line-link.ts')], format: 'iife', write: false, outfile: themeAsset });
const js = theme.outputFiles[0].text;
if (check) {
  let committed = '';
  try {
    committed = readFileSync(themeAsset, 'utf8');
  } catch {}
  if (committed !== js) {
    console.error('extensions/line-link-theme/assets/line-link.js is stale: run `npm run build` and commit it');
    process.exit(1);
  }
} else {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(themeAsset, js);
}
console.log(`extensions/line-link-theme/assets/line-link.js ${js.length} bytes`);
